"""Entry point: ``python -m services.collector`` or ``tuneline collector run``."""

from __future__ import annotations

import logging
import sys

from libs.common.logging import configure_logging
from services.collector.settings import get_settings

log = logging.getLogger("services.collector")


def main() -> int:
    settings = get_settings()
    configure_logging(settings.shared.log_level, settings.shared.log_format)
    # The service itself lands with issue #3; until then say so instead of pretending to run.
    log.error("the collector is not implemented yet (issue #3)", extra={"http_port": settings.http_port})
    return 2


if __name__ == "__main__":
    sys.exit(main())
