"""ASGI entry point for servers: ``uvicorn --factory whitelabel.asgi:app_from_env``."""

from __future__ import annotations

from litestar import Litestar

from whitelabel.app import create_app
from whitelabel.settings import Settings

__all__ = ["app_from_env"]


def app_from_env() -> Litestar:
    """Build the app from the process environment (used by ``whitelabel serve`` workers)."""
    return create_app(Settings.from_env())
