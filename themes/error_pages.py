"""Branded error pages on tenant hosts: 404, 500, 503 (and any other status) in the tenant's theme.

Only a browser asking for HTML (``Accept: text/html``) on a tenant's host gets one; API paths
keep their JSON errors and other clients the short plain page. The unknown-host 404 is never
branded: it is answered before any tenant is known and must look the same for every host
(``tenants.responses``).

A suspended tenant's 503 is answered by the tenancy middleware before the theme middleware runs,
and every path of a suspended host answers 503, the stylesheet's too: so that page carries its
CSS inline and shows no logo (the asset URL would answer 503 as well).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from themes.brand import ThemeSnapshot
from themes.engine import app_name_of, shared_engine, snapshot_for, tenant_theme
from whitelabel.context import TenantContext

__all__ = ["render_error_page", "render_suspended_page", "wants_html"]

log = logging.getLogger("whitelabel.themes")

_STATE_TENANT = "tenant"  # tenants.middleware.STATE_TENANT
_PAGES = frozenset({404, 500, 503})
_HTML_TYPES = (b"text/html", b"application/xhtml+xml")


def wants_html(scope: Mapping[str, Any]) -> bool:
    """Whether the request's ``Accept`` header names HTML (browsers always do)."""
    for name, value in scope.get("headers", ()):
        if name == b"accept" and any(kind in value.lower() for kind in _HTML_TYPES):
            return True
    return False


def _tenant_of(scope: Mapping[str, Any]) -> TenantContext | None:
    tenant = (scope.get("state") or {}).get(_STATE_TENANT)
    return tenant if isinstance(tenant, TenantContext) else None


def _render(template: str, context: dict[str, Any]) -> str | None:
    try:
        return shared_engine().render(template, context)
    except Exception:  # an error page must not fail: the caller falls back to the plain page
        log.exception("rendering %s failed", template)
        return None


def render_error_page(
    scope: Mapping[str, Any],
    *,
    status: int,
    code: str,
    message: str,
    request_id: str = "",
    tenant: TenantContext | None = None,
) -> str | None:
    """The error page of a tenant host in its theme, or ``None`` when the request is not an HTML
    request on a tenant host (the caller answers as before).

    ``tenant`` defaults to the request's (``scope["state"]``); the theme is the request's
    snapshot, else the tenant's cached or base theme. ``message`` must be safe to show.
    """
    tenant = tenant or _tenant_of(scope)
    if tenant is None or not wants_html(scope):
        return None
    theme = snapshot_for(scope, tenant)
    template = f"errors/{status}.html" if status in _PAGES else "errors/error.html"
    context = {
        "tenant": tenant,
        "theme": theme,
        "status": status,
        "code": code,
        "message": message,
        "request_id": request_id,
    }
    return _render(template, context)


def _inline_css(tenant: TenantContext, theme: ThemeSnapshot) -> Markup:
    """The snapshot's stylesheet text (from this process's cache, else the base theme's)."""
    from themes.service import base_stylesheet, cached_stylesheet

    css_hash = theme.stylesheet_url.rsplit("/", 1)[-1].removesuffix(".css")
    sheet = cached_stylesheet(tenant.id, css_hash) or base_stylesheet(theme.base)
    css = sheet.body.decode()
    # Generated from validated tokens and the reviewed theme CSS (no user text); refuse anything
    # that could close the element anyway.
    if "</" in css:
        return Markup("")
    return Markup(css)  # noqa: S704 - not user input (see above)


def render_suspended_page(scope: Mapping[str, Any], tenant: TenantContext) -> str | None:
    """The 503 page of a suspended tenant in its theme (CSS inline, no logo), or ``None`` when
    the request does not ask for HTML."""
    if not wants_html(scope):
        return None
    theme = tenant_theme(tenant)  # the theme middleware has not run: no request snapshot
    context = {
        "tenant": tenant,
        "theme": theme,
        "status": 503,
        "code": "tenant_suspended",
        "message": f"{app_name_of(theme, tenant)} is temporarily unavailable.",
        "request_id": "",
        "inline_css": _inline_css(tenant, theme),
        "hide_logo": True,
    }
    return _render("errors/503.html", context)
