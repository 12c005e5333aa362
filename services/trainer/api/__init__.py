"""The trainer's admin API (FastAPI): ``create_app(service, admin_token)``."""

from services.trainer.api.app import create_app

__all__ = ["create_app"]
