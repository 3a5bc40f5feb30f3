"""Theme routes on tenant hosts: the public theme, the admins' draft API, stylesheets and assets.

Stylesheets (``/theme/{hash}.css``) and assets (``/theme/assets/{sha256}.{ext}``) are addressed
by their content, so they are immutable: cached for a year, with a strong ``ETag`` and ``304``
on ``If-None-Match``. Every version a tenant ever published stays served (pages opened before a
publish keep their look); a hash that is not this tenant's (or a built-in theme's) is a 404.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect

from themes import service
from themes._snapshots import cached_stylesheet, remember_stylesheet
from themes.assets import LIMITS
from themes.brand import theme_of
from themes.schemas import draft_document, theme_document, version_document
from themes.service import default_snapshot
from whitelabel.accounts.deps import CurrentUser
from whitelabel.accounts.guards import require_admin
from whitelabel.accounts.service import Client
from whitelabel.deps import CurrentTenant, DbSession, RuntimeDep
from whitelabel.errors import ClientError, NotFound, ValidationFailed
from whitelabel.runtime import Runtime  # Litestar resolves RuntimeDep by name at run time

__all__ = [
    "IMMUTABLE",
    "ThemeAdminController",
    "asset",
    "public_theme",
    "stylesheet",
]

AnyRequest = Request[Any, Any, Any]

IMMUTABLE = "public, max-age=31536000, immutable"
#: The SVG an asset route serves is sanitised; this stops anything it might still hold from
#: running when opened directly (no scripts, no requests, a sandboxed document).
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_CSS_NAME = re.compile(r"([0-9a-f]{16})\.css")
_ASSET_NAME = re.compile(r"([0-9a-f]{64})\.([a-z0-9]{2,5})")
_BRAND_BODY_LIMIT = 256 * 1024
#: The form around the largest image accepted (themes.assets.LIMITS); a larger body is a 413
#: before it is read, a file over its purpose's limit a 422 ``image_too_large``.
_UPLOAD_BODY_LIMIT = 2 * max(limits.max_bytes for limits in LIMITS.values())
_MULTIPART = "multipart/form-data"


def _not_found() -> NotFound:
    return NotFound("There is nothing at this address.")


def _etag_matches(request: AnyRequest, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    for candidate in header.split(","):
        tag = candidate.strip().removeprefix("W/")
        if tag in (etag, "*"):
            return True
    return False


def _immutable(
    request: AnyRequest, body: bytes, media_type: str, etag: str, extra: dict[str, str]
) -> Response[bytes]:
    headers = {"cache-control": IMMUTABLE, "etag": etag, **extra}
    if _etag_matches(request, etag):
        return Response(b"", status_code=304, headers=headers, media_type=media_type)
    return Response(body, headers=headers, media_type=media_type)


def _ip(request: AnyRequest) -> str | None:
    return Client.of(request).ip


@get("/api/v1/theme")
async def public_theme(request: AnyRequest, tenant: CurrentTenant) -> dict[str, Any]:
    """The tenant's published theme (public; the draft is never shown here)."""
    snapshot = theme_of(request.scope) or default_snapshot(tenant)
    return theme_document(snapshot)


#: ``/favicon.ico`` answers follow the published brand, so they are cached briefly, not for ever.
_FAVICON_CACHE = "public, max-age=300"


@get("/favicon.ico", include_in_schema=False)
async def favicon_ico(request: AnyRequest, tenant: CurrentTenant) -> Response[Any]:
    """Browsers ask for ``/favicon.ico`` on their own, whatever the page links: 302 to the
    published icon (the 32 px one made from the logo, else the uploaded favicon), or 204 when
    the brand has none, so that no page load logs a failed request."""
    snapshot = theme_of(request.scope) or default_snapshot(tenant)
    target = snapshot.icon_urls.get("32") or snapshot.favicon_url
    if target is None:
        return Response(b"", status_code=204, headers={"cache-control": _FAVICON_CACHE})
    return Redirect(target, status_code=302, headers={"cache-control": _FAVICON_CACHE})


@get("/theme/{name:str}", include_in_schema=False)
async def stylesheet(
    name: FromPath[str], request: AnyRequest, tenant: CurrentTenant, runtime: RuntimeDep
) -> Response[bytes]:
    """A stylesheet by content hash: any version the tenant published, or a built-in theme's."""
    match = _CSS_NAME.fullmatch(name)
    if match is None:
        raise _not_found()
    css_hash = match.group(1)
    sheet = cached_stylesheet(tenant.id, css_hash)
    if sheet is None:
        async with runtime.db.tenant_session(tenant) as db:
            css = await service.stylesheet_for_hash(db, css_hash)
            await db.commit()
        if css is None:
            raise _not_found()
        sheet = remember_stylesheet(tenant.id, css_hash, css)
    return _immutable(
        request,
        sheet.body,
        "text/css; charset=utf-8",
        f'"{css_hash}"',
        {"x-content-type-options": "nosniff"},
    )


@get("/theme/assets/{name:str}", include_in_schema=False)
async def asset(name: FromPath[str], request: AnyRequest, db_session: DbSession) -> Response[bytes]:
    """An uploaded image of this tenant, by content hash (served as sniffed when stored)."""
    match = _ASSET_NAME.fullmatch(name)
    if match is None:
        raise _not_found()
    sha, ext = match.groups()
    found = await service.get_asset(db_session, sha)
    if found is None or found.ext != ext:
        raise _not_found()
    extra = {"x-content-type-options": "nosniff"}
    if found.content_type.startswith("image/svg"):
        extra["content-security-policy"] = SVG_CSP
    return _immutable(request, found.data, found.content_type, f'"{sha}"', extra)


async def _upload(request: AnyRequest) -> bytes:
    """The bytes of the one file in the multipart field ``file``.

    Raises:
        ClientError: 415 ``unsupported_media_type`` (not multipart).
        ValidationFailed: ``missing_file``: no file, or more than one, in ``file``.
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != _MULTIPART:
        raise ClientError(
            "Upload the image as multipart/form-data, in the field 'file'.",
            code="unsupported_media_type",
            status_code=415,
        )
    form = await request.form()
    items = form.getall("file", [])
    if len(items) != 1 or not isinstance(items[0], UploadFile):
        raise ValidationFailed(
            "Send exactly one image file in the field 'file'.",
            code="missing_file",
            detail={"field": "file"},
        )
    upload: UploadFile = items[0]
    try:
        return await upload.read()
    finally:
        await upload.close()


class ThemeAdminController(Controller):
    """The tenant admins' branding API: draft, assets, publish, history, restore."""

    path = "/api/v1/admin/theme"
    guards = [require_admin]

    @get("/")
    async def read_draft(self, db_session: DbSession, tenant: CurrentTenant) -> dict[str, Any]:
        """The draft (or, before any edit, the published brand) with contrast figures."""
        return draft_document(await service.get_draft(db_session, tenant))

    @put("/", request_max_body_size=_BRAND_BODY_LIMIT)
    async def update_draft(
        self,
        request: AnyRequest,
        data: JSONBody[Any],
        db_session: DbSession,
        tenant: CurrentTenant,
        current_user: CurrentUser,
    ) -> dict[str, Any]:
        """Change draft fields (partial). 422 ``invalid_brand`` lists every field error."""
        draft = await service.update_draft(db_session, tenant, current_user, data, ip=_ip(request))
        return draft_document(draft)

    @put(["/logo", "/favicon"], request_max_body_size=_UPLOAD_BODY_LIMIT)
    async def upload(
        self,
        request: AnyRequest,
        db_session: DbSession,
        tenant: CurrentTenant,
        current_user: CurrentUser,
    ) -> dict[str, Any]:
        """Upload the draft's logo or favicon (multipart field ``file``)."""
        purpose = request.url.path.rstrip("/").rsplit("/", 1)[1]
        data = await _upload(request)
        draft = await service.set_asset(
            db_session, tenant, current_user, purpose, data, ip=_ip(request)
        )
        return draft_document(draft)

    @delete(["/logo", "/favicon"], status_code=200)
    async def remove(
        self,
        request: AnyRequest,
        db_session: DbSession,
        tenant: CurrentTenant,
        current_user: CurrentUser,
    ) -> dict[str, Any]:
        """Remove the draft's logo or favicon."""
        purpose = request.url.path.rstrip("/").rsplit("/", 1)[1]
        draft = await service.clear_asset(
            db_session, tenant, current_user, purpose, ip=_ip(request)
        )
        return draft_document(draft)

    @post("/publish", status_code=201)
    async def publish(
        self,
        request: AnyRequest,
        db_session: DbSession,
        tenant: CurrentTenant,
        current_user: CurrentUser,
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        """Publish the draft as the next version (409 ``no_draft`` when there is none)."""
        info = await service.publish(
            db_session,
            tenant,
            current_user,
            redis_url=runtime.settings.redis_url,
            ip=_ip(request),
        )
        await _reload_route(runtime, tenant.id)
        return version_document(info)

    @get("/versions")
    async def versions(self, db_session: DbSession, tenant: CurrentTenant) -> list[dict[str, Any]]:
        """Every published version, newest first."""
        return [version_document(v) for v in await service.list_versions(db_session, tenant)]

    @post("/versions/{version:str}/restore", status_code=201)
    async def restore(
        self,
        version: FromPath[str],
        request: AnyRequest,
        db_session: DbSession,
        tenant: CurrentTenant,
        current_user: CurrentUser,
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        """Publish a copy of ``version`` as the next version (404 ``version_not_found``).

        The version is parsed here rather than by the router, so that the guard answers first
        (401/403) whatever the path holds.
        """
        number = int(version) if version.isascii() and version.isdigit() else 0
        if not 0 < number < 2**31:
            raise NotFound(
                f"There is no published version {version[:20]!r}.", code="version_not_found"
            )
        info = await service.restore(
            db_session,
            tenant,
            current_user,
            number,
            redis_url=runtime.settings.redis_url,
            ip=_ip(request),
        )
        await _reload_route(runtime, tenant.id)
        return version_document(info)

    @get("/preview.css", include_in_schema=False)
    async def preview_css(self, db_session: DbSession, tenant: CurrentTenant) -> Response[str]:
        """The draft's stylesheet, for an admin's preview pages (never cached)."""
        css = await service.draft_stylesheet(db_session, tenant)
        return Response(
            css,
            media_type="text/css; charset=utf-8",
            headers={"cache-control": "no-store", "x-content-type-options": "nosniff"},
        )


async def _reload_route(runtime: Runtime, tenant_id: Any) -> None:
    """Read this tenant's routing row now, so this process serves the new version at once
    (the signal reaches every process, this one included, moments later anyway)."""
    async with runtime.db.async_engine.connect() as conn:
        await runtime.resolver.reload_tenant(conn, tenant_id)
