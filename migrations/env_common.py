"""What both streams' ``env.py`` share: run under the ``alembic`` command for authoring revisions.

Day-to-day upgrades go through :mod:`migrations.runner` (``whitelabel db upgrade``), which does not
read ``env.py``. ``alembic -n platform|tenant revision --autogenerate -m "..."`` uses these: the
tenant stream compares the models against the template schema ``tenant_template``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from migrations.runner import Stream, set_local_search_path
from whitelabel.db.base import PLATFORM_SCHEMA
from whitelabel.db.metadata import platform_metadata, tenant_metadata_unqualified
from whitelabel.settings import Settings

TEMPLATE_SCHEMA = "tenant_template"


def run(stream: Stream) -> None:
    """Run the current Alembic command for ``stream`` against ``DATABASE_URL``."""
    settings = Settings.from_env(allow_insecure_secret=True)
    schema = PLATFORM_SCHEMA if stream == "platform" else TEMPLATE_SCHEMA
    metadata = platform_metadata() if stream == "platform" else tenant_metadata_unqualified()
    engine = create_engine(settings.sqlalchemy_url)
    with engine.begin() as conn:
        set_local_search_path(conn, schema)
        context.configure(
            connection=conn,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=stream == "platform",
        )
        context.run_migrations()
