"""What both streams' ``env.py`` share: run under the ``alembic`` command for authoring revisions.

Day-to-day upgrades go through :mod:`migrations.runner` (``whitelabel db upgrade``), which does not
read ``env.py``. ``alembic -n platform|tenant revision --autogenerate -m "..."`` uses these: the
tenant stream compares the models against the template schema ``tenant_template``.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from migrations.runner import Stream, set_local_search_path
from whitelabel.db.base import PLATFORM_SCHEMA
from whitelabel.db.metadata import platform_metadata, tenant_metadata_unqualified
from whitelabel.settings import Settings

TEMPLATE_SCHEMA = "tenant_template"


def _only(stream: Stream, schema: str) -> Any:
    """Autogenerate compares this stream's own schema, and never its version table."""

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ == "schema":  # platform: only ``platform``; tenant: the search path (template)
            return name == schema if stream == "platform" else name is None
        return not (type_ == "table" and name == "alembic_version")

    return include_name


def run(stream: Stream) -> None:
    """Run the current Alembic command for ``stream`` against ``DATABASE_URL``."""
    settings = Settings.from_env(allow_insecure_secret=True)
    schema = PLATFORM_SCHEMA if stream == "platform" else TEMPLATE_SCHEMA
    metadata = platform_metadata() if stream == "platform" else tenant_metadata_unqualified()
    engine = create_engine(settings.sqlalchemy_url)
    with engine.begin() as conn:
        if stream == "tenant":  # tenant migrations are unqualified: point them at the template
            set_local_search_path(conn, schema)
        context.configure(
            connection=conn,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=stream == "platform",
            include_name=_only(stream, schema),
        )
        context.run_migrations()
