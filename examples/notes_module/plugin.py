"""The notes module's plugin: one ``InitPlugin`` that adds its routes, nothing else."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin

from examples.notes_module.controllers import NotesController

__all__ = ["NotesPlugin"]


class NotesPlugin(InitPlugin):
    """Adds ``GET``/``POST /api/v1/notes``; the tenancy plugin provides their dependencies."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(NotesController)
        return app_config
