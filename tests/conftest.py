"""Suite-wide test helpers. The whitelabel test kit's fixtures come from its pytest plugin."""

from __future__ import annotations

import os
import shutil

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

# Tests count schemas: no background pool refills unless a test asks for them. Set here, at
# import, so subprocesses (the CLI, servers) inherit it too.
os.environ.setdefault("WHITELABEL_SCHEMA_POOL", "0")
# Likewise no background mail dispatcher (servers started by tests would drain the outbox that
# other tests read or drain themselves; tests/integration/test_mail.py turns it on where needed).
os.environ.setdefault("WHITELABEL_MAIL_DISPATCH", "off")
# Passwords: argon2id with test-only parameters (whitelabel/accounts/passwords.py); the real
# profile costs about 0.3 s per hash on a CI machine, and the suite signs hundreds of users in.
os.environ.setdefault("WHITELABEL_PASSWORD_HASHING", "test-only-cheap")
# SSO connections in tests name identity providers on 127.0.0.1 over plain http (real peers).
os.environ.setdefault("WHITELABEL_SSO_ALLOW_LOOPBACK", "on")
# Every page, error page and email a test renders is rendered linked and through Jinja's own
# inheritance as well, and must come out the same (themes.linker; servers inherit it too).
os.environ.setdefault("WHITELABEL_CHECK_LINKED_TEMPLATES", "1")


def _worker_database(url: str, worker: str) -> str:
    """``url`` with its database renamed for one parallel worker (``test`` -> ``test_gw0``),
    created on the server when it does not exist yet."""
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return parsed.set(database=name).render_as_string(hide_password=False)


# Parallel runs (``pytest -n N``, as ``dev.py test`` does against a server): each worker has a
# database of its own, so one worker's tenants, schema counts and migrations never meet
# another's. Set at import, so subprocesses (the CLI, servers) inherit it too.
if (_worker := os.environ.get("PYTEST_XDIST_WORKER")) and os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = _worker_database(os.environ["DATABASE_URL"], _worker)

#: Set by CI: a test that needs an outside program fails instead of skipping when it is missing.
REQUIRE_PEERS = os.environ.get("WHITELABEL_REQUIRE_PEERS") == "1"


def require_program(name: str, why: str) -> str:
    """The path of program ``name``; skips the test when missing (fails in CI)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({why}); CI installs it"
        if REQUIRE_PEERS:
            pytest.fail(message)
        pytest.skip(message)
    return path
