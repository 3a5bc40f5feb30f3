"""``/sso/oidc/{connection}/login`` and ``/callback``: OpenID Connect sign-in (tenant hosts only).

**Login** starts the authorization code flow with PKCE (:func:`sso.oidc.flow.begin`) for an
enabled OIDC connection of the tenant, or, with ``test=1``, for any of its OIDC connections when
a signed-in admin or owner asks (an admin's "test connection": the callback then shows what
arrived and starts no session). The flow is stored single use (``sso.flows``): the SHA-256 of
``state``, the nonce, the PKCE verifier sealed for this tenant and connection, the local
``next`` path, and the SHA-256 of a fresh random browser cookie (path ``/sso/``). The browser
is then sent (303) to the provider. A login that arrives on another host of the tenant than the
connection's redirect URI first hops to that host, so the browser cookie is set where the
callback will need it.

**Callback** takes the flow by the SHA-256 of ``state`` for this connection and this browser,
and commits that before talking to the provider, so a flow is used up even when the rest fails.
Then :func:`sso.oidc.flow.finish` checks ``iss`` (RFC 9207), exchanges the code with the
verifier and validates the ID token and its nonce, and :func:`sso.finish.complete` signs the
identity in (identities are per connection, so the key is the ID token's ``sub`` alone).

Every refusal goes to :func:`sso.finish.fail`: logged, kept in the connection's failure log
(code and plain words, never a code, token, secret or verifier), answered with the branded
400 page (for a test flow, the test report). An unknown connection, or one that is not OIDC, is
the branded 404 ``sso_connection_not_found``. Pages carry ``PAGE_HEADERS``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Controller, Response, get
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect

from sso.errors import SsoRejected
from sso.finish import browser_cookie, browser_token, complete, fail, login_host_hop
from sso.flows import browser_hash, new_browser_token, start_flow, take_flow
from sso.models import SsoConnection, SsoFlow
from sso.oidc.discovery import ProviderMetadata
from sso.oidc.flow import begin, finish
from sso.oidc.runtime import (
    HTTP_TIMEOUT,
    OidcClient,
    OidcRuntime,
    discovery_version,
    load_client,
    oidc_runtime,
    unreadable,
)
from sso.oidc.tokens import OidcIdentity
from sso.provisioning import ExternalIdentity
from sso.secrets import SecretUnreadable, secret_context
from sso.service import connection_disabled, sign_in_connection
from tenants.hosts import InvalidHost, normalise_host
from whitelabel.accounts.pages import PAGE_HEADERS, safe_next
from whitelabel.accounts.pages._common import AnyRequest, admin_or_refusal
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant, DbSession, RuntimeDep
from whitelabel.runtime import Runtime

__all__ = ["OIDC_CONTROLLERS", "OidcSignInController", "claims_as_attributes", "state_handle"]

NextParam = Annotated[str | None, QueryParameter(name="next", required=False)]
TestParam = Annotated[str | None, QueryParameter(name="test", required=False)]

#: Callback parameters read (RFC 6749 4.1.2: each at most once); others are ignored.
_CALLBACK_PARAMS = ("state", "code", "iss", "error")
#: ID token claims that only serve the protocol (checked already): not shown, not mapped.
_PROTOCOL_CLAIMS = frozenset(
    {"iss", "aud", "azp", "exp", "iat", "nbf", "auth_time", "nonce", "jti", "sid"}
    | {"at_hash", "c_hash", "s_hash"}
)
_MAX_ATTRIBUTES = 100
_MAX_VALUES = 50
_MAX_VALUE_LENGTH = 1000


def state_handle(state: str) -> str:
    """What a flow keeps of ``state`` (``SsoFlow.handle``): its SHA-256, hex."""
    return hashlib.sha256(state.encode()).hexdigest()


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)[:_MAX_VALUE_LENGTH]
    return None


def claims_as_attributes(claims: Mapping[str, Any]) -> dict[str, list[str]]:
    """The identity's claims as attributes: each a list of strings (booleans ``true``/``false``,
    arrays flattened one level; objects and protocol claims such as ``nonce`` left out)."""
    attributes: dict[str, list[str]] = {}
    for name, value in claims.items():
        if name in _PROTOCOL_CLAIMS or len(attributes) >= _MAX_ATTRIBUTES:
            continue
        items: Sequence[Any] = value if isinstance(value, list) else [value]
        values = [text for item in items[:_MAX_VALUES] if (text := _scalar(item)) is not None]
        if values:
            attributes[str(name)[:200]] = values
    return attributes


def _external(identity: OidcIdentity) -> ExternalIdentity:
    return ExternalIdentity(
        subject=identity.subject,
        email=identity.email,
        email_verified=identity.email_verified,
        attributes=claims_as_attributes(identity.claims),
    )


def _check_redirect_uri(client: OidcClient, connection: SsoConnection) -> None:
    """Refuse a redirect URI that is not this connection's callback on a valid host."""
    target = urlsplit(client.redirect_uri)
    if target.scheme not in ("http", "https") or target.path != (
        f"/sso/oidc/{connection.id}/callback"
    ):
        raise SsoRejected(
            "oidc_connection_misconfigured",
            "The connection's redirect URI is not its callback on this service.",
            {"field": "redirect_uri"},
        )
    try:
        normalise_host(target.netloc)
    except InvalidHost as exc:
        raise SsoRejected(
            "oidc_connection_misconfigured",
            "The connection's redirect URI has no valid host.",
            {"field": "redirect_uri"},
        ) from exc


def _hop(
    request: AnyRequest,
    runtime: Runtime,
    tenant: TenantContext,
    connection: SsoConnection,
    client: OidcClient,
    query: Mapping[str, str],
) -> Response[Any] | None:
    """:func:`~sso.finish.login_host_hop` to the redirect URI's host, once the redirect URI is
    known to be this connection's callback.

    Raises:
        SsoRejected: ``oidc_connection_misconfigured``: the redirect URI is not a callback
            on a host of this tenant.
    """
    _check_redirect_uri(client, connection)
    return login_host_hop(
        request, runtime, tenant, return_url=client.redirect_uri, query=query,
        misconfigured=SsoRejected(
            "oidc_connection_misconfigured",
            "The connection's redirect URI is on a host that is not this tenant's.",
            {"field": "redirect_uri"},
        ),
    )  # fmt: skip


async def _metadata(
    oidc: OidcRuntime, tenant: TenantContext, connection: SsoConnection, client: OidcClient
) -> ProviderMetadata:
    """The provider's checked metadata, from the process's cache (keyed by the connection's
    version, so an edited connection is looked up again)."""
    return await oidc.discovery.get(
        client.issuer, config_version=discovery_version(tenant.id, connection)
    )


def _callback_params(request: AnyRequest) -> dict[str, str]:
    """The callback's protocol parameters.

    Raises:
        SsoRejected: ``oidc_callback_invalid`` (one is repeated), ``oidc_state_mismatch`` (no
            ``state``).
    """
    params: dict[str, str] = {}
    for name in _CALLBACK_PARAMS:
        values: list[str] = request.query_params.getall(name, [])
        if len(values) > 1:
            raise SsoRejected(
                "oidc_callback_invalid",
                f"The sign-in response repeats its {name} parameter.",
                {"parameter": name},
            )
        if values:
            params[name] = values[0]
    if not params.get("state"):
        raise SsoRejected(
            "oidc_state_mismatch",
            "The sign-in response carries no state, so it cannot belong to a sign-in started "
            "here; start again.",
        )
    return params


class OidcSignInController(Controller):
    """OpenID Connect sign-in through one of the tenant's connections (browser routes)."""

    path = "/sso/oidc/{connection_id:str}"
    response_headers = PAGE_HEADERS
    include_in_schema = False

    @get("/login")
    async def login(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
        connection_id: FromPath[str],
        next_: NextParam = None,
        test_: TestParam = None,
    ) -> Response[Any]:
        """Start a sign-in: 303 to the provider's authorization endpoint.

        ``next`` is the local path to land on afterwards (anything else lands on ``/``).
        ``test=1`` runs an admin's connection test (admins and owners only; works on a
        disabled connection too). Refusals: the branded 404 for an unknown connection, the
        sign-in page (303) or a 403 for a test by a visitor or a member, the failure page
        (``sso_connection_disabled``, discovery and configuration errors).
        """
        db = db_session
        connection = await sign_in_connection(db, connection_id, "oidc")
        test = test_ == "1"
        next_path = safe_next(next_)
        if test:
            admin = await admin_or_refusal(
                request, tenant, db, doing="Testing a sign-in connection"
            )
            if isinstance(admin, Response):
                return admin
        oidc = oidc_runtime(runtime.settings)
        try:
            if not connection.enabled and not test:
                raise connection_disabled()
            client = load_client(connection, tenant.id, oidc.box)
            query = {"next": next_path, **({"test": "1"} if test else {})}
            hop = _hop(request, runtime, tenant, connection, client, query)
            if hop is not None:
                return hop
            metadata = await _metadata(oidc, tenant, connection, client)
            attempt = begin(
                metadata,
                client_id=client.client_id,
                redirect_uri=client.redirect_uri,
                scopes=client.scopes,
                extra_params=client.authorization_params,
            )
        except SsoRejected as rejected:
            return await fail(request, db, tenant, connection, rejected, test=test)
        token = new_browser_token()
        sealed = oidc.box.seal(
            attempt.code_verifier, context=secret_context(tenant.id, connection.id, "code_verifier")
        )
        await start_flow(
            db,
            connection_id=connection.id,
            kind="oidc",
            handle=state_handle(attempt.state),
            browser=browser_hash(token),
            next_path=next_path,
            test=test,
            nonce=attempt.nonce,
            code_verifier=sealed,
        )
        await db.commit()
        return Redirect(
            attempt.url,
            status_code=303,
            cookies=[browser_cookie(request, token, cross_site_post=False)],
        )

    @get("/callback")
    async def callback(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
        connection_id: FromPath[str],
    ) -> Response[Any]:
        """The provider's redirect back: sign in (303 to the flow's ``next``), or for a test
        flow the test report; any refusal is the failure page (400) and a failure record."""
        db = db_session
        connection = await sign_in_connection(db, connection_id, "oidc")
        oidc = oidc_runtime(runtime.settings)
        flow: SsoFlow | None = None
        try:
            params = _callback_params(request)
            flow = await take_flow(
                db,
                connection_id=connection.id,
                kind="oidc",
                handle=state_handle(params["state"]),
                browser=browser_hash(browser_token(request)),
            )
            # Used up for good before the provider is asked: a failure below must not make
            # the flow usable again (fail() rolls the transaction back).
            await db.commit()
            if not flow.test and not connection.enabled:
                raise connection_disabled()
            try:
                verifier = oidc.box.open(
                    flow.code_verifier or "",
                    context=secret_context(tenant.id, connection.id, "code_verifier"),
                )
            except SecretUnreadable as exc:
                raise unreadable("PKCE verifier") from exc
            client = load_client(connection, tenant.id, oidc.box)
            metadata = await _metadata(oidc, tenant, connection, client)
            identity = await finish(
                metadata,
                client_id=client.client_id,
                client_secret=client.client_secret,
                redirect_uri=client.redirect_uri,
                callback_params=params,
                # The flow was found by this state's hash: that was the state check.
                expected_state=params["state"],
                code_verifier=verifier,
                nonce=flow.nonce or "",
                jwks_cache=oidc.jwks,
                http_timeout=HTTP_TIMEOUT,
                fetch_userinfo=client.fetch_userinfo,
                required_claims=client.required_claims,
            )
        except SsoRejected as rejected:
            test = flow is not None and flow.test
            return await fail(request, db, tenant, connection, rejected, test=test)
        return await complete(request, db, tenant, connection, flow, _external(identity))


#: The route handlers the SSO plugin registers.
OIDC_CONTROLLERS: list[type[Controller]] = [OidcSignInController]
