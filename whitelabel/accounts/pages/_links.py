"""The pages behind emailed links: ``/forgot-password``, ``/reset-password?token=``,
``/verify-email?token=`` and ``/invite?token=`` (tenant hosts only).

Opening a link (GET) never uses it up: mail scanners and link previews fetch links too. Each GET
shows a form that carries the token in a hidden field; the person's POST does the work through
:mod:`whitelabel.accounts.links`. A link that is not valid (malformed, expired, used, another
tenant's) gets one 400 page whatever the reason, as the API gives one ``invalid_token``.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts import links, service
from whitelabel.accounts.cookies import session_cookies
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.pages._common import (
    PAGE_HEADERS,
    AnyRequest,
    client_of,
    error_headers,
    read_form,
    render,
    require,
)
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant, DbSession, RuntimeDep
from whitelabel.errors import ClientError, ValidationFailed
from whitelabel.security import ratelimit

__all__ = ["LinkPagesController"]

#: Longest accepted link token (real ones are far shorter; longer is refused unread).
MAX_TOKEN = 1000
OptionalQuery = Annotated[str | None, QueryParameter(required=False)]
_BAD_LINK = "This link is not valid. It may have expired or been used already."


def _bad_link(request: AnyRequest, tenant: TenantContext, *, again: str) -> Response[Any]:
    return render(
        request,
        tenant,
        "message.html",
        status=links.InvalidToken.status_code,
        heading="This link does not work",
        message=_BAD_LINK,
        links=[(again, "Ask for a new link"), ("/login", "Sign in")],
    )


def _field_of(exc: ClientError) -> str | None:
    field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
    return field if isinstance(field, str) else None


def _base_url(request: AnyRequest) -> str:
    """``scheme://host[:port]`` of the host the request came in on (links point there)."""
    return f"{request.url.scheme}://{request.url.netloc}"


async def _end_previous_session(request: AnyRequest, db: AsyncSession) -> None:
    """A link that signs someone in replaces the browser's earlier session: revoke it too."""
    await service.log_out(db, request.cookies.get(SESSION_COOKIE), client=client_of(request))


class LinkPagesController(Controller):
    """Forgotten passwords, email verification and invitations, as pages."""

    response_headers = PAGE_HEADERS
    include_in_schema = False

    @get("/forgot-password")
    async def forgot_page(
        self, request: AnyRequest, tenant: CurrentTenant, sent: OptionalQuery = None
    ) -> Response[Any]:
        """The form that asks for a reset link (``?sent=1`` after a request)."""
        return render(
            request, tenant, "forgot_password.html", sent=sent == "1", email="", errors={}
        )

    @post("/forgot-password", status_code=303)
    async def forgot(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> Response[Any]:
        """Mail a reset link if the address has an account; the answer is the same either way."""
        values, errors = await read_form(request, {"email": 320})
        email = values.get("email", "")
        require(values, errors, {"email": "Enter your email address."})
        if not errors:
            try:
                await ratelimit.enforce(request, "password_reset", account=email)
                await links.request_password_reset(
                    db_session,
                    tenant=tenant,
                    email=email,
                    base_url=_base_url(request),
                    client=client_of(request),
                    settings=runtime.settings,
                )
            except ClientError as exc:
                await db_session.rollback()
                field = _field_of(exc)
                return render(
                    request,
                    tenant,
                    "forgot_password.html",
                    status=exc.status_code,
                    headers=error_headers(exc),
                    email=email,
                    errors={field: exc.message} if field == "email" else {},
                    error="" if field == "email" else exc.message,
                )
            return Redirect("/forgot-password?sent=1", status_code=303)
        return render(
            request, tenant, "forgot_password.html", status=400, email=email, errors=errors
        )

    @get("/reset-password")
    async def reset_page(
        self, request: AnyRequest, tenant: CurrentTenant, token: OptionalQuery = None
    ) -> Response[Any]:
        """The new-password form of a reset link (the link is checked when it is posted)."""
        if not token or len(token) > MAX_TOKEN:
            return _bad_link(request, tenant, again="/forgot-password")
        return render(request, tenant, "reset_password.html", token=token, errors={})

    @post("/reset-password", status_code=303)
    async def reset(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> Response[Any]:
        """Set the new password, end every session and sign in here; 303 to ``/``."""
        values, errors = await read_form(request, {"token": MAX_TOKEN, "password": 1024})
        token = values.get("token", "")
        if not token:
            return _bad_link(request, tenant, again="/forgot-password")
        require(values, errors, {"password": "Enter a new password."})
        if errors:
            return render(
                request, tenant, "reset_password.html", status=400, token=token, errors=errors
            )
        try:
            _, session = await links.reset_password(
                db_session,
                tenant=tenant,
                token=token,
                password=values["password"],
                client=client_of(request),
                settings=runtime.settings,
            )
        except links.InvalidToken:
            await db_session.rollback()
            return _bad_link(request, tenant, again="/forgot-password")
        except ValidationFailed as exc:
            await db_session.rollback()  # nothing changed: the link still works
            return render(
                request,
                tenant,
                "reset_password.html",
                status=exc.status_code,
                token=token,
                errors={"password": exc.message},
            )
        await _end_previous_session(request, db_session)
        return Redirect("/", status_code=303, cookies=session_cookies(request, tenant, session))

    @get("/verify-email")
    async def verify_page(
        self, request: AnyRequest, tenant: CurrentTenant, token: OptionalQuery = None
    ) -> Response[Any]:
        """A button that confirms the address of a verification link."""
        if not token or len(token) > MAX_TOKEN:
            return _bad_link(request, tenant, again="/login")
        return render(request, tenant, "verify_email.html", token=token)

    @post("/verify-email")
    async def verify(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> Response[Any]:
        """Mark the link's address verified; says so on a page."""
        values, _ = await read_form(request, {"token": MAX_TOKEN})
        token = values.get("token", "")
        if not token:
            return _bad_link(request, tenant, again="/login")
        try:
            user = await links.verify_email(
                db_session,
                tenant=tenant,
                token=token,
                client=client_of(request),
                settings=runtime.settings,
            )
        except links.InvalidToken:
            await db_session.rollback()
            return _bad_link(request, tenant, again="/login")
        return render(
            request,
            tenant,
            "message.html",
            heading="Email address confirmed",
            message=f"{user.email} is confirmed. Thank you.",
            links=[("/", f"Go to {tenant.name}")],
        )

    @get("/invite")
    async def invite_page(
        self, request: AnyRequest, tenant: CurrentTenant, token: OptionalQuery = None
    ) -> Response[Any]:
        """The form that accepts an invitation: a name and a password."""
        if not token or len(token) > MAX_TOKEN:
            return _bad_link(request, tenant, again="/login")
        return render(
            request, tenant, "invite.html", token=token, display_name="", errors={}, error=""
        )

    @post("/invite", status_code=303)
    async def accept(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> Response[Any]:
        """Create the invited account with the invitation's role and sign it in; 303 to ``/``."""
        values, errors = await read_form(
            request, {"token": MAX_TOKEN, "display_name": 1000, "password": 1024}
        )
        token = values.get("token", "")
        if not token:
            return _bad_link(request, tenant, again="/login")
        name = values.get("display_name", "")
        require(
            values, errors, {"display_name": "Enter your name.", "password": "Enter a password."}
        )
        if errors:
            return render(
                request, tenant, "invite.html", status=400, token=token, display_name=name,
                errors=errors, error="",
            )  # fmt: skip
        try:
            await ratelimit.enforce(request, "invite_accept")
            _, session = await links.accept_invitation(
                db_session,
                tenant=tenant,
                token=token,
                password=values["password"],
                display_name=name,
                client=client_of(request),
                settings=runtime.settings,
            )
        except links.InvalidToken:
            await db_session.rollback()
            return _bad_link(request, tenant, again="/login")
        except ClientError as exc:  # a weak password, a bad name, already a member, 429
            await db_session.rollback()
            field = _field_of(exc)
            known = field in ("display_name", "password")
            return render(
                request,
                tenant,
                "invite.html",
                status=exc.status_code,
                headers=error_headers(exc),
                token=token,
                display_name=name,
                errors={field: exc.message} if known and field else {},
                error="" if known else exc.message,
            )
        await _end_previous_session(request, db_session)
        return Redirect("/", status_code=303, cookies=session_cookies(request, tenant, session))
