"""JIT provisioning and linking, the flow store, the replay cache and the failure log, against
real tenant schemas (two tenants: nothing crosses)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sso.errors import SsoRejected
from sso.flows import (
    FAILURES_KEPT,
    browser_hash,
    new_browser_token,
    recent_failures,
    record_failure,
    remember_assertion,
    start_flow,
    take_flow,
)
from sso.models import SsoConnection, SsoIdentity
from sso.provisioning import ExternalIdentity, map_attributes, sign_in_identity
from tenants.schemas import TenantView
from whitelabel.accounts.models import User
from whitelabel.accounts.service import Client, add_user
from whitelabel.db.base import utcnow
from whitelabel.db.engine import Database
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent

T = TypeVar("T")
CLIENT = Client(ip="203.0.113.9", user_agent="tests")


def run(runtime: Runtime, tenant: TenantView, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` in one committed transaction of ``tenant``'s schema."""

    async def scenario() -> T:
        db = Database(runtime.settings.sqlalchemy_url, pool_size=2)
        try:
            async with db.tenant_session(tenant.context()) as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await db.dispose()

    return asyncio.run(scenario())


def connection(**values: Any) -> SsoConnection:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "type": "oidc",
        "name": "University IdP",
        "enabled": True,
        "jit": True,
        "email_domains": ["uni.example"],
        "default_role": "member",
        "attribute_mapping": {"department": "dept"},
        "allow_idp_initiated": False,
        "enforce_sso": False,
        "config": {},
        "config_version": 1,
    }
    fields.update(values)
    return SsoConnection(**fields)


def identity(subject: str = "sub-1", email: str | None = "ada@uni.example", **kw: Any) -> Any:
    values: dict[str, Any] = {
        "subject": subject,
        "email": email,
        "email_verified": True,
        "attributes": {"name": ["Ada Lovelace"], "dept": ["Mathematics"]},
    }
    values.update(kw)
    return ExternalIdentity(**values)


def add(runtime: Runtime, tenant: TenantView, conn: SsoConnection) -> SsoConnection:
    async def work(db: AsyncSession) -> SsoConnection:
        db.add(conn)
        await db.flush()
        return conn

    return run(runtime, tenant, work)


def sign_in(
    runtime: Runtime, tenant: TenantView, conn_id: uuid.UUID, who: ExternalIdentity
) -> tuple[str, str, dict[str, Any]]:
    async def work(db: AsyncSession) -> tuple[str, str, dict[str, Any]]:
        conn = await db.get(SsoConnection, conn_id)
        assert conn is not None
        user = await sign_in_identity(db, conn, who, client=CLIENT)
        await db.flush()
        return user.email, user.role, dict(user.profile)

    return run(runtime, tenant, work)


def count(runtime: Runtime, tenant: TenantView, model: Any) -> int:
    async def work(db: AsyncSession) -> int:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)

    return run(runtime, tenant, work)


def seed_user(runtime: Runtime, tenant: TenantView, email: str, *, status: str = "active") -> None:
    async def work(db: AsyncSession) -> None:
        user = await add_user(
            db, email=email, display_name="Existing", password_hash=None, role="admin"
        )
        user.status = status

    run(runtime, tenant, work)


def test_first_sign_in_creates_the_user_with_the_mapped_profile_in_its_tenant_only(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    tenant, other = tenant_pair
    conn = add(whitelabel_runtime, tenant, connection())
    email, role, profile = sign_in(whitelabel_runtime, tenant, conn.id, identity())
    assert (email, role, profile) == ("ada@uni.example", "member", {"department": "Mathematics"})
    assert count(whitelabel_runtime, tenant, SsoIdentity) == 1
    assert count(whitelabel_runtime, other, User) == 0
    assert count(whitelabel_runtime, other, SsoIdentity) == 0
    # The second sign-in finds the identity and updates the profile.
    changed = identity(attributes={"name": ["Ada King"], "dept": ["Computing"]})
    assert sign_in(whitelabel_runtime, tenant, conn.id, changed)[2] == {"department": "Computing"}
    assert count(whitelabel_runtime, tenant, User) == 1

    async def audit(db: AsyncSession) -> list[str]:
        rows = await db.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("%sso%")).order_by(AuditEvent.at)
        )
        return list(rows)

    assert run(whitelabel_runtime, tenant, audit) == ["user.created_by_sso", "sso.identity_linked"]


def test_a_verified_email_of_an_allowed_domain_links_to_the_existing_user(
    whitelabel_runtime: Runtime, make_tenant: Any
) -> None:
    tenant = make_tenant()
    seed_user(whitelabel_runtime, tenant, "ada@uni.example")
    conn = add(whitelabel_runtime, tenant, connection(jit=False))
    assert sign_in(whitelabel_runtime, tenant, conn.id, identity())[:2] == (
        "ada@uni.example",
        "admin",  # the existing user's role stays
    )
    assert count(whitelabel_runtime, tenant, User) == 1


@pytest.mark.parametrize(
    ("conn_values", "who", "code"),
    [
        ({}, identity(email_verified=False), "sso_email_unverified"),  # the nOAuth takeover
        ({}, identity(email="ada@evil.example"), "sso_domain_not_allowed"),
        ({}, identity(email=None, attributes={}), "sso_no_email"),
        ({}, identity(email="not an email"), "sso_email_invalid"),
        ({"jit": False}, identity(email="new@uni.example"), "sso_no_account"),
        ({"email_domains": []}, identity(), "sso_domain_not_allowed"),
    ],
    ids=["unverified", "other-domain", "no-email", "bad-email", "jit-off", "no-domains"],
)
def test_refused_identities_create_and_link_nothing(
    whitelabel_runtime: Runtime,
    make_tenant: Any,
    conn_values: dict[str, Any],
    who: ExternalIdentity,
    code: str,
) -> None:
    tenant = make_tenant()
    seed_user(whitelabel_runtime, tenant, "ada@uni.example")
    conn = add(whitelabel_runtime, tenant, connection(**conn_values))
    with pytest.raises(SsoRejected) as refused:
        sign_in(whitelabel_runtime, tenant, conn.id, who)
    assert refused.value.code == code
    assert count(whitelabel_runtime, tenant, SsoIdentity) == 0
    assert count(whitelabel_runtime, tenant, User) == 1


def test_an_unverified_claim_never_signs_in_as_the_existing_user(
    whitelabel_runtime: Runtime, make_tenant: Any
) -> None:
    tenant = make_tenant()
    seed_user(whitelabel_runtime, tenant, "ada@uni.example")
    conn = add(whitelabel_runtime, tenant, connection())
    attacker = identity(subject="attacker", email="ADA@uni.example", email_verified=False)
    with pytest.raises(SsoRejected) as refused:
        sign_in(whitelabel_runtime, tenant, conn.id, attacker)
    assert refused.value.code == "sso_email_unverified"


def test_a_disabled_user_is_refused_even_with_a_linked_identity(
    whitelabel_runtime: Runtime, make_tenant: Any
) -> None:
    tenant = make_tenant()
    seed_user(whitelabel_runtime, tenant, "ada@uni.example", status="disabled")
    conn = add(whitelabel_runtime, tenant, connection())
    with pytest.raises(SsoRejected) as refused:
        sign_in(whitelabel_runtime, tenant, conn.id, identity())
    assert refused.value.code == "sso_account_disabled"


def test_mapping_prefers_the_connections_attribute_then_the_defaults() -> None:
    conn = connection(attribute_mapping={"display_name": "fullName", "unit": "ou"})
    who = identity(
        email=None,
        attributes={
            "fullName": ["  Ada   Lovelace "],
            "name": ["ignored"],
            "urn:oid:0.9.2342.19200300.100.1.3": ["ada@uni.example"],
            "ou": ["x" * 500],
        },
    )
    mapped = map_attributes(conn, who)
    assert mapped.email == "ada@uni.example"
    assert mapped.display_name == "Ada   Lovelace"
    assert mapped.fields == {"unit": "x" * 200}


# -- flows, replays, failures -------------------------------------------------------------


def test_a_flow_is_taken_once_by_its_connection_and_browser_only(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    tenant, other = tenant_pair
    conn = add(whitelabel_runtime, tenant, connection())
    other_conn = add(whitelabel_runtime, tenant, connection(email_domains=["b.example"]))
    foreign = add(whitelabel_runtime, other, connection())
    browser = browser_hash(new_browser_token())

    def start(handle: str) -> None:
        async def work(db: AsyncSession) -> None:
            await start_flow(
                db, connection_id=conn.id, kind="saml", handle=handle, browser=browser,
                next_path="/after",
            )  # fmt: skip

        run(whitelabel_runtime, tenant, work)

    def take(target: TenantView, conn_id: uuid.UUID, handle: str, who: str = browser) -> str:
        async def work(db: AsyncSession) -> str:
            flow = await take_flow(
                db, connection_id=conn_id, kind="saml", handle=handle, browser=who
            )
            return flow.next_path

        return run(whitelabel_runtime, target, work)

    start("id-1")
    for target, conn_id in ((other, foreign.id), (tenant, other_conn.id)):
        with pytest.raises(SsoRejected) as refused:  # another tenant, another connection
            take(target, conn_id, "id-1")
        assert refused.value.code == "sso_flow_unknown"
    assert take(tenant, conn.id, "id-1") == "/after"
    with pytest.raises(SsoRejected):  # single use
        take(tenant, conn.id, "id-1")
    start("id-2")
    with pytest.raises(SsoRejected) as refused:
        take(tenant, conn.id, "id-2", who=browser_hash("another browser"))
    assert refused.value.code == "sso_flow_other_browser"


def test_an_assertion_id_is_accepted_once(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    tenant, other = tenant_pair
    conn = add(whitelabel_runtime, tenant, connection(type="saml"))
    foreign = add(whitelabel_runtime, other, connection(type="saml"))

    def remember(target: TenantView, conn_id: uuid.UUID) -> None:
        async def work(db: AsyncSession) -> None:
            await remember_assertion(
                db, connection_id=conn_id, assertion_id="_a1",
                not_on_or_after=utcnow() + timedelta(minutes=5),
            )  # fmt: skip

        run(whitelabel_runtime, target, work)

    remember(tenant, conn.id)
    with pytest.raises(SsoRejected) as replayed:
        remember(tenant, conn.id)
    assert replayed.value.code == "saml_replayed"
    remember(other, foreign.id)  # another tenant's cache is its own


def test_the_failure_log_keeps_the_last_failures_without_secrets(
    whitelabel_runtime: Runtime, make_tenant: Any
) -> None:
    tenant = make_tenant()
    conn = add(whitelabel_runtime, tenant, connection())

    async def work(db: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
        for n in range(FAILURES_KEPT + 5):
            rejected = SsoRejected(
                f"code_{n}", "Reason.", {"n": n, "long": "x" * 1000, "obj": {"a": 1}}
            )
            await record_failure(db, connection_id=conn.id, rejected=rejected, ip=None)
        rows = await recent_failures(db, conn.id)
        return [(row.code, row.detail) for row in rows]

    kept = run(whitelabel_runtime, tenant, work)
    assert len(kept) == FAILURES_KEPT
    codes = {code for code, _ in kept}
    assert "code_0" not in codes and f"code_{FAILURES_KEPT + 4}" in codes
    detail = kept[0][1]
    assert len(detail["long"]) == 300 and detail["obj"] == "{'a': 1}"
