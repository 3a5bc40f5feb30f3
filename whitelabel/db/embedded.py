"""The embedded PostgreSQL (pgserver) used when ``DATABASE_URL`` is unset.

It lives in ``<data dir>/pgdata`` and keeps running between runs, so the second start takes a
fraction of a second. pgserver loosens permissions on the parent folders of its data dir when run
as root, which is why the data dir is always a folder of its own inside the project's data folder.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from urllib.parse import quote

__all__ = ["embedded_url", "stop_embedded"]

# pgserver logs its own bookkeeping at INFO, some of it from atexit after streams are closed.
logging.getLogger("pgserver").setLevel(logging.WARNING)


def _pgdata(data_dir: Path) -> Path:
    return (data_dir / "pgdata").resolve()


def embedded_url(data_dir: Path, database: str = "postgres") -> str:
    """Start (or reuse) the embedded server and return a SQLAlchemy URL for ``database``."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
        raise ValueError(f"not a plain database name: {database!r}")

    pgdata = _pgdata(data_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pgserver  # imported lazily: only the embedded path needs it

        server = pgserver.get_server(pgdata, cleanup_mode=None)
    socket_dir = quote(str(pgdata), safe="")
    if database != "postgres":
        # database is checked against a plain-identifier pattern above
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'")  # noqa: S608
        if "1 row" not in exists:
            server.psql(f'CREATE DATABASE "{database}"')
    return f"postgresql+psycopg://postgres@/{database}?host={socket_dir}"


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded server if it runs."""
    pgdata = _pgdata(data_dir)
    if (pgdata / "postmaster.pid").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            pgserver.get_server(pgdata, cleanup_mode="stop").cleanup()
