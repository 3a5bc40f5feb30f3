"""``/admin/users``: the tenant admin's user list and its actions (HTML, tenant hosts only).

Nobody signed in: 303 to ``/login?next=...``. A signed-in member: a 403 page. Actions are form
posts to ``POST /admin/users/{id}`` that call ``admin_service`` (which checks the rules again in
the transaction); success redirects back to the list (post/redirect/get) with a one-time signed
flash message, a refused action renders the list with the error and the error's status.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts import admin_service
from whitelabel.accounts.models import ROLES, STATUSES, User
from whitelabel.accounts.pages._common import (
    MAX_NEXT,
    PAGE_HEADERS,
    AnyRequest,
    Flash,
    admin_or_refusal,
    client_of,
    flash_cookie,
    forget_flash,
    read_flash,
    read_form,
    render,
    safe_next,
)
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant, DbSession
from whitelabel.errors import ClientError, ValidationFailed

__all__ = ["AdminUsersPageController"]

LIST = "/admin/users"
ACTIONS = ("role", "disable", "enable", "revoke_sessions")
Query = Annotated[str | None, QueryParameter(required=False)]
_DOING = "Managing the users"


def _back(raw: str | None) -> str:
    """The list page to return to: the posted ``back`` if it is one, else the plain list."""
    back = safe_next(raw)
    return back if back == LIST or back.startswith(LIST + "?") else LIST


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return admin_service.DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise ValidationFailed(
            f"The limit is 1-{admin_service.MAX_LIMIT}.",
            code="invalid_limit",
            detail={"field": "limit"},
        )
    return int(raw)


async def _list_page(
    request: AnyRequest,
    tenant: TenantContext,
    db: AsyncSession,
    viewer: User,
    filters: dict[str, str],
    *,
    after: str | None = None,
    limit: str | None = None,
    status: int = 200,
    error: str = "",
    flash: Flash | None = None,
) -> Response[Any]:
    users: list[User] = []
    next_url = None
    try:
        page = await admin_service.list_users(
            db,
            query=filters["q"] or None,
            role=filters["role"] or None,
            status=filters["status"] or None,
            after=after or None,
            limit=_limit(limit),
        )
    except ClientError as exc:  # a bad filter: say so, list nothing
        status, error = exc.status_code, exc.message
    else:
        users = page.items
        if page.next:
            query = {k: v for k, v in filters.items() if v}
            if limit:
                query["limit"] = limit
            next_url = f"{LIST}?{urlencode({**query, 'after': page.next})}"
    target = request.scope["path"]
    if request.scope["method"] == "GET" and request.scope.get("query_string"):
        target += "?" + request.scope["query_string"].decode("latin-1")
    response = render(
        request,
        tenant,
        "admin_users.html",
        status=status,
        viewer=viewer,
        users=users,
        filters=filters,
        roles=ROLES,
        statuses=STATUSES,
        next_url=next_url,
        back=_back(target),
        error=error,
        flash=flash,
    )
    if flash is not None:
        forget_flash(response)
    return response


def _done(action: str, target: User, revoked: int) -> str:
    if action == "role":
        return f"{target.email} is now {target.role}."
    if action == "disable":
        return f"{target.email} is disabled and signed out everywhere."
    if action == "enable":
        return f"{target.email} is enabled again."
    return f"Ended {revoked} session{'s' if revoked != 1 else ''} of {target.email}."


class AdminUsersPageController(Controller):
    """The tenant admin's user management page."""

    path = LIST
    response_headers = PAGE_HEADERS
    include_in_schema = False

    @get("/")
    async def users_page(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        q: Query = None,
        role: Query = None,
        status: Query = None,
        after: Query = None,
        limit: Query = None,
    ) -> Response[Any]:
        """The users, searched, filtered and a page at a time (admins and owners)."""
        viewer = await admin_or_refusal(request, tenant, db_session, doing=_DOING)
        if isinstance(viewer, Response):
            return viewer
        filters = {"q": q or "", "role": role or "", "status": status or ""}
        flash = read_flash(request, tenant)
        return await _list_page(
            request, tenant, db_session, viewer, filters, after=after, limit=limit, flash=flash
        )

    @post("/{user_id:str}", status_code=303)
    async def user_action(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        user_id: FromPath[str],
    ) -> Response[Any]:
        """Change a user's role, disable or enable them, or end their sessions."""
        # A session that ended since the page was shown signs in again to the list.
        viewer = await admin_or_refusal(request, tenant, db_session, doing=_DOING, target=LIST)
        if isinstance(viewer, Response):
            return viewer
        values, errors = await read_form(request, {"action": 20, "role": 20, "back": MAX_NEXT})
        action = values.get("action", "")
        empty = {"q": "", "role": "", "status": ""}
        try:
            if errors.get("action") or errors.get("role") or action not in ACTIONS:
                raise ValidationFailed(
                    "Choose what to do: change the role, disable, enable or end the sessions.",
                    code="invalid_action",
                    detail={"field": "action"},
                )
            target = await admin_service.get_user(db_session, user_id)
            ip = client_of(request).ip
            revoked = 0
            if action == "role":
                await admin_service.change_role(
                    db_session, viewer, target, values.get("role", ""), ip=ip
                )
            elif action in ("disable", "enable"):
                new_status = "disabled" if action == "disable" else "active"
                await admin_service.set_status(db_session, viewer, target, new_status, ip=ip)
            else:
                revoked = await admin_service.revoke_sessions(db_session, viewer, target, ip=ip)
        except ClientError as exc:
            await db_session.rollback()  # a refused action changes and records nothing
            await db_session.refresh(viewer)
            return await _list_page(
                request, tenant, db_session, viewer, empty, status=exc.status_code,
                error=exc.message,
            )  # fmt: skip
        flash = Flash("ok", _done(action, target, revoked))
        return Redirect(
            _back(values.get("back")),
            status_code=303,
            cookies=[flash_cookie(request, tenant, flash)],
        )
