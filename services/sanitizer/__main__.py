"""Entry point: ``python -m services.sanitizer`` or ``tuneline sanitizer run``."""

from __future__ import annotations

import logging
import sys

from libs.common.logging import configure_logging
from services.sanitizer.settings import get_settings

log = logging.getLogger("services.sanitizer")


def main() -> int:
    settings = get_settings()
    configure_logging(settings.shared.log_level, settings.shared.log_format)
    # The service itself lands with issue #4; until then say so instead of pretending to run.
    log.error("the sanitizer is not implemented yet (issue #4)", extra={"http_port": settings.http_port})
    return 2


if __name__ == "__main__":
    sys.exit(main())
