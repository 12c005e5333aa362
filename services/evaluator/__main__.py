"""Entry point: ``python -m services.evaluator`` or ``tuneline evaluator run``."""

from __future__ import annotations

import logging
import sys

from libs.common.logging import configure_logging
from services.evaluator.settings import get_settings

log = logging.getLogger("services.evaluator")


def main() -> int:
    settings = get_settings()
    configure_logging(settings.shared.log_level, settings.shared.log_format)
    # The service itself lands with issue #7; until then say so instead of pretending to run.
    log.error("the evaluator is not implemented yet (issue #7)", extra={"http_port": settings.http_port})
    return 2


if __name__ == "__main__":
    sys.exit(main())
