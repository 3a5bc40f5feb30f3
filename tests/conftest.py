"""Suite-wide test helpers. The whitelabel test kit's fixtures come from its pytest plugin."""

from __future__ import annotations

import os
import shutil

import pytest

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
