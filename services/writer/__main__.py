"""Entry point: ``python -m services.writer`` or ``tuneline writer run``."""

from __future__ import annotations

import logging
import sys

from libs.common.logging import configure_logging
from services.writer.settings import get_settings

log = logging.getLogger("services.writer")


def main() -> int:
    settings = get_settings()
    configure_logging(settings.shared.log_level, settings.shared.log_format)
    # The service itself lands with issue #5; until then say so instead of pretending to run.
    log.error("the writer is not implemented yet (issue #5)", extra={"http_port": settings.http_port})
    return 2


if __name__ == "__main__":
    sys.exit(main())
