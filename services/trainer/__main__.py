"""Entry point: ``python -m services.trainer`` or ``tuneline trainer run``."""

from __future__ import annotations

import logging
import sys

from libs.common.logging import configure_logging
from services.trainer.settings import get_settings

log = logging.getLogger("services.trainer")


def main() -> int:
    settings = get_settings()
    configure_logging(settings.shared.log_level, settings.shared.log_format)
    # The service itself lands with issue #6; until then say so instead of pretending to run.
    log.error("the trainer is not implemented yet (issue #6)", extra={"http_port": settings.http_port})
    return 2


if __name__ == "__main__":
    sys.exit(main())
