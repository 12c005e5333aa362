"""Failures of the local infrastructure, each with a message a person can act on."""


class DevStackError(Exception):
    """Root of the dev stack's errors."""


class InstallError(DevStackError):
    """A download or build step (Maven, npm, debootstrap, docker build) failed."""


class StartError(DevStackError):
    """A server did not start or did not answer in time."""
