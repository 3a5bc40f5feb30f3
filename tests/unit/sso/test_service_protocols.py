"""The protocol services without a database: SAML warnings and the refresh schedule, OIDC field
checks and the sealing of client secrets, the password sign-in policy registry."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from sso.models import SsoConnection
from sso.oidc import service as oidc
from sso.refresh import RefreshReport, _due
from sso.saml import generate_signing_pair
from sso.saml.service import RefreshOutcome, warnings_for
from sso.secrets import SecretBox, SecretUnreadable, secret_context
from sso.service import ConnectionContext
from whitelabel.accounts import service as accounts
from whitelabel.accounts.service import Client
from whitelabel.context import TenantContext, TenantStatus, schema_name_for
from whitelabel.errors import ValidationFailed
from whitelabel.settings import Settings

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = replace(Settings.from_env({}, allow_insecure_secret=True), secret_key="k" * 40)


def _cert(days: int) -> dict[str, str]:
    """A certificate valid until ``NOW + days``."""
    pair = generate_signing_pair(
        "idp", key_size=2048, validity=timedelta(days=days + 30), now=NOW - timedelta(days=30)
    )
    return {"pem": pair.cert_pem, "not_after": ""}


def test_saml_warnings_follow_expiry_changes_and_errors() -> None:
    config: dict[str, Any] = {"idp": {"certs": [_cert(400)]}, "metadata_error": None}
    assert warnings_for(config, NOW) == []
    config["idp"]["certs"] += [_cert(10), _cert(-2)]
    soon, gone = warnings_for(config, NOW)
    assert "expires on 2027-03-11 (in 10 days)" in soon
    assert "expired on 2027-02-27" in gone
    config = {"idp": None, "metadata_changed_at": (NOW - timedelta(days=3)).isoformat()}
    assert [w[:45] for w in warnings_for(config, NOW)] == [
        "The identity provider's metadata changed at t"
    ]
    assert warnings_for(config, NOW + timedelta(days=15)) == []  # an old change is not news
    config = {"idp": None, "metadata_error": "The server answered HTTP 500 (fetch_bad_status)"}
    assert warnings_for(config, NOW) == [
        "The last metadata refresh failed: The server answered HTTP 500 (fetch_bad_status)"
    ]


@pytest.mark.parametrize(
    ("fetched", "stale_after", "due"),
    [
        (None, timedelta(hours=6), True),
        (NOW - timedelta(hours=7), timedelta(hours=6), True),
        (NOW - timedelta(hours=5), timedelta(hours=6), False),
        (NOW - timedelta(minutes=1), None, True),  # the command refreshes everything
    ],
)
def test_refresh_schedule(
    fetched: datetime | None, stale_after: timedelta | None, due: bool
) -> None:
    connection = SsoConnection(
        config={"metadata_fetched_at": fetched.isoformat() if fetched else None}
    )
    assert _due(connection, stale_after, NOW) is due


def test_refresh_report_counts() -> None:
    report = RefreshReport()
    for status in ("changed", "failed", "changed"):
        report.results.append(("t", uuid.uuid4(), RefreshOutcome(status)))
    assert (report.count("changed"), report.count("failed"), report.count("unchanged")) == (
        2, 1, 0,
    )  # fmt: skip


def _context() -> ConnectionContext:
    tenant_id = uuid.uuid4()
    tenant = TenantContext(
        id=tenant_id, slug="acme", name="Acme", schema=schema_name_for(tenant_id),
        status=TenantStatus.ACTIVE, primary_host="acme.localhost",
    )  # fmt: skip
    return ConnectionContext(
        tenant=tenant, base_url="https://acme.localhost", settings=SETTINGS,
        box=SecretBox(SETTINGS), actor=uuid.uuid4(), client=Client(None, None),
    )  # fmt: skip


def _oidc() -> SsoConnection:
    config: dict[str, Any] = {
        "redirect_uri": "https://acme.localhost/sso/oidc/x/callback",
        "issuer": "https://idp.example.test",
        "client_id": "app",
        "scopes": ["openid"],
        "preset": None,
        "fetch_userinfo": False,
        "required_claims": {},
    }
    return SsoConnection(id=uuid.uuid4(), type="oidc", config=config, client_secret=None)


def _apply(connection: SsoConnection, body: dict[str, Any], context: ConnectionContext) -> Any:
    db = cast(AsyncSession, None)  # the OIDC fields need no database
    return asyncio.run(oidc.apply_fields(db, connection, body, context, creating=False))


def test_oidc_changes_without_a_new_issuer() -> None:
    context, connection = _context(), _oidc()
    body = {
        "scopes": ["openid", "email", "openid"],
        "required_claims": {"hd": "acme.example"},
        "fetch_userinfo": True,
        "client_secret": "the-secret",
        "client_id": "app",
    }
    changed = _apply(connection, body, context)
    assert changed == ["scopes", "required_claims", "fetch_userinfo", "client_secret"]
    assert connection.config["scopes"] == ["openid", "email"]
    sealed = connection.client_secret
    assert sealed is not None and "the-secret" not in sealed
    where = secret_context(context.tenant.id, connection.id, "client_secret")
    assert context.box.open(sealed, context=where) == "the-secret"
    with pytest.raises(SecretUnreadable):  # bound to this tenant, connection and field
        context.box.open(
            sealed, context=secret_context(uuid.uuid4(), connection.id, "client_secret")
        )
    assert _apply(connection, {"client_secret": None}, context) == ["client_secret"]
    assert connection.client_secret is None
    assert _apply(connection, {"client_secret": None, "preset": None}, context) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["profile"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["openid", 'a"b']}, "scopes"),
        ({"required_claims": {"bad claim": "x"}}, "required_claims"),
        ({"required_claims": {f"c{i}": "x" for i in range(11)}}, "required_claims"),
        ({"client_id": "x" * 256}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"client_secret": "x" * 501}, "client_secret"),
        ({"preset": "okta"}, "preset_values"),
        ({"preset": "nope", "preset_values": {}}, "preset"),
        ({"preset_values": {"domain": "x.example"}}, "preset_values"),
        ({"preset": "google", "preset_values": {"domain": "x.example"}, "issuer": "x"}, "issuer"),
        ({"preset": "google", "preset_values": {"domain": "not a domain"}}, "domain"),
        ({"preset": "entra", "preset_values": {"tenant": "common"}}, "tenant"),
        ({"preset": "google", "preset_values": ["x"]}, "preset_values"),
        ({"fetch_userinfo": 1}, "fetch_userinfo"),
        ({"issuer": ""}, "issuer"),
    ],
)
def test_bad_oidc_fields_are_refused_before_anything_changes(
    body: dict[str, Any], field: str
) -> None:
    connection = _oidc()
    before = dict(connection.config)
    with pytest.raises(ValidationFailed) as caught:
        _apply(connection, {**body, "client_secret": "never-shown"} if field != "client_secret"
               else body, _context())  # fmt: skip
    assert caught.value.detail == {"field": field}
    assert "never-shown" not in caught.value.message
    assert connection.config == before and connection.client_secret is None


def test_password_policies_are_registered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def policy(db: AsyncSession, email: str) -> None:
        calls.append(email)

    monkeypatch.setattr(accounts, "_PASSWORD_POLICIES", [])  # the process's own stay untouched
    accounts.register_password_policy(policy)
    accounts.register_password_policy(policy)
    assert len(accounts._PASSWORD_POLICIES) == 1
    refusal = asyncio.run(accounts._policy_refusal(cast(AsyncSession, None), "a@b.example"))
    assert (refusal, calls) == (None, ["a@b.example"])
