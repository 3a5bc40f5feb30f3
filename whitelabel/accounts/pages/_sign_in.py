"""``/login``, ``/signup`` and ``/logout``: the sign-in pages (HTML forms, tenant hosts only).

A successful form post answers 303 (post/redirect/get) with the session cookies set by
``session_cookies``; a refused one renders the form again with the message next to its field,
the entered email and name (never the password) and the status of the error.

Single sign-on on ``/login``: the SSO module registers an :class:`SsoSignIn` in the app's state
under :data:`SSO_SIGN_IN` (accounts never imports ``sso``, which builds on accounts). The page
then offers a "Sign in with ..." link per enabled connection and, when a connection owns email
domains, email-first routing: ``POST /login/sso`` sends the email's owner on to their connection
or says that the domain has none. Without a registered ``SsoSignIn`` the page is the password
form alone and ``/login/sso`` does not exist (404).

The way on is a page that refreshes to the connection's sign-in (``<meta http-equiv=refresh>``,
with a link), not a 303: the pages' CSP says ``form-action 'self'``, and browsers apply it to
every redirect of a form submission, so a 303 that leads on to the identity provider is blocked
(Chromium does; the refresh is a navigation, not a form submission).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from litestar import Controller, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts import links, service
from whitelabel.accounts.cookies import clear_session_cookies, session_cookies
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.errors import SignupDisabled
from whitelabel.accounts.pages._common import (
    MAX_NEXT,
    PAGE_HEADERS,
    AnyRequest,
    client_of,
    error_headers,
    read_form,
    render,
    require,
    safe_next,
    viewer_of,
)
from whitelabel.accounts.settings_service import get_auth_settings
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant, DbSession, RuntimeDep
from whitelabel.errors import ClientError, NotFound, ValidationFailed
from whitelabel.security import ratelimit

__all__ = ["SSO_SIGN_IN", "SignInPagesController", "SsoButton", "SsoOffer", "SsoSignIn"]

#: The ``app.state`` key of the :class:`SsoSignIn` that the SSO module registers.
SSO_SIGN_IN = "sso_sign_in"


@dataclass(frozen=True, slots=True)
class SsoButton:
    """A "Sign in with <label>" link of the sign-in page."""

    label: str
    href: str
    """A local path that starts the sign-in (it carries ``next``)."""


@dataclass(frozen=True, slots=True)
class SsoOffer:
    """What the sign-in page offers besides the password form."""

    buttons: Sequence[SsoButton] = ()
    email_first: bool = False
    """Whether some connection owns email domains (the page then asks for the email)."""


class SsoSignIn(Protocol):
    """The tenant's single sign-on as the sign-in page sees it (in the request's tenant)."""

    async def offer(self, db: AsyncSession, next_: str) -> SsoOffer:
        """The buttons and whether email-first routing is offered; ``next_`` is a safe path."""
        ...

    async def route(self, db: AsyncSession, email: str, next_: str) -> SsoButton | None:
        """The connection owning the domain of ``email`` (its name and the local path that
        signs in through it), or ``None`` when no enabled connection owns it."""
        ...


def _sso(request: AnyRequest) -> SsoSignIn | None:
    found: SsoSignIn | None = request.app.state.get(SSO_SIGN_IN)
    return found


#: Longest accepted form values; longer ones are refused before any work (the service's own
#: limits are lower and give the precise message).
_LOGIN_FIELDS = {"email": 320, "password": 1024, "next": MAX_NEXT}
_LOGIN_SSO_FIELDS = {"email": 320, "next": MAX_NEXT}
_SIGNUP_FIELDS = {"email": 320, "password": 1024, "display_name": 1000, "next": MAX_NEXT}
NextParam = Annotated[str | None, QueryParameter(name="next", required=False)]
_REQUIRED = {
    "display_name": "Enter your name.",
    "email": "Enter your email address.",
    "password": "Enter your password.",
}


def _check_required(values: dict[str, str], errors: dict[str, str], *names: str) -> None:
    errors.pop("next", None)  # a bad ``next`` is simply ignored (it becomes ``/``)
    require(values, errors, {name: _REQUIRED[name] for name in names})


def _signup_closed(request: AnyRequest, tenant: TenantContext) -> Response[Any]:
    return render(
        request,
        tenant,
        "message.html",
        status=SignupDisabled.status_code,
        heading="Sign-up is closed",
        message=f"{tenant.name} does not take new sign-ups here. Ask an admin for an invitation.",
        links=[("/login", "Sign in")],
    )


async def _login_form(
    request: AnyRequest,
    tenant: TenantContext,
    db: AsyncSession,
    *,
    status: int = 200,
    next_: str = "/",
    email: str = "",
    errors: dict[str, str] | None = None,
    error: str = "",
    headers: dict[str, str] | None = None,
    sso_email: str = "",
    sso_error: str = "",
    sso_notice: str = "",
    sso_link: SsoButton | None = None,
    sso_continue: SsoButton | None = None,
) -> Response[Any]:
    sso = _sso(request)
    return render(
        request,
        tenant,
        "login.html",
        status=status,
        headers=headers,
        options=await get_auth_settings(db),
        viewer=await viewer_of(request, db) if status == 200 else None,
        next=next_,
        email=email,
        errors=errors or {},
        error=error,
        sso=await sso.offer(db, next_) if sso is not None else None,
        sso_email=sso_email,
        sso_error=sso_error,
        sso_notice=sso_notice,
        sso_link=sso_link,
        sso_continue=sso_continue,
    )


def _signup_form(
    request: AnyRequest,
    tenant: TenantContext,
    *,
    status: int = 200,
    next_: str = "/",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    values = values or {}
    return render(
        request,
        tenant,
        "signup.html",
        status=status,
        headers=headers,
        next=next_,
        email=values.get("email", ""),
        display_name=values.get("display_name", ""),
        errors=errors or {},
        error=error,
    )


class SignInPagesController(Controller):
    """The sign-in, sign-up and sign-out pages of the request's tenant."""

    response_headers = PAGE_HEADERS
    include_in_schema = False

    @get("/login")
    async def login_page(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        next_: NextParam = None,
    ) -> Response[Any]:
        """The sign-in form; ``next`` is where a successful sign-in goes (a local path)."""
        return await _login_form(request, tenant, db_session, next_=safe_next(next_))

    @post("/login", status_code=303)
    async def login(
        self, request: AnyRequest, tenant: CurrentTenant, db_session: DbSession
    ) -> Response[Any]:
        """Sign in with the form's email and password; 303 to ``next`` (or ``/``)."""
        values, errors = await read_form(request, _LOGIN_FIELDS)
        next_ = safe_next(values.get("next"))
        _check_required(values, errors, "email", "password")
        email = values.get("email", "")
        if errors:
            return await _login_form(
                request, tenant, db_session, status=400, next_=next_, email=email, errors=errors
            )
        try:
            await ratelimit.enforce(request, "login", account=email)
            _, token = await service.log_in(
                db_session,
                email=email,
                password=values["password"],
                client=client_of(request),
                old_token=request.cookies.get(SESSION_COOKIE),
            )
        except ClientError as exc:
            await db_session.rollback()  # log_in commits its audit record itself
            sso = _sso(request)
            return await _login_form(
                request,
                tenant,
                db_session,
                status=exc.status_code,
                next_=next_,
                email=email,
                error=exc.message,
                headers=error_headers(exc),
                # A domain that must sign in through SSO: the way there, next to the refusal.
                sso_link=await sso.route(db_session, email, next_)
                if sso is not None and exc.code == "sso_required"
                else None,
            )
        await ratelimit.forgive(request, "login", account=email)  # only failures count
        return Redirect(next_, status_code=303, cookies=session_cookies(request, tenant, token))

    @post("/login/sso", status_code=200)
    async def login_sso(
        self, request: AnyRequest, tenant: CurrentTenant, db_session: DbSession
    ) -> Response[Any]:
        """Email-first sign-in: on to the SSO connection that owns the email's domain (a page
        that refreshes to its sign-in), or the sign-in page again saying to use the password
        (the email filled in)."""
        sso = _sso(request)
        if sso is None:
            raise NotFound("There is nothing at this address.")
        values, errors = await read_form(request, _LOGIN_SSO_FIELDS)
        next_ = safe_next(values.get("next"))
        _check_required(values, errors, "email")
        email = values.get("email", "").strip()
        local, at, domain = email.rpartition("@")
        if not errors and not (at and local and domain):
            errors["email"] = "Enter your email address, such as ada@example.edu."
        if errors:
            return await _login_form(
                request, tenant, db_session, status=400, next_=next_,
                sso_email=email if "email" in values else "", sso_error=errors["email"],
            )  # fmt: skip
        target = await sso.route(db_session, email, next_)
        if target is not None:
            return await _login_form(
                request, tenant, db_session, next_=next_, sso_email=email, sso_continue=target
            )
        return await _login_form(
            request, tenant, db_session, next_=next_, email=email, sso_email=email,
            sso_notice="No single sign-on for this domain: use your password.",
        )  # fmt: skip

    @get("/signup")
    async def signup_page(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        next_: NextParam = None,
    ) -> Response[Any]:
        """The sign-up form, or a 403 page saying sign-up is closed."""
        if not (await get_auth_settings(db_session)).self_signup:
            return _signup_closed(request, tenant)
        return _signup_form(request, tenant, next_=safe_next(next_))

    @post("/signup", status_code=303)
    async def signup(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> Response[Any]:
        """Create an account from the form and sign it in; 303 to ``next`` (or ``/``)."""
        if not (await get_auth_settings(db_session)).self_signup:
            return _signup_closed(request, tenant)
        values, errors = await read_form(request, _SIGNUP_FIELDS)
        next_ = safe_next(values.get("next"))
        _check_required(values, errors, "display_name", "email", "password")
        if errors:
            return _signup_form(
                request, tenant, status=400, next_=next_, values=values, errors=errors
            )
        try:
            await ratelimit.enforce(request, "signup")
            user, token = await service.sign_up(
                db_session,
                email=values["email"],
                password=values["password"],
                display_name=values["display_name"],
                client=client_of(request),
            )
            await links.send_verification(  # as the API does: the link comes to this host
                db_session,
                tenant=tenant,
                user=user,
                base_url=f"{request.url.scheme}://{request.url.netloc}",
                settings=runtime.settings,
            )
        except SignupDisabled:
            await db_session.rollback()
            return _signup_closed(request, tenant)
        except ClientError as exc:
            await db_session.rollback()  # nothing of a refused sign-up is kept
            if isinstance(exc, ValidationFailed):  # invalid input costs nothing (as in the API)
                await ratelimit.forgive(request, "signup")
            field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
            return _signup_form(
                request,
                tenant,
                status=exc.status_code,
                next_=next_,
                values=values,
                errors={field: exc.message} if field in _SIGNUP_FIELDS else None,
                error="" if field in _SIGNUP_FIELDS else exc.message,
                headers=error_headers(exc),
            )
        return Redirect(next_, status_code=303, cookies=session_cookies(request, tenant, token))

    @get("/logout")
    async def logout_page(
        self, request: AnyRequest, tenant: CurrentTenant, db_session: DbSession
    ) -> Response[Any]:
        """A page with a sign-out button (a GET never signs anyone out)."""
        viewer = await viewer_of(request, db_session)
        return render(request, tenant, "logout.html", viewer=viewer)

    @post("/logout", status_code=303)
    async def logout(self, request: AnyRequest, db_session: DbSession) -> Response[Any]:
        """Revoke the session, clear its cookies and go to the sign-in page."""
        await service.log_out(
            db_session, request.cookies.get(SESSION_COOKIE), client=client_of(request)
        )
        response = Redirect("/login", status_code=303)
        clear_session_cookies(response)
        return response
