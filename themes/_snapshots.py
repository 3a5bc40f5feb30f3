"""Snapshots: what a page renders with, built from a brand version and cached per process.

The cache is keyed by ``(tenant id, published version, base theme, tenant name)``. Publishing
makes a new version, so the routing signal that carries the new version number makes every
process ask for a new key: nothing is ever purged, old entries just age out of the LRU. A hit is
a dict lookup; concurrent misses for one key (on one event loop) share a single load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from functools import cache
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from themes.brand import DEFAULT_THEME, Brand, ThemeSnapshot
from themes.copy import render_copy
from themes.css import build_stylesheet, content_hash
from themes.models import PUBLISHED, ThemeAsset, ThemeVersion
from themes.registry import ThemeDef, UnknownTheme, get_theme
from whitelabel.context import TenantContext
from whitelabel.runtime import Runtime

__all__ = [
    "ASSET_PREFIX",
    "STYLESHEET_PREFIX",
    "Stylesheet",
    "asset_url",
    "base_of",
    "base_stylesheet",
    "brand_from_json",
    "brand_to_json",
    "build_snapshot",
    "cached_stylesheet",
    "default_brand",
    "default_snapshot",
    "load_snapshot",
    "remember_stylesheet",
    "stylesheet_url",
]

log = logging.getLogger("whitelabel.themes")

STYLESHEET_PREFIX = "/theme/"
ASSET_PREFIX = "/theme/assets/"
_SNAPSHOTS_MAX = 2048
_STYLESHEETS_MAX = 1024

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A small thread-safe LRU (several apps may share a process: tests, benchmarks)."""

    def __init__(self, size: int) -> None:
        self._data: OrderedDict[K, V] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            # evicted by another thread in between: the value is still valid
            with contextlib.suppress(KeyError):
                self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Stylesheet:
    """A version's CSS, ready to send."""

    hash: str
    body: bytes


_Key = tuple[uuid.UUID, int, str, str]
_snapshots: _Lru[_Key, ThemeSnapshot] = _Lru(_SNAPSHOTS_MAX)
_stylesheets: _Lru[tuple[uuid.UUID, str], Stylesheet] = _Lru(_STYLESHEETS_MAX)
_loading: dict[tuple[asyncio.AbstractEventLoop, _Key], asyncio.Task[Any]] = {}


def stylesheet_url(css_hash: str) -> str:
    """The immutable URL of the stylesheet with this content hash."""
    return f"{STYLESHEET_PREFIX}{css_hash}.css"


def asset_url(sha256: str, ext: str) -> str:
    """The immutable URL of an asset."""
    return f"{ASSET_PREFIX}{sha256}.{ext}"


def base_of(name: str) -> ThemeDef:
    """The built-in theme ``name``, or the default theme when it is no longer built in (a
    version published on a theme since removed keeps rendering)."""
    try:
        return get_theme(name)
    except UnknownTheme:
        log.warning("unknown base theme %r; rendering with %r", name, DEFAULT_THEME)
        return get_theme(DEFAULT_THEME)


@cache
def base_stylesheet(name: str) -> Stylesheet:
    """The stylesheet of a built-in theme with no brand (version 0), built once per process."""
    theme = base_of(name)
    css = build_stylesheet(theme.tokens, font=theme.font, radius=theme.radius, base_css=theme.css)
    return Stylesheet(content_hash(css), css.encode())


def remember_stylesheet(tenant_id: uuid.UUID, css_hash: str, css: str) -> Stylesheet:
    """Keep a tenant's stylesheet in memory (served without a query until evicted)."""
    sheet = Stylesheet(css_hash, css.encode())
    _stylesheets.put((tenant_id, css_hash), sheet)
    return sheet


def cached_stylesheet(tenant_id: uuid.UUID, css_hash: str) -> Stylesheet | None:
    """The tenant's stylesheet with this hash if this process has it in memory (any built-in
    theme's version-0 stylesheet counts, on every tenant)."""
    sheet = _stylesheets.get((tenant_id, css_hash))
    if sheet is not None:
        return sheet
    for name in _base_names():
        base = base_stylesheet(name)
        if base.hash == css_hash:
            return base
    return None


def _base_names() -> Iterable[str]:
    from themes.registry import theme_names

    return theme_names()


def default_brand(tenant: TenantContext, theme: ThemeDef) -> Brand:
    """The brand of a tenant that never published one: its name, the base theme's font and
    radius, no overrides."""
    return Brand(app_name=tenant.name, font=theme.font, radius=theme.radius)


_BRAND_FIELD_NAMES = tuple(f.name for f in fields(Brand))
_BRAND_FIELDS = frozenset(_BRAND_FIELD_NAMES)


def brand_to_json(brand: Brand) -> dict[str, Any]:
    """The brand as stored in ``theme_versions.brand``."""
    data = {name: getattr(brand, name) for name in _BRAND_FIELD_NAMES}
    data["tokens"] = dict(brand.tokens)
    data["copy"] = dict(brand.copy)
    return data


def brand_from_json(data: Mapping[str, Any]) -> Brand:
    """The brand stored in a version row (keys of fields this code no longer has are dropped)."""
    values = {k: v for k, v in data.items() if k in _BRAND_FIELDS}
    values["tokens"] = MappingProxyType(dict(values.get("tokens") or {}))
    values["copy"] = MappingProxyType(dict(values.get("copy") or {}))
    return Brand(**values)


def default_snapshot(tenant: TenantContext) -> ThemeSnapshot:
    """The tenant's base theme with no brand: version 0, no database access.

    An unknown base theme name falls back to the default theme.
    """
    theme = base_of(tenant.theme)
    return ThemeSnapshot(
        base=theme.name,
        version=0,
        brand=default_brand(tenant, theme),
        tokens=theme.tokens,
        stylesheet_url=stylesheet_url(base_stylesheet(theme.name).hash),
    )


def build_snapshot(
    *,
    theme: ThemeDef,
    version: int,
    brand: Brand,
    css_hash: str | None,
    asset_exts: Mapping[str, str],
    icons: Mapping[str, str] | None = None,
    preview: bool = False,
    preview_stylesheet_url: str | None = None,
) -> ThemeSnapshot:
    """A snapshot from a brand version (copy blocks rendered to sanitised HTML here).

    ``asset_exts`` maps the asset hashes the brand names to their file extensions; an asset
    missing from it gets no URL.
    """

    def url(sha: str | None) -> str | None:
        return asset_url(sha, asset_exts[sha]) if sha and sha in asset_exts else None

    if preview_stylesheet_url is not None:
        sheet_url = preview_stylesheet_url
    else:
        sheet_url = stylesheet_url(css_hash or base_stylesheet(theme.name).hash)
    return ThemeSnapshot(
        base=theme.name,
        version=version,
        brand=brand,
        tokens=MappingProxyType({**theme.tokens, **brand.tokens}),
        stylesheet_url=sheet_url,
        logo_url=url(brand.logo),
        favicon_url=url(brand.favicon),
        copy_html=MappingProxyType(
            {name: render_copy(source) for name, source in brand.copy.items() if source}
        ),
        preview=preview,
        icon_urls=MappingProxyType(
            {size: u for size, sha in (icons or {}).items() if (u := url(sha)) is not None}
        ),
    )


async def asset_extensions(db: AsyncSession, shas: Iterable[str | None]) -> dict[str, str]:
    """sha256 → extension of the tenant's assets among ``shas`` (one query; none if empty)."""
    wanted = sorted({sha for sha in shas if sha})
    if not wanted:
        return {}
    rows = await db.execute(
        select(ThemeAsset.sha256, ThemeAsset.ext).where(ThemeAsset.sha256.in_(wanted))
    )
    return {sha: ext for sha, ext in rows}


async def _load(runtime: Runtime, tenant: TenantContext) -> ThemeSnapshot:
    async with runtime.db.tenant_session(tenant) as db:
        row = await db.scalar(
            select(ThemeVersion).where(
                ThemeVersion.version == tenant.theme_version, ThemeVersion.status == PUBLISHED
            )
        )
        if row is None or row.css is None or row.css_hash is None:
            log.error(
                "tenant %s: published theme version %d is missing; using the base theme",
                tenant.slug,
                tenant.theme_version,
            )
            return default_snapshot(tenant)
        brand = brand_from_json(row.brand)
        icons = dict(row.icons or {})
        exts = await asset_extensions(db, [brand.logo, brand.favicon, *icons.values()])
        await db.commit()
    remember_stylesheet(tenant.id, row.css_hash, row.css)
    return build_snapshot(
        theme=base_of(row.base),
        version=tenant.theme_version,
        brand=brand,
        css_hash=row.css_hash,
        asset_exts=exts,
        icons=icons,
    )


def _key(tenant: TenantContext) -> _Key:
    # The name and base theme too: version 0 shows them, and neither changes the version.
    return (tenant.id, tenant.theme_version, tenant.theme, tenant.name)


def cached_snapshot(tenant: TenantContext) -> ThemeSnapshot | None:
    """The tenant's published snapshot if this process has it (a dict lookup)."""
    return _snapshots.get(_key(tenant))


async def load_snapshot(runtime: Runtime, tenant: TenantContext) -> ThemeSnapshot:
    """The tenant's published snapshot at ``tenant.theme_version``, cached per process.

    Version 0 needs no query. Concurrent callers on one event loop share one load.
    """
    key = _key(tenant)
    found = _snapshots.get(key)
    if found is not None:
        return found
    if tenant.theme_version == 0:
        snapshot = default_snapshot(tenant)
        _snapshots.put(key, snapshot)
        return snapshot
    loop = asyncio.get_running_loop()
    task = _loading.get((loop, key))
    if task is None:
        task = loop.create_task(_load(runtime, tenant))
        _loading[(loop, key)] = task

        def done(finished: asyncio.Task[Any]) -> None:
            _loading.pop((loop, key), None)
            if not finished.cancelled() and finished.exception() is None:
                _snapshots.put(key, finished.result())

        task.add_done_callback(done)
    # shield: one caller giving up (a client disconnect) does not cancel the others' load
    result: ThemeSnapshot = await asyncio.shield(task)
    return result
