"""The platform's bootstrap commands against real PostgreSQL and a real server:
``whitelabel users create`` (with a password from stdin, or as an invitation),
``whitelabel tenants create --admin-email``, and the demo's seed users.

Commands run through click's ``CliRunner`` with the environment set (each builds its own runtime),
one through a real subprocess with a pipe on stdin. They share the live server's secret key, so the
links they print work there. Every test checks the other tenant too.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import subprocess
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text

from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, ClientFor
from tests.integration.tenancy_support import audit_events, cli_command, cli_env
from whitelabel.accounts.models import AccountToken, User
from whitelabel.cli import cli
from whitelabel.demo import DEMO_PASSWORD, DEMO_USERS, demo_email, seed_users
from whitelabel.runtime import Runtime
from whitelabel.testing import TenantFactory

LINK = re.compile(r"(https?://[^/\s]+)/invite\?token=([A-Za-z0-9_.-]+)")


def _invoke(runtime: Runtime, *args: str, stdin: str | None = None, **env: str) -> Result:
    environment = cli_env(
        runtime.settings, WHITELABEL_SECRET_KEY=runtime.settings.secret_key or "", **env
    )
    return CliRunner(env=environment).invoke(cli, list(args), input=stdin, catch_exceptions=False)


def _users(runtime: Runtime, tenant: TenantView) -> list[tuple[str, str, str, bool]]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.execute(
            select(User.email, User.role, User.display_name, User.password_hash.is_not(None))
        )
        return sorted((r[0], r[1], r[2], r[3]) for r in rows)


def _state(runtime: Runtime, *tenants: TenantView) -> list[Any]:
    """Users, tokens, audit events and mail of the tenants: what a refused command must leave."""
    out: list[Any] = []
    for tenant in tenants:
        with runtime.db.tenant_sync_session(tenant.context()) as session:
            tokens = session.execute(select(AccountToken.email, AccountToken.purpose)).all()
        with runtime.db.sync_engine.connect() as conn:
            mail = conn.execute(
                text("SELECT count(*) FROM platform.mail_outbox WHERE tenant_id = :t"),
                {"t": tenant.id},
            ).scalar_one()
        out += [_users(runtime, tenant), sorted(tokens), audit_events(runtime.db, tenant), mail]
    return out


def _accept(client: Any, token: str, name: str = "Invited Person") -> Any:
    return client.post(
        "/api/v1/auth/invitations/accept",
        json={"token": token, "password": PASSWORD, "display_name": name},
    )


def test_create_with_a_password_from_stdin(
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
) -> None:
    first, second = tenant_pair
    runtime = whitelabel_runtime
    other = _state(runtime, second)
    result = _invoke(
        runtime, "users", "create", first.slug, " Root@Example.ORG ", "--role", "owner",
        "--display-name", "Break Glass", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"created root@example.org in {first.slug} as owner (id " in result.stdout
    assert f"sign in at https://{first.primary_host}/login" in result.stdout
    assert PASSWORD not in result.output
    assert _users(runtime, first) == [("root@example.org", "owner", "Break Glass", True)]
    (event,) = [e for e in audit_events(runtime.db, first) if e[0] == "user.created_by_platform"]
    assert event[1:] == ("platform-cli", "root@example.org")
    assert _state(runtime, second) == other
    # the password works on the tenant's host, and only there
    login = {"email": "root@example.org", "password": PASSWORD}
    signed_in = tenant_client(first).post("/api/v1/auth/login", json=login)
    assert signed_in.status_code == 200 and signed_in.json()["role"] == "owner"
    assert tenant_client(second).post("/api/v1/auth/login", json=login).status_code == 401

    # the display name defaults to the local part; the same address elsewhere is another user
    again = _invoke(
        runtime, "users", "create", second.slug, "root@example.org", "--password-stdin",
        stdin=PASSWORD,
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert _users(runtime, second) == [("root@example.org", "member", "root", True)]


def test_create_through_the_entry_point_with_a_pipe(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = make_tenant()
    env = cli_env(whitelabel_runtime.settings)
    done = subprocess.run(
        cli_command("users", "create", tenant.slug, "pipe@example.org", "--password-stdin"),
        input=PASSWORD + "\r\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _users(whitelabel_runtime, tenant) == [("pipe@example.org", "member", "pipe", True)]


def test_create_without_a_password_invites(
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
) -> None:
    first, second = tenant_pair
    runtime = whitelabel_runtime
    other = _state(runtime, second)
    result = _invoke(
        runtime, "users", "create", first.slug, "helper@example.org", "--role", "admin",
        WHITELABEL_PUBLIC_URL_SCHEME="http", WHITELABEL_PUBLIC_PORT="8123",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"invited helper@example.org to {first.slug} as admin" in result.stdout
    (found,) = LINK.findall(result.stdout)
    assert found[0] == f"http://{first.primary_host}:8123"
    assert _users(runtime, first) == []  # the account exists once the link is accepted
    with runtime.db.sync_engine.connect() as conn:
        mailed = conn.execute(
            text(
                "SELECT to_address, kind, text_body FROM platform.mail_outbox WHERE tenant_id = :t"
            ),
            {"t": first.id},
        ).one()
    assert mailed[:2] == ("helper@example.org", "invitation") and found[1] in mailed[2]
    accepted = _accept(tenant_client(first), found[1], "Helper")
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["role"] == "admin"
    assert _users(runtime, first) == [("helper@example.org", "admin", "Helper", True)]
    assert ("invitation.created", "platform", "helper@example.org") in audit_events(
        runtime.db, first
    )
    # the link is for that tenant only
    assert _accept(tenant_client(second), found[1]).json()["code"] == "invalid_token"
    assert _state(runtime, second) == other


@pytest.mark.parametrize(
    ("args", "stdin", "exit_code", "message"),
    [
        (["nosuchtenant", "a@example.org", "--password-stdin"], PASSWORD, 1, "[tenant_not_found]"),
        (["Bad Slug!", "a@example.org", "--password-stdin"], PASSWORD, 1, "[tenant_not_found]"),
        (["{slug}", "not-an-email", "--password-stdin"], PASSWORD, 1, "[invalid_email]"),
        (["{slug}", "\u0430da@example.org", "--password-stdin"], PASSWORD, 1, "[invalid_email]"),
        (["{slug}", ""], None, 1, "[invalid_email]"),
        (["{slug}", "a@example.org", "--role", "root"], None, 2, "Invalid value for '--role'"),
        (["{slug}", "a@example.org", "--role", "Owner"], None, 2, "Invalid value for '--role'"),
        (["{slug}", "a@example.org", "--password-stdin"], "short\n", 1, "[weak_password]"),
        (["{slug}", "a@example.org", "--password-stdin"], "a" * 20, 1, "[weak_password]"),
        (["{slug}", "a@example.org", "--password-stdin"], "", 1, "[weak_password]"),
        (["{slug}", "a@example.org", "--password-stdin"], "x" * 5000, 2, "too long"),
        (
            ["{slug}", "a@example.org", "--password-stdin"],
            "a@example.org\n",
            1,
            "[weak_password]",
        ),
        (
            ["{slug}", "a@example.org", "--password-stdin", "--display-name", "\x07bell"],
            PASSWORD,
            1,
            "[invalid_display_name]",
        ),
        (
            ["{slug}", "a@example.org", "--display-name", "Someone"],
            None,
            2,
            "--display-name needs --password-stdin",
        ),
        (["{slug}", "taken@example.org", "--password-stdin"], PASSWORD, 1, "[email_taken]"),
        (["{slug}", "taken@example.org"], None, 1, "[already_member]"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    args: list[str],
    stdin: str | None,
    exit_code: int,
    message: str,
) -> None:
    first, second = tenant_pair
    runtime = whitelabel_runtime
    taken = _invoke(
        runtime, "users", "create", first.slug, "taken@example.org", "--password-stdin",
        stdin=PASSWORD,
    )  # fmt: skip
    assert taken.exit_code == 0, taken.output
    before = _state(runtime, first, second)
    argv = [a.format(slug=first.slug) for a in args]
    result = _invoke(runtime, "users", "create", *argv, stdin=stdin)
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _state(runtime, first, second) == before


def test_tenants_create_invites_the_first_owner(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory, tenant_client: ClientFor
) -> None:
    runtime = whitelabel_runtime
    slug = f"boot{secrets.token_hex(5)}"
    make_tenant.created.append(slug)
    result = _invoke(
        runtime, "tenants", "create", slug, "--name", "Bootstrapped", "--admin-email",
        "Boss@Example.org",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    tenant = runtime.tenants.get(slug)
    assert f"{slug}  Bootstrapped  [active]" in result.stdout
    assert "owner    boss@example.org invited (mailed)" in result.stdout
    (found,) = LINK.findall(result.stdout)
    assert found[0] == f"https://{tenant.primary_host}"  # WHITELABEL_PUBLIC_URL_SCHEME default
    accepted = _accept(tenant_client(tenant), found[1], "The Boss")
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["role"] == "owner"
    # again: the tenant exists and the address is a user already; nothing new is sent
    before = _state(runtime, tenant)
    again = _invoke(
        runtime, "tenants", "create", slug, "--name", "Bootstrapped", "--admin-email",
        "boss@example.org", "--json",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    shown = json.loads(again.stdout)
    assert shown["slug"] == slug
    assert shown["admin_invitation"] == {"email": "boss@example.org", "link": None}
    assert _state(runtime, tenant) == before


def test_tenants_create_refuses_a_bad_admin_email_before_creating(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    runtime = whitelabel_runtime
    slug = f"boot{secrets.token_hex(5)}"
    make_tenant.created.append(slug)
    for bad in ("not an email", "boss@localhost", ""):
        result = _invoke(runtime, "tenants", "create", slug, "--name", "X", "--admin-email", bad)
        assert result.exit_code == 1, result.output
        assert "[invalid_email]" in result.stderr
    assert slug not in {t.slug for t in runtime.tenants.list(include_deleted=True)}


def test_demo_users_are_seeded_once_and_sign_in(
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
) -> None:
    first, second = tenant_pair
    # a runtime of its own: seeding disposes its async pool (the live server uses the shared one)
    runtime = Runtime.start(whitelabel_runtime.settings)
    try:
        assert asyncio.run(seed_users(runtime, (first.slug,))) == len(DEMO_USERS)
        assert asyncio.run(seed_users(runtime, (first.slug,))) == 0
    finally:
        runtime.db.sync_engine.dispose()
    expected = sorted(
        (demo_email(local, first.slug), role, name, True) for local, name, role in DEMO_USERS
    )
    assert _users(whitelabel_runtime, first) == expected
    assert _users(whitelabel_runtime, second) == []
    for local, _, role in DEMO_USERS:
        login = {"email": demo_email(local, first.slug), "password": DEMO_PASSWORD}
        signed_in = tenant_client(first).post("/api/v1/auth/login", json=login)
        assert (signed_in.status_code, signed_in.json()["role"]) == (200, role)
