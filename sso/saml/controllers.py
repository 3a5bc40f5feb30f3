"""``/sso/saml/{connection}/metadata|login|acs|logout|sls``: SAML 2.0 sign-in and Single Logout
through one of the tenant's connections (tenant hosts only).

The connection is always the one named by (the tenant of the Host, the id in the path), never
one found by a message's Issuer. An unknown id, another tenant's, or an OIDC connection's is the
branded 404 ``sso_connection_not_found``.

- **metadata**: the connection's SP metadata (``application/samlmetadata+xml``), with the next
  SP certificate during a key rollover; served before the IdP is configured.
- **login**: a signed AuthnRequest (HTTP-Redirect). The flow keeps its ID (the handle), the local
  ``next`` path and whether it is an admin's test; ``RelayState`` is an opaque random value. Over
  https the flow is bound to the browser by a ``SameSite=None`` cookie (the ACS is a cross-site
  POST); over plain http it cannot be (``sso.finish.binds_browser``). ``test=1`` needs a
  signed-in admin or owner and works on a disabled connection.
- **acs** (CSRF-exempt: the IdP's page posts it; body limited to :data:`MAX_ACS_BODY`): decode
  and pre-scan, then a response answering a request takes that request's flow (this connection,
  single use, not expired, same browser) before python3-saml sees it, and must answer exactly
  it; a response answering nothing is accepted only when the connection allows IdP-initiated
  sign-in, and its ``RelayState`` may then only name a local path. The assertion ID goes into
  the replay cache, then ``sso.finish.complete`` signs the person in (or shows an admin's test
  report) and the NameID format and session index are kept for Single Logout.
- **logout**: SP-initiated Single Logout for the signed-in user: the browser's session ends here,
  then, when the user signed in through this connection and the IdP has an SLO address, the
  browser goes there with a signed LogoutRequest (whose ID a flow keeps).
- **sls**: the IdP's LogoutResponse to that request (back to ``/``), or an IdP-initiated
  LogoutRequest: every session of the named person ends and the browser goes back with the
  signed LogoutResponse.

Every refusal goes to ``sso.finish.fail``: logged, kept in the connection's failure log (code
and plain words, never the message itself), answered with the branded 400 page (for a test
flow, the test report). Pages carry ``PAGE_HEADERS``.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from sso.errors import SsoRejected
from sso.finish import (
    binds_browser,
    browser_cookie,
    browser_token,
    complete,
    fail,
    forget_browser,
    login_host_hop,
)
from sso.flows import (
    browser_hash,
    new_browser_token,
    record_failure,
    remember_assertion,
    start_flow,
    take_flow,
)
from sso.models import SsoConnection, SsoFlow
from sso.provisioning import ExternalIdentity
from sso.saml import (
    LogoutCompleted,
    ValidatedAssertion,
    authn_request,
    logout_request,
    process_logout,
    sp_metadata,
    validate_response,
)
from sso.saml.errors import reject
from sso.saml.prescan import MAX_ENCODED_BYTES
from sso.saml.runtime import (
    NAMEID_EMAIL,
    end_user_sessions,
    identity_of_subject,
    identity_of_user,
    load_idp,
    load_sp,
    logout_handle,
    peek_in_response_to,
    peek_logout_response,
    remember_session_facts,
    saml_box,
    want_assertions_signed,
)
from sso.service import connection_disabled, sign_in_connection
from whitelabel.accounts import service as accounts
from whitelabel.accounts.cookies import clear_session_cookies
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.pages import PAGE_HEADERS, safe_next
from whitelabel.accounts.pages._common import AnyRequest, admin_or_refusal
from whitelabel.deps import CurrentTenant, DbSession, RuntimeDep
from whitelabel.tenant_data import record_event

__all__ = ["MAX_ACS_BODY", "SAML_CONTROLLERS", "SamlController", "external_identity"]

log = logging.getLogger("whitelabel.sso")

NextParam = Annotated[str | None, QueryParameter(name="next", required=False)]
TestParam = Annotated[str | None, QueryParameter(name="test", required=False)]

#: Largest ACS form body: the largest accepted response, form-encoded (base64's ``+``, ``/``
#: and ``=`` grow threefold), with room for RelayState. A bigger body is a plain 413; a response
#: between the decoder's limit and this one gets the failure page (``saml_too_large``).
MAX_ACS_BODY = 4 * MAX_ENCODED_BYTES
_FORM = "application/x-www-form-urlencoded"
_METADATA_TYPE = "application/samlmetadata+xml"


def external_identity(assertion: ValidatedAssertion) -> ExternalIdentity:
    """The person a validated assertion describes, for ``sso.provisioning``.

    The subject is the NameID. The email is the NameID when its format says it is one; else the
    attribute mapping finds it in the attributes. It counts as verified: the IdP is
    authoritative for the connection's email domains, which provisioning checks.
    """
    return ExternalIdentity(
        subject=assertion.name_id,
        email=assertion.name_id if assertion.name_id_format == NAMEID_EMAIL else None,
        email_verified=True,
        attributes=assertion.attributes,
    )


async def _acs_form(request: AnyRequest) -> tuple[str, str | None]:
    """``SAMLResponse`` and ``RelayState`` of the HTTP-POST binding's form.

    Raises:
        SsoRejected: ``saml_malformed``: not a form, or a field missing, repeated or a file.
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != _FORM:
        raise reject("saml_malformed", "The SAML response must be posted as an HTML form.")
    form = await request.form()
    responses: list[str | UploadFile] = form.getall("SAMLResponse", [])
    relays: list[str | UploadFile] = form.getall("RelayState", [])
    if len(responses) != 1 or len(relays) > 1:
        raise reject("saml_malformed", "The form must carry one SAMLResponse (and one RelayState).")
    response, relay = responses[0], (relays[0] if relays else None)
    if not isinstance(response, str) or isinstance(relay, UploadFile):
        raise reject("saml_malformed", "The form fields must be text.")
    return response, relay


async def _slo_refused(
    request: AnyRequest, db: AsyncSession, connection: SsoConnection, rejected: SsoRejected
) -> None:
    """Keep a Single Logout that could not reach the IdP in the failure log (committed); the
    local sign-out has happened already."""
    log.warning("sso single logout not sent: %s", rejected.code)
    await record_failure(
        db, connection_id=connection.id, rejected=rejected, ip=accounts.Client.of(request).ip
    )
    await db.commit()


class SamlController(Controller):
    """SAML sign-in and Single Logout through one of the tenant's connections."""

    path = "/sso/saml/{connection_id:str}"
    response_headers = PAGE_HEADERS
    include_in_schema = False

    @get("/metadata")
    async def metadata(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
        connection_id: FromPath[str],
    ) -> Response[Any]:
        """The connection's SP metadata, for its identity provider to import."""
        db = db_session
        connection = await sign_in_connection(db, connection_id, "saml")
        try:
            sp = await load_sp(db, connection, tenant.id, saml_box(runtime.settings))
            document = sp_metadata(sp, want_assertions_signed=want_assertions_signed(connection))
        except SsoRejected as rejected:
            return await fail(request, db, tenant, connection, rejected, test=False)
        return Response(document, media_type=_METADATA_TYPE)

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
        """Start a sign-in: 303 to the IdP with a signed AuthnRequest.

        ``next`` is the local path to land on afterwards (anything else lands on ``/``);
        ``test=1`` is an admin's connection test (admins and owners only; a disabled connection
        too). Refusals: the branded 404, the sign-in redirect or 403 page for a test by anyone
        else, the failure page (``sso_connection_disabled``, configuration errors).
        """
        db = db_session
        connection = await sign_in_connection(db, connection_id, "saml")
        test = test_ == "1"
        next_path = safe_next(next_)
        if test:
            admin = await admin_or_refusal(
                request, tenant, db, doing="Testing a sign-in connection"
            )
            if isinstance(admin, Response):
                return admin
        try:
            if not connection.enabled and not test:
                raise connection_disabled()
            sp = await load_sp(db, connection, tenant.id, saml_box(runtime.settings))
            idp = load_idp(connection)
            query = {"next": next_path, **({"test": "1"} if test else {})}
            hop = login_host_hop(
                request, runtime, tenant, return_url=sp.acs_url, query=query,
                misconfigured=SsoRejected(
                    "saml_connection_misconfigured",
                    "The connection's ACS URL is on a host that is not this tenant's.",
                    {"field": "acs_url"},
                ),
            )  # fmt: skip
            if hop is not None:
                return hop
            url, request_id = authn_request(sp, idp, relay_state=secrets.token_urlsafe(24))
        except SsoRejected as rejected:
            return await fail(request, db, tenant, connection, rejected, test=test)
        bound = binds_browser(request, cross_site_post=True)
        token = new_browser_token()
        await start_flow(
            db,
            connection_id=connection.id,
            kind="saml",
            handle=request_id,
            browser=browser_hash(token) if bound else "",
            next_path=next_path,
            test=test,
        )
        await db.commit()
        cookies = [browser_cookie(request, token, cross_site_post=True)] if bound else []
        return Redirect(url, status_code=303, cookies=cookies)

    @post("/acs", opt={"csrf": False}, request_max_body_size=MAX_ACS_BODY)
    async def acs(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
        connection_id: FromPath[str],
    ) -> Response[Any]:
        """The IdP's response (HTTP-POST): sign in (303 to the flow's ``next``), or for a test
        flow the test report; any refusal is the failure page (400) and a failure record."""
        db = db_session
        connection = await sign_in_connection(db, connection_id, "saml")
        flow: SsoFlow | None = None
        test = False
        try:
            saml_response, relay_state = await _acs_form(request)
            in_response_to = peek_in_response_to(saml_response)
            if in_response_to is not None:
                flow = await take_flow(
                    db,
                    connection_id=connection.id,
                    kind="saml",
                    handle=in_response_to,
                    browser=browser_hash(browser_token(request)),
                )
                test = flow.test
                # Used up for good before the response is checked: a refusal below rolls the
                # transaction back, and must not make the flow usable again.
                await db.commit()
            elif not connection.allow_idp_initiated:
                raise reject("saml_unsolicited")
            if not test and not connection.enabled:
                raise connection_disabled()
            sp = await load_sp(db, connection, tenant.id, saml_box(runtime.settings))
            assertion = validate_response(
                sp,
                load_idp(connection),
                saml_response_b64=saml_response,
                acs_url=sp.acs_url,
                expected_request_id=in_response_to if flow is not None else None,
                allow_unsolicited=flow is None,
            )
            await remember_assertion(
                db,
                connection_id=connection.id,
                assertion_id=assertion.assertion_id,
                not_on_or_after=assertion.not_on_or_after,
            )
            await db.commit()  # an accepted assertion is spent, whatever happens next
        except SsoRejected as rejected:
            return await fail(request, db, tenant, connection, rejected, test=test)
        landing = safe_next(relay_state) if flow is None else "/"
        identity = external_identity(assertion)

        async def keep_session_facts(session: AsyncSession) -> None:  # what SLO needs
            await remember_session_facts(
                session,
                connection_id=saml_id,
                subject=identity.subject,
                name_id_format=assertion.name_id_format,
                session_index=assertion.session_index,
            )

        saml_id = connection.id
        response = await complete(
            request, db, tenant, connection, flow, identity, next_path=landing,
            after_sign_in=keep_session_facts,
        )  # fmt: skip
        return response

    @get("/logout")
    async def logout(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
        connection_id: FromPath[str],
    ) -> Response[Any]:
        """SP-initiated Single Logout: end this browser's session, then 303 to the IdP with a
        signed LogoutRequest (or to ``/`` when the user did not sign in through this
        connection or the IdP has no SLO address). A link followed from another site goes to
        the sign-out page instead (no logout by a cross-site request)."""
        db = db_session
        connection = await sign_in_connection(db, connection_id, "saml")
        if request.headers.get("sec-fetch-site") == "cross-site":
            return Redirect("/logout", status_code=303)
        token = request.cookies.get(SESSION_COOKIE)
        viewer = await accounts.authenticate(db, token)
        home = Redirect("/", status_code=303)
        clear_session_cookies(home)
        if viewer is None:
            return home
        identity = await identity_of_user(db, connection.id, viewer.id)
        await accounts.log_out(db, token, client=accounts.Client.of(request))
        facts = None
        if identity is not None:
            facts = (identity.subject, identity.name_id_format, identity.session_index)
            identity.session_index = None
        await db.commit()
        if facts is None:
            return home
        try:
            idp = load_idp(connection)
            if not idp.slo_url:
                return home
            sp = await load_sp(db, connection, tenant.id, saml_box(runtime.settings))
            url, request_id = logout_request(
                sp,
                idp,
                name_id=facts[0],
                name_id_format=facts[1],
                session_index=facts[2],
                relay_state=secrets.token_urlsafe(24),
            )
        except SsoRejected as rejected:
            await _slo_refused(request, db, connection, rejected)
            return home
        browser = new_browser_token()
        await start_flow(
            db,
            connection_id=connection.id,
            kind="saml",
            handle=logout_handle(request_id),
            browser=browser_hash(browser),
        )
        await db.commit()
        # The IdP's LogoutResponse comes back as a top-level GET: a Lax cookie is sent.
        cookie = browser_cookie(request, browser, cross_site_post=False)
        response = Redirect(url, status_code=303, cookies=[cookie])
        clear_session_cookies(response)
        return response

    @get("/sls")
    async def sls(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
        connection_id: FromPath[str],
    ) -> Response[Any]:
        """The IdP's logout messages (HTTP-Redirect): its LogoutResponse to our request (303 to
        ``/``), or its LogoutRequest (the person's sessions end; 303 back with our signed
        LogoutResponse). Refusals are the failure page (400) and a failure record."""
        db = db_session
        connection = await sign_in_connection(db, connection_id, "saml")
        query = request.scope["query_string"].decode("latin-1")
        try:
            sp = await load_sp(db, connection, tenant.id, saml_box(runtime.settings))
            idp = load_idp(connection)
            answered = peek_logout_response(query)
            if answered is not None:
                await take_flow(
                    db,
                    connection_id=connection.id,
                    kind="saml",
                    handle=logout_handle(answered),
                    browser=browser_hash(browser_token(request)),
                )
                await db.commit()
            outcome = process_logout(sp, idp, query_string=query, expected_request_id=answered)
        except SsoRejected as rejected:
            return await fail(request, db, tenant, connection, rejected, test=False)
        if isinstance(outcome, LogoutCompleted):
            done = Redirect("/", status_code=303)
            forget_browser(done, request)
            return done
        response = Redirect(outcome.redirect_url, status_code=303)
        identity = await identity_of_subject(db, connection.id, outcome.name_id)
        if identity is not None:
            viewer = await accounts.authenticate(db, request.cookies.get(SESSION_COOKIE))
            ended = await end_user_sessions(db, identity.user_id)
            identity.session_index = None
            record_event(
                db, "user.logout", actor=f"sso:{connection.id}", target=str(identity.user_id),
                ip=accounts.Client.of(request).ip,
                detail={"sso": str(connection.id), "method": "saml_slo", "sessions": ended},
            )  # fmt: skip
            await db.commit()
            if viewer is not None and viewer.id == identity.user_id:
                clear_session_cookies(response)
        return response


#: The route handlers the SSO plugin registers.
SAML_CONTROLLERS: list[type[Controller]] = [SamlController]
