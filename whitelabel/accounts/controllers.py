"""HTTP handlers of accounts: ``/api/v1/auth/*``, ``/api/v1/me`` and ``/api/v1/admin/users``
(tenant hosts only)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from whitelabel.accounts import admin_service, links, service
from whitelabel.accounts.cookies import clear_session_cookies, session_cookies
from whitelabel.accounts.deps import SESSION_COOKIE, CurrentUser
from whitelabel.accounts.guards import require_admin
from whitelabel.accounts.models import User
from whitelabel.accounts.schemas import (
    AdminUserView,
    LoginIn,
    MeView,
    SignupIn,
    TenantRef,
    UserPageView,
    UserPatchIn,
)
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant, DbSession, RuntimeDep
from whitelabel.errors import ValidationFailed
from whitelabel.security import ratelimit

__all__ = ["SESSION_COOKIE", "AdminUsersController", "AuthController", "MeController"]

AnyRequest = Request[Any, Any, Any]


def _client(request: AnyRequest) -> service.Client:
    return service.Client.of(request)


def _view(user: User, tenant: TenantContext) -> MeView:
    return MeView(
        id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        tenant=TenantRef(slug=tenant.slug, name=tenant.name),
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
        runtime: RuntimeDep,
    ) -> Response[MeView]:
        """Create an account (the tenant's first becomes ``owner``), sign it in and mail it a
        verification link. Rate-limited per client address (``signup``; refused input does
        not count)."""
        await ratelimit.enforce(request, "signup")
        try:
            user, token = await service.sign_up(
                db_session,
                email=data.email,
                password=data.password,
                display_name=data.display_name,
                client=_client(request),
            )
        except ValidationFailed:
            await ratelimit.forgive(request, "signup")
            raise
        await links.send_verification(  # the link goes to the host the sign-up came in on
            db_session,
            tenant=tenant,
            user=user,
            base_url=f"{request.url.scheme}://{request.url.netloc}",
            settings=runtime.settings,
        )
        view = _view(user, tenant)
        return Response(view, status_code=201, cookies=session_cookies(request, tenant, token))

    @post("/login", status_code=200)
    async def login(
        self,
        request: AnyRequest,
        data: JSONBody[LoginIn],
        tenant: CurrentTenant,
        db_session: DbSession,
    ) -> Response[MeView]:
        """Sign in; always starts a new session with a new token. Rate-limited (``login``) per
        client address and per account before any password work; a success does not count
        against the account."""
        await ratelimit.enforce(request, "login", account=data.email)
        user, token = await service.log_in(
            db_session,
            email=data.email,
            password=data.password,
            client=_client(request),
            old_token=request.cookies.get(SESSION_COOKIE),
        )
        await ratelimit.forgive(request, "login", account=data.email)
        return Response(_view(user, tenant), cookies=session_cookies(request, tenant, token))

    @post("/logout", status_code=204)
    async def logout(self, request: AnyRequest, db_session: DbSession) -> Response[None]:
        """Revoke the current session (if any) and clear the cookie."""
        await service.log_out(
            db_session, request.cookies.get(SESSION_COOKIE), client=_client(request)
        )
        response: Response[None] = Response(None, status_code=204)
        clear_session_cookies(response)
        return response


class MeController(Controller):
    """The signed-in user."""

    path = "/api/v1/me"

    @get("/")
    async def me(self, tenant: CurrentTenant, current_user: CurrentUser) -> MeView:
        """The user of the session cookie, or 401 ``not_authenticated``."""
        return _view(current_user, tenant)


def _admin_view(user: User) -> AdminUserView:
    return AdminUserView(
        id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        status=user.status,
        email_verified=user.email_verified,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def _limit(raw: str | None) -> int:
    if raw is None:
        return admin_service.DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise ValidationFailed(
            f"The limit is 1-{admin_service.MAX_LIMIT}.",
            code="invalid_limit",
            detail={"field": "limit"},
        )
    return int(raw)


class AdminUsersController(Controller):
    """Tenant admin user management; every route needs an ``admin`` or ``owner``."""

    path = "/api/v1/admin/users"
    guards = [require_admin]

    @get("/")
    async def list_users(
        self,
        db_session: DbSession,
        current_user: CurrentUser,
        q: FromQuery[str | None] = None,
        role: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
    ) -> UserPageView:
        """Users ordered by email, searched and filtered; ``next`` is the cursor for ``after``."""
        page = await admin_service.list_users(
            db_session, query=q, role=role, status=status, after=after, limit=_limit(limit)
        )
        return UserPageView(items=[_admin_view(u) for u in page.items], next=page.next)

    @patch("/{user_id:str}")
    async def update_user(
        self,
        request: AnyRequest,
        user_id: FromPath[str],
        data: JSONBody[UserPatchIn],
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> AdminUserView:
        """Change the role and/or the status; both or neither (one transaction)."""
        target = await admin_service.get_user(db_session, user_id)
        ip = _client(request).ip
        if data.role is not None:
            await admin_service.change_role(db_session, current_user, target, data.role, ip=ip)
        if data.status is not None:
            await admin_service.set_status(db_session, current_user, target, data.status, ip=ip)
        return _admin_view(target)

    @post("/{user_id:str}/revoke-sessions", status_code=204)
    async def revoke_sessions(
        self,
        request: AnyRequest,
        user_id: FromPath[str],
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> None:
        """End all the user's sessions."""
        target = await admin_service.get_user(db_session, user_id)
        await admin_service.revoke_sessions(
            db_session, current_user, target, ip=_client(request).ip
        )
