"""HTTP handlers of emailed links, invitations and a user's own security (tenant hosts only):
``/api/v1/auth/password-reset``, ``/api/v1/auth/verify-email``,
``/api/v1/auth/invitations/accept``, ``/api/v1/admin/invitations``, ``/api/v1/me/password`` and
``/api/v1/me/sign-out-everywhere``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from whitelabel.accounts import links
from whitelabel.accounts.controllers import _client, _view
from whitelabel.accounts.cookies import clear_session_cookies, session_cookies
from whitelabel.accounts.deps import SESSION_COOKIE, CurrentUser
from whitelabel.accounts.guards import require_admin
from whitelabel.accounts.links_schemas import (
    InvitationAcceptIn,
    InvitationIn,
    InvitationListView,
    InvitationView,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    TokenIn,
    VerifiedView,
)
from whitelabel.accounts.schemas import MeView
from whitelabel.deps import CurrentTenant, DbSession, RuntimeDep

__all__ = [
    "LINKS_CONTROLLERS",
    "AdminInvitationsController",
    "InvitationAcceptController",
    "MeSecurityController",
    "PasswordResetController",
    "VerifyEmailController",
    "base_url",
]

AnyRequest = Request[Any, Any, Any]


def _accepted() -> Response[bytes]:
    """202 with an empty body (a new response each time: responses are mutable)."""
    return Response(b"", status_code=202)


def base_url(request: AnyRequest) -> str:
    """``scheme://host[:port]`` of the tenant host the request came in on (links point there)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def _invitation_view(invitation: links.Invitation) -> InvitationView:
    return InvitationView(
        id=str(invitation.id),
        email=invitation.email,
        role=invitation.role,
        invited_by=str(invitation.invited_by) if invitation.invited_by else None,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        status=invitation.status,
    )


class PasswordResetController(Controller):
    """Forgotten passwords: ask for a link, then set a new password with it."""

    path = "/api/v1/auth/password-reset"

    @post("/", status_code=202)
    async def request_reset(
        self,
        request: AnyRequest,
        data: JSONBody[PasswordResetIn],
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> Response[bytes]:
        """Mail a reset link if the address has an account; 202 with no body either way."""
        await links.request_password_reset(
            db_session,
            tenant=tenant,
            email=data.email,
            base_url=base_url(request),
            client=_client(request),
            settings=runtime.settings,
        )
        return _accepted()

    @post("/confirm", status_code=200)
    async def confirm(
        self,
        request: AnyRequest,
        data: JSONBody[PasswordResetConfirmIn],
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> Response[MeView]:
        """Set the new password; every session ends and a new one starts (its cookies)."""
        user, token = await links.reset_password(
            db_session,
            tenant=tenant,
            token=data.token,
            password=data.password,
            client=_client(request),
            settings=runtime.settings,
        )
        return Response(_view(user, tenant), cookies=session_cookies(request, tenant, token))


class VerifyEmailController(Controller):
    """Email verification: (re)send the link, confirm with it."""

    path = "/api/v1/auth/verify-email"

    @post("/", status_code=202)
    async def resend(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
        current_user: CurrentUser,
    ) -> Response[bytes]:
        """Mail the signed-in user a new verification link (409 ``already_verified``); 202 with
        no body."""
        await links.send_verification(
            db_session,
            tenant=tenant,
            user=current_user,
            base_url=base_url(request),
            settings=runtime.settings,
        )
        return _accepted()

    @post("/confirm", status_code=200)
    async def confirm(
        self,
        request: AnyRequest,
        data: JSONBody[TokenIn],
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> VerifiedView:
        """Mark the link's address verified (no session needed)."""
        user = await links.verify_email(
            db_session,
            tenant=tenant,
            token=data.token,
            client=_client(request),
            settings=runtime.settings,
        )
        return VerifiedView(email=user.email, email_verified=user.email_verified)


class InvitationAcceptController(Controller):
    """Accepting an invitation creates the account and signs it in."""

    path = "/api/v1/auth/invitations"

    @post("/accept", status_code=201)
    async def accept(
        self,
        request: AnyRequest,
        data: JSONBody[InvitationAcceptIn],
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> Response[MeView]:
        """Create the invited user with the invitation's role; 201, the user and its cookies."""
        user, token = await links.accept_invitation(
            db_session,
            tenant=tenant,
            token=data.token,
            password=data.password,
            display_name=data.display_name,
            client=_client(request),
            settings=runtime.settings,
        )
        view = _view(user, tenant)
        return Response(view, status_code=201, cookies=session_cookies(request, tenant, token))


class AdminInvitationsController(Controller):
    """Tenant admins' invitations; every route needs an ``admin`` or ``owner``."""

    path = "/api/v1/admin/invitations"
    guards = [require_admin]

    @get("/")
    async def list_invitations(self, db_session: DbSession) -> InvitationListView:
        """The open invitations (``pending`` or ``expired``), newest first."""
        items = await links.list_invitations(db_session)
        return InvitationListView(items=[_invitation_view(i) for i in items])

    @post("/", status_code=201)
    async def invite(
        self,
        request: AnyRequest,
        data: JSONBody[InvitationIn],
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
        current_user: CurrentUser,
    ) -> InvitationView:
        """Invite an address with a role and mail the link (the link is not in the answer)."""
        invitation, _ = await links.create_invitation(
            db_session,
            tenant=tenant,
            email=data.email,
            role=data.role,
            invited_by=current_user,
            base_url=base_url(request),
            ip=_client(request).ip,
            settings=runtime.settings,
        )
        return _invitation_view(invitation)

    @delete("/{invitation_id:str}", status_code=204)
    async def revoke(
        self,
        request: AnyRequest,
        invitation_id: FromPath[str],
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> None:
        """Revoke an open invitation; its link stops working."""
        await links.revoke_invitation(
            db_session, invitation_id=invitation_id, actor=current_user, ip=_client(request).ip
        )


class MeSecurityController(Controller):
    """The signed-in user's own password and sessions."""

    path = "/api/v1/me"

    @post("/password", status_code=200)
    async def change_password(
        self,
        request: AnyRequest,
        data: JSONBody[PasswordChangeIn],
        tenant: CurrentTenant,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> Response[MeView]:
        """Change the password; the session rotates (new cookies), every other one ends."""
        token = await links.change_password(
            db_session,
            user=current_user,
            current_password=data.current_password,
            new_password=data.new_password,
            current_token=request.cookies.get(SESSION_COOKIE) or "",
            client=_client(request),
        )
        view = _view(current_user, tenant)
        return Response(view, cookies=session_cookies(request, tenant, token))

    @post("/sign-out-everywhere", status_code=204)
    async def sign_out_everywhere(
        self, request: AnyRequest, db_session: DbSession, current_user: CurrentUser
    ) -> Response[None]:
        """End every session of the user, this one included, and clear the cookies."""
        await links.sign_out_everywhere(db_session, user=current_user, client=_client(request))
        response: Response[None] = Response(None, status_code=204)
        clear_session_cookies(response)
        return response


#: Every controller of this module, for ``AccountsPlugin``.
LINKS_CONTROLLERS = [
    PasswordResetController,
    VerifyEmailController,
    InvitationAcceptController,
    AdminInvitationsController,
    MeSecurityController,
]
