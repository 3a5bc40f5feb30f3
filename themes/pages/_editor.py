"""``/admin/branding``: the tenant admin's branding editor (HTML, tenant hosts only).

Nobody signed in: 303 to ``/login?next=...``. A signed-in member: a 403 page. The form posts
(multipart: it carries the logo and favicon) to ``POST /admin/branding`` with ``action`` ``save``
or ``publish``; it calls the same service functions as the JSON API (``themes.service``), so
the rules, the audit log and the publish path are the API's. Success redirects back
(post/redirect/get) with a one-time flash message; a refused post stores nothing and shows the
form again, as typed, with each error next to its field (a contrast error with its ratio).
Restoring a version is ``POST /admin/branding/versions/{version}/restore``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from themes import service
from themes.assets import LIMITS
from themes.pages._common import EDITOR_HEADERS, admin_or_refusal, reload_route, render_page
from themes.pages._form import FIELD_LIMITS, field_errors, patch_from_form
from themes.pages._static import static_url
from themes.pages._view import editor_view
from whitelabel.accounts.models import User
from whitelabel.accounts.pages._common import (
    AnyRequest,
    Flash,
    client_of,
    flash_cookie,
    forget_flash,
    read_flash,
    read_form,
)
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant, DbSession, RuntimeDep
from whitelabel.errors import ClientError, NotFound, ValidationFailed

__all__ = ["BrandingPageController"]

PAGE = "/admin/branding"
ACTIONS = ("save", "publish")
UPLOADS = ("logo", "favicon")
#: Both images at their limits, the text fields, and the multipart framing; larger bodies are
#: refused (413) before anything is read.
BODY_LIMIT = sum(limit.max_bytes for limit in LIMITS.values()) * 2 + 1024 * 1024

#: Versions are PostgreSQL ``integer``s; a larger number in the path names no version.
MAX_VERSION = 2**31 - 1

Errors = dict[str, list[dict[str, Any]]]


def _version_number(raw: str) -> int:
    """The version number in a path (checked after the admin check, so that nobody learns
    anything about the route before being let in).

    Raises:
        NotFound: ``version_not_found``: not a number from 1 to :data:`MAX_VERSION`.
    """
    if raw.isascii() and raw.isdigit() and len(raw) <= 10 and 0 < int(raw) <= MAX_VERSION:
        return int(raw)
    shown = raw if len(raw) <= 20 else raw[:20] + "..."
    raise NotFound(f"There is no published version {shown}.", code="version_not_found")


async def _names(db: AsyncSession, actors: Sequence[str]) -> dict[str, str]:
    """Actor id → the user's email, for the actors that are users of this tenant."""
    ids = []
    for actor in set(actors):
        try:
            ids.append(uuid.UUID(actor))
        except ValueError:
            continue  # a system actor ("demo", "platform") is shown as it is
    if not ids:
        return {}
    rows = await db.execute(select(User.id, User.email).where(User.id.in_(ids)))
    return {str(user_id): email for user_id, email in rows}


async def _page(
    request: AnyRequest,
    tenant: TenantContext,
    db: AsyncSession,
    viewer: User,
    *,
    status: int = 200,
    values: Mapping[str, str] | None = None,
    errors: Errors | None = None,
    others: Sequence[dict[str, Any]] = (),
    error: str = "",
    flash: Flash | None = None,
) -> Response[Any]:
    draft = await service.get_draft(db, tenant)
    versions = await service.list_versions(db, tenant)
    names = await _names(db, [v.created_by for v in versions])
    editor = editor_view(
        draft, versions, names=names, values=values, errors=errors, other_errors=others
    )
    response = render_page(
        request,
        "admin/branding.html",
        status=status,
        tenant=tenant,
        viewer=viewer,
        editor=editor,
        flash=flash,
        error=error,
        static={"js": static_url("editor.js"), "css": static_url("editor.css")},
    )
    if flash is not None:
        forget_flash(response)
    return response


def _add(errors: Errors, field: str, message: str, **extra: Any) -> None:
    errors.setdefault(field, []).append({"field": field, "message": message, **extra})


def _merge(errors: Errors, others: list[dict[str, Any]], exc: ClientError, field: str) -> None:
    """Put the errors of ``exc`` next to their fields (``field`` when it names none)."""
    by_field, rest = field_errors(exc.detail)
    for name, items in by_field.items():
        errors.setdefault(name, []).extend(items)
    if not by_field and not rest:
        _add(errors, field, exc.message, code=exc.code)
    others.extend(rest)


async def _uploads(request: AnyRequest, errors: Errors) -> dict[str, bytes]:
    """The chosen image files. A file input left empty sends an empty part with no file name
    (no upload); text in an upload field, or two files in one, is an error of that field."""
    form = await request.form()
    files: dict[str, bytes] = {}
    for name in UPLOADS:
        chosen: list[bytes] = []
        for item in form.getall(name, []):
            if not isinstance(item, UploadFile):
                if item:
                    _add(errors, name, "Choose an image file.", code="invalid_upload")
                continue
            data = await item.read()
            if data or item.filename:
                chosen.append(data)
        if len(chosen) > 1:
            _add(errors, name, "Choose one image file.", code="invalid_upload")
        elif chosen and name not in errors:
            files[name] = chosen[0]
    return files


async def _apply(
    request: AnyRequest,
    tenant: TenantContext,
    db: AsyncSession,
    viewer: User,
    values: dict[str, str],
    files: dict[str, bytes],
    errors: Errors,
    others: list[dict[str, Any]],
) -> bool:
    """Save the form into the draft; ``True`` when anything changed. Every part is tried, so
    that every error shows at once; the caller rolls back if any failed."""
    ip = client_of(request).ip
    draft = await service.get_draft(db, tenant)
    patch = patch_from_form(values, draft.base.tokens, current=draft.brand)
    changed = False
    if patch:
        try:
            await service.update_draft(db, tenant, viewer, patch, ip=ip)
            changed = True
        except ValidationFailed as exc:
            _merge(errors, others, exc, "")
    for purpose in UPLOADS:
        remove = values.get(f"remove_{purpose}") == "1"
        try:
            if purpose in files:
                await service.set_asset(db, tenant, viewer, purpose, files[purpose], ip=ip)
                changed = True
            elif remove:
                await service.clear_asset(db, tenant, viewer, purpose, ip=ip)
                changed = True
        except ValidationFailed as exc:
            by_field, rest = field_errors(exc.detail)
            message = exc.message[:1].upper() + exc.message[1:]
            _add(errors, purpose, message, code=exc.code)
            others.extend(rest if by_field else [])
    return changed


class BrandingPageController(Controller):
    """The tenant admin's branding editor."""

    path = PAGE
    response_headers = EDITOR_HEADERS
    include_in_schema = False

    @get("/")
    async def branding_page(
        self, request: AnyRequest, tenant: CurrentTenant, db_session: DbSession
    ) -> Response[Any]:
        """The editor: the draft's fields, live contrast, previews and history (admins)."""
        viewer = await admin_or_refusal(request, tenant, db_session)
        if not isinstance(viewer, User):
            return viewer
        flash = read_flash(request, tenant)
        return await _page(request, tenant, db_session, viewer, flash=flash)

    @post("/", status_code=303, request_max_body_size=BODY_LIMIT)
    async def save(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> Response[Any]:
        """Save the form into the draft, and with ``action=publish`` publish it."""
        viewer = await admin_or_refusal(request, tenant, db_session, PAGE)
        if not isinstance(viewer, User):
            return viewer
        values, too_long = await read_form(request, dict(FIELD_LIMITS))
        errors: Errors = {}
        others: list[dict[str, Any]] = []
        for name, message in too_long.items():
            _add(errors, name, message, code="invalid_field")
        action = values.get("action", "")
        if action not in ACTIONS:
            _add(errors, "action", "Choose Save draft or Publish.", code="invalid_action")
        files = await _uploads(request, errors)
        if errors:
            return await _page(
                request, tenant, db_session, viewer, status=400, values=values,
                errors=errors, others=[*others, *errors.pop("action", [])],
            )  # fmt: skip
        changed = await _apply(request, tenant, db_session, viewer, values, files, errors, others)
        if errors or others:
            await db_session.rollback()  # a refused form changes and records nothing
            await db_session.refresh(viewer)
            return await _page(
                request, tenant, db_session, viewer, status=422, values=values,
                errors=errors, others=others,
            )  # fmt: skip
        if action == "save":
            text = "Draft saved. The previews show it; publish to show it to everyone."
            if not changed:
                text = "Nothing changed."
            return self._done(request, tenant, Flash("ok", text))
        try:
            info = await service.publish(
                db_session,
                tenant,
                viewer,
                redis_url=runtime.settings.redis_url,
                ip=client_of(request).ip,
            )
        except ClientError as exc:  # no draft: nothing was ever changed
            await db_session.rollback()
            await db_session.refresh(viewer)
            return await _page(
                request, tenant, db_session, viewer, status=exc.status_code, error=exc.message
            )
        await reload_route(runtime, tenant)
        text = f"Published version {info.version}: everyone sees it now."
        return self._done(request, tenant, Flash("ok", text))

    @post("/versions/{version:str}/restore", status_code=303)
    async def restore(
        self,
        version: FromPath[str],
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
    ) -> Response[Any]:
        """Publish a copy of an earlier version as the next version."""
        viewer = await admin_or_refusal(request, tenant, db_session, PAGE)
        if not isinstance(viewer, User):
            return viewer
        try:
            number = _version_number(version)
            info = await service.restore(
                db_session,
                tenant,
                viewer,
                number,
                redis_url=runtime.settings.redis_url,
                ip=client_of(request).ip,
            )
        except ClientError as exc:
            await db_session.rollback()
            await db_session.refresh(viewer)
            return await _page(
                request, tenant, db_session, viewer, status=exc.status_code, error=exc.message
            )
        await reload_route(runtime, tenant)
        text = f"Version {number} is live again, as version {info.version}."
        return self._done(request, tenant, Flash("ok", text))

    @staticmethod
    def _done(request: AnyRequest, tenant: TenantContext, flash: Flash) -> Response[Any]:
        return Redirect(PAGE, status_code=303, cookies=[flash_cookie(request, tenant, flash)])
