"""HTTP handlers of accounts: ``/api/v1/auth/*`` and ``/api/v1/me`` (tenant hosts only)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import JSONBody

from whitelabel.accounts import service
from whitelabel.accounts.errors import NotAuthenticated
from whitelabel.accounts.models import User
from whitelabel.accounts.schemas import LoginIn, MeView, SignupIn, TenantRef
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant, DbSession

__all__ = ["SESSION_COOKIE", "AuthController", "MeController"]

SESSION_COOKIE = "wl_session"

AnyRequest = Request[Any, Any, Any]


def _client(request: AnyRequest) -> service.Client:
    return service.Client(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def _view(user: User, tenant: TenantContext) -> MeView:
    return MeView(
        id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        tenant=TenantRef(slug=tenant.slug, name=tenant.name),
    )


def _session_cookie(request: AnyRequest, token: str) -> Cookie:
    """Host-only (no Domain), HttpOnly, SameSite=Lax, Secure on https; lives as long as the
    session's absolute expiry (the server enforces both expiries regardless)."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path="/",
        max_age=int(service.ABSOLUTE_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.scope["scheme"] == "https",
    )


class AuthController(Controller):
    """Sign-up, sign-in and sign-out with email and password."""

    path = "/api/v1/auth"

    @post("/signup", status_code=201)
    async def signup(
        self,
        request: AnyRequest,
        data: JSONBody[SignupIn],
        tenant: CurrentTenant,
        db_session: DbSession,
    ) -> Response[MeView]:
        """Create an account (the tenant's first becomes ``owner``) and sign it in."""
        user, token = await service.sign_up(
            db_session,
            email=data.email,
            password=data.password,
            display_name=data.display_name,
            client=_client(request),
        )
        view = _view(user, tenant)
        return Response(view, status_code=201, cookies=[_session_cookie(request, token)])

    @post("/login", status_code=200)
    async def login(
        self,
        request: AnyRequest,
        data: JSONBody[LoginIn],
        tenant: CurrentTenant,
        db_session: DbSession,
    ) -> Response[MeView]:
        """Sign in; always starts a new session with a new token."""
        user, token = await service.log_in(
            db_session,
            email=data.email,
            password=data.password,
            client=_client(request),
            old_token=request.cookies.get(SESSION_COOKIE),
        )
        return Response(_view(user, tenant), cookies=[_session_cookie(request, token)])

    @post("/logout", status_code=204)
    async def logout(self, request: AnyRequest, db_session: DbSession) -> Response[None]:
        """Revoke the current session (if any) and clear the cookie."""
        await service.log_out(
            db_session, request.cookies.get(SESSION_COOKIE), client=_client(request)
        )
        response: Response[None] = Response(None, status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


class MeController(Controller):
    """The signed-in user."""

    path = "/api/v1/me"

    @get("/")
    async def me(self, request: AnyRequest, tenant: CurrentTenant, db_session: DbSession) -> MeView:
        """The user of the session cookie, or 401 ``not_authenticated``."""
        user = await service.authenticate(db_session, request.cookies.get(SESSION_COOKIE))
        if user is None:
            raise NotAuthenticated("Sign in first.")
        return _view(user, tenant)
