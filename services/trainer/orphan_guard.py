"""A training job stops when the trainer that supervises it dies.

The executor starts each job in a process group of its own, so that a cancel can kill the job with its
Ray workers. The other side of that: when the trainer itself is killed (kill -9, the OOM killer), nothing
kills the group, and the orphaned job would go on holding the GPUs and write a model for a run that the
surviving replicas have already failed (its lease expired). So the job watches its parent and, once
re-parented, stops its whole group: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger(__name__)


def stop_when_orphaned(poll_s: float = 1.0, grace_s: float = 10.0) -> threading.Thread:
    """Start a daemon thread that ends this process (and its group, when it leads one) as soon as its
    parent process is gone. Returns the thread."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        log.error("the supervising trainer is gone; stopping the job", extra={"parent_pid": parent})
        # Only a group leader may signal its group: a job started by hand in a shell's group must not
        # take the shell down with it.
        leads_group = os.getpgrp() == os.getpid()
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
            if leads_group:
                os.killpg(os.getpgrp(), sig)
            else:
                os.kill(os.getpid(), sig)
            time.sleep(wait)

    thread = threading.Thread(target=watch, name="orphan-guard", daemon=True)
    thread.start()
    return thread
