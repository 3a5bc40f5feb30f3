"""Brand versions of the request's tenant: draft, assets, publish, history, restore.

Every write runs in the caller's tenant session, takes the tenant's platform row lock first (so
a tenant's theme writes never interleave) and records one audit event in the same transaction.
:func:`publish` and :func:`restore` commit: the new published version row, the tenant's
``platform.tenants.theme_version`` and the routing signal are one transaction, and with Redis
the signal is also published after the commit. Every process then resolves the tenant at the
new version and loads the new snapshot (a new cache key: nothing to purge).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from tenants.models import Tenant
from tenants.resolver import notify_routing_change, publish_redis
from themes._snapshots import (
    Stylesheet,
    asset_extensions,
    asset_url,
    base_of,
    base_stylesheet,
    brand_from_json,
    brand_to_json,
    build_snapshot,
    cached_snapshot,
    cached_stylesheet,
    default_brand,
    default_snapshot,
    load_snapshot,
    remember_stylesheet,
    stylesheet_url,
)
from themes.assets import Asset, favicons_from, process_image
from themes.brand import Brand, ThemeSnapshot
from themes.css import build_stylesheet, content_hash
from themes.models import DRAFT, PUBLISHED, ThemeAsset, ThemeVersion
from themes.registry import ThemeDef
from themes.validation import validate_brand_patch
from whitelabel.accounts.models import User
from whitelabel.context import TenantContext
from whitelabel.db.base import utcnow
from whitelabel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from whitelabel.tenant_data import record_event

__all__ = [
    "ASSET_PURPOSES",
    "PREVIEW_STYLESHEET_URL",
    "Draft",
    "Stylesheet",
    "VersionInfo",
    "asset_url",
    "base_stylesheet",
    "cached_snapshot",
    "cached_stylesheet",
    "clear_asset",
    "default_snapshot",
    "draft_snapshot",
    "draft_stylesheet",
    "get_asset",
    "get_draft",
    "list_versions",
    "load_snapshot",
    "publish",
    "restore",
    "set_asset",
    "stylesheet_for_hash",
    "stylesheet_url",
    "update_draft",
]

log = logging.getLogger("whitelabel.themes")

ASSET_PURPOSES = ("logo", "favicon")
#: Where an admin's preview pages load the draft's CSS from (never cached, admins only).
PREVIEW_STYLESHEET_URL = "/api/v1/admin/theme/preview.css"
_ADMIN_ROLES = frozenset({"admin", "owner"})

Actor = User | str
"""Who makes a change: a signed-in user (must be an active admin or owner) or a system actor
name (``"demo"``, ``"platform"``) for commands and scripts."""


@dataclass(frozen=True, slots=True)
class Draft:
    """The brand an admin edits: the draft, or (before the first edit) the published brand."""

    base: ThemeDef
    brand: Brand
    icons: dict[str, str]
    is_draft: bool
    """False when no draft exists: this is the published brand (or the base theme's defaults)."""
    published_version: int
    updated_at: datetime | None
    asset_urls: dict[str, str] = field(default_factory=dict)
    """sha256 → URL of the assets the draft names (filled by the functions that return it)."""


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One published version, as the history lists it."""

    version: int
    base: str
    app_name: str
    css_hash: str
    created_by: str
    published_at: datetime
    current: bool


def _actor_id(actor: Actor) -> str:
    if isinstance(actor, str):
        return actor
    if actor.status != "active" or actor.role not in _ADMIN_ROLES:
        raise Forbidden("This needs an admin of this tenant.")
    return str(actor.id)


async def _lock_tenant(db: AsyncSession, tenant: TenantContext) -> tuple[str, int]:
    """Lock the tenant's platform row for this transaction: ``(base theme, current version)``.

    Raises:
        NotFound: the tenant no longer exists.
    """
    row = (
        await db.execute(
            select(Tenant.theme, Tenant.theme_version)
            .where(Tenant.id == tenant.id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound("There is nothing at this address.")
    return str(row.theme), int(row.theme_version)


async def _draft_row(db: AsyncSession, *, lock: bool = False) -> ThemeVersion | None:
    stmt = select(ThemeVersion).where(ThemeVersion.status == DRAFT)
    if lock:
        stmt = stmt.with_for_update()
    return await db.scalar(stmt)


#: Versions are PostgreSQL ``integer``s: a larger number can name no row (and must not reach SQL).
_MAX_VERSION = 2**31 - 1


async def _published_row(db: AsyncSession, version: int) -> ThemeVersion | None:
    if not 0 < version <= _MAX_VERSION:
        return None
    return await db.scalar(
        select(ThemeVersion).where(
            ThemeVersion.version == version, ThemeVersion.status == PUBLISHED
        )
    )


async def _current(
    db: AsyncSession, tenant: TenantContext, base_name: str, version: int, *, lock: bool = True
) -> tuple[ThemeVersion | None, Draft]:
    """The draft row (if any) and the brand the editor starts from: the draft, else the
    published version, else the base theme's defaults."""
    draft = await _draft_row(db, lock=lock)
    if draft is not None:
        return draft, Draft(
            base=base_of(draft.base),
            brand=brand_from_json(draft.brand),
            icons=dict(draft.icons or {}),
            is_draft=True,
            published_version=version,
            updated_at=draft.updated_at,
        )
    base = base_of(base_name)
    published = await _published_row(db, version)
    if published is not None:
        return None, Draft(
            base=base,
            brand=brand_from_json(published.brand),
            icons=dict(published.icons or {}),
            is_draft=False,
            published_version=version,
            updated_at=published.published_at,
        )
    return None, Draft(base, default_brand(tenant, base), {}, False, version, None)


async def get_draft(db: AsyncSession, tenant: TenantContext) -> Draft:
    """The brand the tenant's admins are editing (read-only: nothing is created)."""
    row = (
        await db.execute(select(Tenant.theme, Tenant.theme_version).where(Tenant.id == tenant.id))
    ).first()
    base_name, version = (str(row.theme), int(row.theme_version)) if row else (tenant.theme, 0)
    return await _with_urls(db, (await _current(db, tenant, base_name, version, lock=False))[1])


async def _with_urls(db: AsyncSession, draft: Draft) -> Draft:
    exts = await asset_extensions(
        db, [draft.brand.logo, draft.brand.favicon, *draft.icons.values()]
    )
    return replace(draft, asset_urls={sha: asset_url(sha, ext) for sha, ext in exts.items()})


def _save_draft(
    db: AsyncSession, row: ThemeVersion | None, draft: Draft, actor: str
) -> ThemeVersion:
    if row is None:
        row = ThemeVersion(
            status=DRAFT,
            version=None,
            base=draft.base.name,
            brand=brand_to_json(draft.brand),
            icons=dict(draft.icons),
            created_by=actor,
        )
        db.add(row)
    else:
        row.brand = brand_to_json(draft.brand)
        row.icons = dict(draft.icons)
        row.updated_at = utcnow()
    return row


def _changed_fields(old: Brand, new: Brand) -> list[str]:
    before, after = brand_to_json(old), brand_to_json(new)
    return sorted(key for key in after if before.get(key) != after[key])


async def update_draft(
    db: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    patch: Any,
    *,
    ip: str | None = None,
) -> Draft:
    """Apply a partial edit (``PUT /api/v1/admin/theme``) to the draft, creating it from the
    published brand when there is none. Audited as ``theme.draft_updated`` (changed fields).

    Raises:
        Forbidden: ``actor`` is a user who is not an active admin or owner.
        ValidationFailed: ``invalid_brand`` with field errors (nothing is stored), or
            ``copy_too_long`` from rendering a copy block.
    """
    who = _actor_id(actor)
    base_name, version = await _lock_tenant(db, tenant)
    row, current = await _current(db, tenant, base_name, version)
    brand = validate_brand_patch(current.brand, patch, base_tokens=current.base.tokens)
    # Render once now: a block that cannot render is refused at save time, not at publish.
    build_snapshot(
        theme=current.base, version=0, brand=brand, css_hash=None, asset_exts={}, preview=True
    )
    changed = _changed_fields(current.brand, brand)
    draft = replace(current, brand=brand, is_draft=True)
    saved = _save_draft(db, row, draft, who)
    record_event(db, "theme.draft_updated", actor=who, ip=ip, detail={"fields": changed})
    await db.flush()
    return await _with_urls(db, replace(draft, updated_at=saved.updated_at))


async def _store_asset(db: AsyncSession, asset: Asset) -> None:
    if await db.scalar(select(ThemeAsset.sha256).where(ThemeAsset.sha256 == asset.sha256)):
        return  # content-addressed: the same bytes are the same asset
    db.add(
        ThemeAsset(
            sha256=asset.sha256,
            content_type=asset.content_type,
            ext=asset.ext,
            data=asset.data,
            width=asset.width,
            height=asset.height,
        )
    )


def _generated(draft: Draft) -> bool:
    """Whether the draft's favicon is one generated from its logo (or there is none)."""
    return draft.brand.favicon is None or draft.brand.favicon in draft.icons.values()


async def _icons_from_logo(db: AsyncSession, logo: Asset) -> tuple[str | None, dict[str, str]]:
    icons = favicons_from(logo)
    for icon in icons:
        await _store_asset(db, icon)
    # An SVG logo is its own icon, at any size.
    by_size = {"any" if icon.ext == "svg" else str(icon.width): icon.sha256 for icon in icons}
    smallest = min(icons, key=lambda icon: icon.width).sha256 if icons else None
    favicon = by_size.get("32", smallest)
    return favicon, by_size


async def _load_asset(db: AsyncSession, sha: str) -> Asset | None:
    row = await db.get(ThemeAsset, sha)
    if row is None:
        return None
    return Asset(
        sha256=row.sha256,
        content_type=row.content_type,
        ext=row.ext,
        data=row.data,
        width=row.width,
        height=row.height,
    )


async def set_asset(
    db: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    purpose: str,
    data: bytes,
    *,
    ip: str | None = None,
) -> Draft:
    """Upload the draft's ``logo`` or ``favicon`` (sniffed, re-encoded or sanitised by
    :func:`themes.assets.process_image`). A logo also gives the icon sizes
    (:func:`themes.assets.favicons_from`), used as the favicon unless one was uploaded.
    Audited as ``theme.asset_uploaded``.

    Raises:
        Forbidden: ``actor`` is a user who is not an active admin or owner.
        ValidationFailed: ``invalid_purpose``, or the image's own codes (``invalid_image``,
            ``unsupported_image``, ``image_too_large``, ``image_too_many_pixels``,
            ``unsafe_svg``); nothing is stored.
    """
    if purpose not in ASSET_PURPOSES:
        raise ValidationFailed(
            "The asset is a logo or a favicon.", code="invalid_purpose", detail={"field": purpose}
        )
    who = _actor_id(actor)
    asset = process_image(data, purpose=purpose)
    base_name, version = await _lock_tenant(db, tenant)
    row, current = await _current(db, tenant, base_name, version)
    await _store_asset(db, asset)
    if purpose == "logo":
        brand, icons = replace(current.brand, logo=asset.sha256), current.icons
        if _generated(current):
            favicon, icons = await _icons_from_logo(db, asset)
            brand = replace(brand, favicon=favicon)
    else:
        brand, icons = replace(current.brand, favicon=asset.sha256), {}
    draft = replace(current, brand=brand, icons=icons, is_draft=True)
    saved = _save_draft(db, row, draft, who)
    record_event(
        db,
        "theme.asset_uploaded",
        actor=who,
        ip=ip,
        target=purpose,
        detail={
            "purpose": purpose,
            "sha256": asset.sha256,
            "content_type": asset.content_type,
            "width": asset.width,
            "height": asset.height,
            "bytes": len(asset.data),
        },
    )
    await db.flush()
    return await _with_urls(db, replace(draft, updated_at=saved.updated_at))


async def clear_asset(
    db: AsyncSession, tenant: TenantContext, actor: Actor, purpose: str, *, ip: str | None = None
) -> Draft:
    """Remove the draft's logo or favicon (the stored asset stays: published versions may use
    it). Without an uploaded favicon the logo's icons serve again. Audited as
    ``theme.asset_removed``.

    Raises:
        Forbidden: ``actor`` is a user who is not an active admin or owner.
        ValidationFailed: ``invalid_purpose``.
    """
    if purpose not in ASSET_PURPOSES:
        raise ValidationFailed(
            "The asset is a logo or a favicon.", code="invalid_purpose", detail={"field": purpose}
        )
    who = _actor_id(actor)
    base_name, version = await _lock_tenant(db, tenant)
    row, current = await _current(db, tenant, base_name, version)
    brand, icons = current.brand, current.icons
    if purpose == "logo":
        if _generated(current):
            brand, icons = replace(brand, favicon=None), {}
        brand = replace(brand, logo=None)
    else:
        brand, icons = replace(brand, favicon=None), {}
        logo = await _load_asset(db, brand.logo) if brand.logo else None
        if logo is not None:
            favicon, icons = await _icons_from_logo(db, logo)
            brand = replace(brand, favicon=favicon)
    draft = replace(current, brand=brand, icons=icons, is_draft=True)
    saved = _save_draft(db, row, draft, who)
    record_event(
        db, "theme.asset_removed", actor=who, ip=ip, target=purpose, detail={"purpose": purpose}
    )
    await db.flush()
    return await _with_urls(db, replace(draft, updated_at=saved.updated_at))


def _stylesheet(base: ThemeDef, brand: Brand) -> str:
    tokens = {**base.tokens, **brand.tokens}
    return build_stylesheet(tokens, font=brand.font, radius=brand.radius, base_css=base.css)


def _signal(session: Session, tenant: TenantContext) -> None:
    connection: Connection = session.connection()
    notify_routing_change(connection, tenant.id)


async def _publish_row(
    db: AsyncSession,
    tenant: TenantContext,
    who: str,
    *,
    base: ThemeDef,
    brand: Brand,
    icons: dict[str, str],
    css: str | None = None,
) -> ThemeVersion:
    """Insert the next published version and point the tenant at it, with the routing signal
    (delivered on commit)."""
    latest = await db.scalar(select(func.max(ThemeVersion.version)))
    number = (latest or 0) + 1
    css = css if css is not None else _stylesheet(base, brand)
    row = ThemeVersion(
        status=PUBLISHED,
        version=number,
        base=base.name,
        brand=brand_to_json(brand),
        icons=dict(icons),
        css=css,
        css_hash=content_hash(css),
        created_by=who,
        published_at=utcnow(),
    )
    db.add(row)
    await db.flush()
    await db.execute(update(Tenant).where(Tenant.id == tenant.id).values(theme_version=number))
    await db.run_sync(_signal, tenant)
    return row


async def _after_commit(row: ThemeVersion, tenant: TenantContext, redis_url: str | None) -> None:
    if row.css is not None and row.css_hash is not None:
        remember_stylesheet(tenant.id, row.css_hash, row.css)
    if redis_url:
        try:
            await asyncio.to_thread(publish_redis, redis_url, tenant.id)
        except Exception:  # PostgreSQL NOTIFY went out with the commit; Redis is the extra path
            log.warning("publishing the theme change on Redis failed", exc_info=True)


def _info(row: ThemeVersion, current: int) -> VersionInfo:
    # Published rows have all three (ck_theme_versions_published_fields).
    return VersionInfo(
        version=row.version or 0,
        base=row.base,
        app_name=str(row.brand.get("app_name", "")),
        css_hash=row.css_hash or "",
        created_by=row.created_by,
        published_at=row.published_at or utcnow(),
        current=row.version == current,
    )


async def publish(
    db: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    *,
    redis_url: str | None = None,
    ip: str | None = None,
) -> VersionInfo:
    """Publish the draft as the next version, atomically, and commit ``db``.

    One transaction: the new version row (with its generated stylesheet and hash), the draft's
    removal, ``platform.tenants.theme_version`` and the routing signal; then, with
    ``redis_url``, the signal on Redis too. Audited as ``theme.published``.

    Raises:
        Forbidden: ``actor`` is a user who is not an active admin or owner.
        Conflict: ``no_draft``: there is nothing to publish.
    """
    who = _actor_id(actor)
    await _lock_tenant(db, tenant)
    draft = await _draft_row(db, lock=True)
    if draft is None:
        raise Conflict("There is no draft to publish; edit the brand first.", code="no_draft")
    base = base_of(draft.base)
    brand = brand_from_json(draft.brand)
    await db.delete(draft)
    await db.flush()
    row = await _publish_row(db, tenant, who, base=base, brand=brand, icons=dict(draft.icons))
    record_event(
        db,
        "theme.published",
        actor=who,
        ip=ip,
        target=f"v{row.version}",
        detail={"version": row.version, "base": base.name, "css_hash": row.css_hash},
    )
    await db.commit()
    await _after_commit(row, tenant, redis_url)
    return _info(row, row.version or 0)


async def restore(
    db: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    version: int,
    *,
    redis_url: str | None = None,
    ip: str | None = None,
) -> VersionInfo:
    """Publish a copy of an earlier version as the next version, and commit ``db``.

    History is never rewritten: the copy is a new version with the old one's brand, base theme
    and stylesheet. A pending draft is discarded (it was based on what is no longer current).
    Audited as ``theme.restored``.

    Raises:
        Forbidden: ``actor`` is a user who is not an active admin or owner.
        NotFound: ``version_not_found``.
    """
    who = _actor_id(actor)
    await _lock_tenant(db, tenant)
    source = await _published_row(db, version)
    if source is None:
        raise NotFound(f"There is no published version {version}.", code="version_not_found")
    draft = await _draft_row(db, lock=True)
    if draft is not None:
        await db.delete(draft)
        await db.flush()
    row = await _publish_row(
        db,
        tenant,
        who,
        base=base_of(source.base),
        brand=brand_from_json(source.brand),
        icons=dict(source.icons or {}),
        css=source.css,
    )
    record_event(
        db,
        "theme.restored",
        actor=who,
        ip=ip,
        target=f"v{row.version}",
        detail={
            "version": row.version,
            "restored": version,
            "draft_discarded": draft is not None,
        },
    )
    await db.commit()
    await _after_commit(row, tenant, redis_url)
    return _info(row, row.version or 0)


async def list_versions(db: AsyncSession, tenant: TenantContext) -> list[VersionInfo]:
    """Every published version, newest first, with the current one marked."""
    current = await db.scalar(select(Tenant.theme_version).where(Tenant.id == tenant.id)) or 0
    rows = await db.scalars(
        select(ThemeVersion)
        .where(ThemeVersion.status == PUBLISHED)
        .order_by(ThemeVersion.version.desc())
    )
    return [_info(row, current) for row in rows]


async def draft_snapshot(db: AsyncSession, tenant: TenantContext) -> ThemeSnapshot:
    """The draft as a snapshot for an admin's preview (``preview=True``; its stylesheet is
    :data:`PREVIEW_STYLESHEET_URL`). Never cached."""
    draft = await get_draft(db, tenant)
    exts = {sha: url.rsplit(".", 1)[1] for sha, url in draft.asset_urls.items()}
    return build_snapshot(
        theme=draft.base,
        version=draft.published_version,
        brand=draft.brand,
        css_hash=None,
        asset_exts=exts,
        icons=draft.icons,
        preview=True,
        preview_stylesheet_url=PREVIEW_STYLESHEET_URL,
    )


async def draft_stylesheet(db: AsyncSession, tenant: TenantContext) -> str:
    """The CSS the draft would publish."""
    draft = await get_draft(db, tenant)
    return _stylesheet(draft.base, draft.brand)


async def stylesheet_for_hash(db: AsyncSession, css_hash: str) -> str | None:
    """The CSS of the tenant's published version with this hash, if any."""
    return await db.scalar(
        select(ThemeVersion.css)
        .where(ThemeVersion.css_hash == css_hash, ThemeVersion.status == PUBLISHED)
        .limit(1)
    )


async def get_asset(db: AsyncSession, sha256: str) -> Asset | None:
    """One of the tenant's stored assets."""
    return await _load_asset(db, sha256)
