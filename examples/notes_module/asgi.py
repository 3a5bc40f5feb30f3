"""Serve whitelabel with the notes module.

``uvicorn --factory examples.notes_module.asgi:create_notes_app`` builds the app from the
environment (``DATABASE_URL``, ``WHITELABEL_SECRET_KEY``, ...), exactly as ``whitelabel serve``
does for the plain application, plus :class:`NotesPlugin`.
"""

from __future__ import annotations

from litestar import Litestar

from examples.notes_module.plugin import NotesPlugin
from whitelabel.app import create_app
from whitelabel.settings import Settings

__all__ = ["create_notes_app"]


def create_notes_app(settings: Settings | None = None) -> Litestar:
    """The whitelabel application plus the notes module.

    Raises:
        SettingsError: ``settings`` is not given and the environment is incomplete.
    """
    return create_app(settings or Settings.from_env(), plugins=[NotesPlugin()])
