"""Build the test images locally, with no registry: a Debian rootfs made by debootstrap from the
mirror apt already uses, imported into Docker, then Kafka and dynalite images on top of it."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from libs.devstack.dynalite import install_dynalite
from libs.devstack.errors import InstallError
from libs.devstack.kafka import LOG4J2_PROPERTIES, KafkaConfig, resolve_kafka_jars
from libs.devstack.settings import DYNALITE_VERSION, KAFKA_VERSION

log = logging.getLogger(__name__)

IMAGES_DIR = Path(__file__).parent / "images"
INPUTS_LABEL = "dev.tuneline.inputs"
KAFKA_IMAGE = f"tuneline/kafka:{KAFKA_VERSION}"
DYNALITE_IMAGE = f"tuneline/dynalite:{DYNALITE_VERSION}"


# ---------------------------------------------------------------- apt sources (pure, unit-tested)


def parse_apt_sources(text: str, deb822: bool) -> list[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of every ``deb`` entry in a sources file, in order."""
    entries: list[tuple[str, list[str], list[str]]] = []
    if deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
                for uri in fields.get("uris", "").split():
                    entries.append(
                        (uri, fields.get("suites", "").split(), fields.get("components", "").split())
                    )
        return entries
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        parts = re.sub(r"\[[^\]]*\]", "", line).split()  # drop "[arch=amd64 signed-by=...]"
        if len(parts) >= 3:
            entries.append((parts[1], [parts[2]], parts[3:]))
    return entries


def find_debian_mirror(suite: str, apt_dir: Path = Path("/etc/apt")) -> str:
    """The mirror apt is configured with for ``suite`` (main component), never a hard-coded host."""
    files = [(apt_dir / "sources.list", False)]
    files += [(p, False) for p in sorted((apt_dir / "sources.list.d").glob("*.list"))]
    files += [(p, True) for p in sorted((apt_dir / "sources.list.d").glob("*.sources"))]
    for path, deb822 in files:
        if not path.is_file():
            continue
        for uri, suites, components in parse_apt_sources(path.read_text(errors="replace"), deb822):
            if suite in suites and "main" in components:
                resolved = _resolve_mirror_uri(uri)
                if resolved:
                    return resolved
    raise InstallError(f"no apt source for Debian '{suite}' (main) under {apt_dir}; cannot debootstrap")


def _resolve_mirror_uri(uri: str) -> str | None:
    """An http(s) mirror debootstrap can use: plain URIs as they are, ``mirror+file:`` lists (cloud
    images) by their first http(s) entry; other schemes (cdrom, file) are skipped."""
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    if uri.startswith("mirror+file:"):
        try:
            lines = Path(uri.removeprefix("mirror+file:").removeprefix("//")).read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            candidate = line.split()[0] if line.strip() and not line.startswith("#") else ""
            if candidate.startswith(("http://", "https://")):
                return candidate.rstrip("/")
    return None


def host_codename(os_release: Path = Path("/etc/os-release")) -> str:
    for line in os_release.read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    raise InstallError(f"{os_release} names no VERSION_CODENAME")


# ---------------------------------------------------------------- docker


def docker_usable() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return (
            subprocess.run(["docker", "info"], capture_output=True, timeout=15, check=False).returncode == 0
        )
    except subprocess.TimeoutExpired:
        return False


def image_exists(tag: str) -> bool:
    return (
        subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False).returncode == 0
    )


def image_label(tag: str, label: str) -> str | None:
    """The value of ``label`` on a local image, or None when the image is absent."""
    fmt = '{{ index .Config.Labels "' + label + '" }}'
    result = subprocess.run(
        ["docker", "image", "inspect", "-f", fmt, tag], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def _run(argv: list[str], what: str, **kwargs: object) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise InstallError(
            f"{what} failed ({' '.join(argv[:3])} ...):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )


def _digest(*parts: str | Path) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.read_bytes() if isinstance(part, Path) else part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class ImageBuilder:
    cache_dir: Path
    suite: str = ""
    on_step: Callable[[str], None] = lambda message: None

    @property
    def base_image(self) -> str:
        return f"tuneline/debian-base:{self.suite or host_codename()}"

    def build_all(self, force: bool = False) -> dict[str, float]:
        """Build every image that is missing or out of date; returns seconds spent per image."""
        import time

        timings: dict[str, float] = {}
        for name, build in (
            ("base", self.build_base),
            ("kafka", self.build_kafka),
            ("dynalite", self.build_dynalite),
        ):
            start = time.monotonic()
            build(force)
            timings[name] = round(time.monotonic() - start, 1)
        return timings

    def build_base(self, force: bool = False) -> str:
        suite = self.suite or host_codename()
        inputs = _digest("debootstrap-minbase", suite)
        if not force and image_label(self.base_image, INPUTS_LABEL) == inputs:
            self.on_step(f"{self.base_image} is up to date")
            return self.base_image
        if shutil.which("debootstrap") is None:
            raise InstallError("debootstrap is needed to build the base image: apt-get install debootstrap")
        mirror = find_debian_mirror(suite)
        self.on_step(f"debootstrap --variant=minbase {suite} from {mirror}")
        work = self.cache_dir / "images"
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work, prefix="rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            _run(["debootstrap", "--variant=minbase", suite, str(rootfs), mirror], "debootstrap")
            self.on_step(f"docker import -> {self.base_image}")
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            import_argv = [
                "docker",
                "import",
                "--change",
                f"LABEL {INPUTS_LABEL}={inputs}",
                "--change",
                'CMD ["/bin/bash"]',
                "-",
                self.base_image,
            ]
            try:
                _run(import_argv, "docker import", stdin=tar.stdout)
            except BaseException:
                tar.kill()
                raise
            finally:
                if tar.stdout is not None:
                    tar.stdout.close()
            if tar.wait(timeout=60) != 0:  # a truncated rootfs must not pass for an up-to-date image
                subprocess.run(["docker", "rmi", "-f", self.base_image], capture_output=True, check=False)
                raise InstallError(f"tar of the debootstrap rootfs failed (exit {tar.returncode})")
        return self.base_image

    def _build(self, tag: str, recipe: str, extra: dict[str, Path | str], force: bool) -> str:
        recipe_dir = IMAGES_DIR / recipe
        inputs = _digest(
            *(sorted(recipe_dir.iterdir())),
            self.base_image,
            *(str(v) for v in extra.values()),  # a folder by its path (versioned), a file by its text
        )
        if not force and image_label(tag, INPUTS_LABEL) == inputs:
            self.on_step(f"{tag} is up to date")
            return tag
        context = self.cache_dir / "images" / recipe
        shutil.rmtree(context, ignore_errors=True)
        shutil.copytree(recipe_dir, context)
        for name, source in extra.items():
            if isinstance(source, Path):
                shutil.copytree(source, context / name, symlinks=True)
            else:
                (context / name).write_text(source)
        self.on_step(f"docker build {tag}")
        _run(
            [
                "docker",
                "build",
                "--network",
                "host",
                "--build-arg",
                f"BASE={self.base_image}",
                "--label",
                f"{INPUTS_LABEL}={inputs}",
                "-t",
                tag,
                str(context),
            ],
            f"docker build {tag}",
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
        shutil.rmtree(context, ignore_errors=True)
        return tag

    def build_kafka(self, force: bool = False) -> str:
        libs = resolve_kafka_jars(self.cache_dir)
        return self._build(
            KAFKA_IMAGE,
            "kafka",
            {
                "libs": libs,
                "log4j2.properties": LOG4J2_PROPERTIES,
                "server.properties": KafkaConfig().server_properties(),
            },
            force,
        )

    def build_dynalite(self, force: bool = False) -> str:
        modules = install_dynalite(self.cache_dir)
        return self._build(DYNALITE_IMAGE, "dynalite", {"node_modules": modules}, force)
