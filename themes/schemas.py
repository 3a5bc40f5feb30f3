"""JSON shapes of the theme API (``docs/usage/theming.md``; fields may be added, not renamed)."""

from __future__ import annotations

from typing import Any

from themes._snapshots import stylesheet_url
from themes.brand import FONTS, ThemeSnapshot
from themes.service import PREVIEW_STYLESHEET_URL, Draft, VersionInfo
from themes.validation import contrast_report

__all__ = ["draft_document", "theme_document", "version_document"]


def theme_document(snapshot: ThemeSnapshot) -> dict[str, Any]:
    """``GET /api/v1/theme``: the published theme (``version`` 0: the base theme's defaults)."""
    brand = snapshot.brand
    return {
        "version": snapshot.version,
        "base": snapshot.base,
        "app_name": brand.app_name,
        "tagline": brand.tagline,
        "tokens": dict(snapshot.tokens),
        "font": brand.font,
        "font_stack": FONTS.get(brand.font, FONTS["system"]),
        "radius": brand.radius,
        "stylesheet_url": snapshot.stylesheet_url,
        "logo_url": snapshot.logo_url,
        "favicon_url": snapshot.favicon_url,
        "icon_urls": dict(snapshot.icon_urls),
        "support_url": brand.support_url,
        "terms_url": brand.terms_url,
        "privacy_url": brand.privacy_url,
        "default_locale": brand.default_locale,
        "copy_html": dict(snapshot.copy_html),
    }


def draft_document(draft: Draft) -> dict[str, Any]:
    """``GET|PUT /api/v1/admin/theme``: what the editor shows. ``tokens`` are the effective
    colours; ``token_overrides`` the brand's own (what ``PUT`` changes; ``null`` resets one)."""
    brand = draft.brand
    tokens = {**draft.base.tokens, **brand.tokens}
    return {
        "status": "draft" if draft.is_draft else "published",
        "published_version": draft.published_version,
        "base": draft.base.name,
        "base_tokens": dict(draft.base.tokens),
        "app_name": brand.app_name,
        "tagline": brand.tagline,
        "tokens": tokens,
        "token_overrides": dict(brand.tokens),
        "font": brand.font,
        "fonts": list(FONTS),
        "radius": brand.radius,
        "email_sender_name": brand.email_sender_name,
        "support_url": brand.support_url,
        "terms_url": brand.terms_url,
        "privacy_url": brand.privacy_url,
        "default_locale": brand.default_locale,
        "copy": dict(brand.copy),
        "logo_url": draft.asset_urls.get(brand.logo or ""),
        "favicon_url": draft.asset_urls.get(brand.favicon or ""),
        "icon_urls": {
            size: url for size, sha in draft.icons.items() if (url := draft.asset_urls.get(sha))
        },
        "contrast": contrast_report(tokens),
        "preview_stylesheet_url": PREVIEW_STYLESHEET_URL,
        "updated_at": draft.updated_at.isoformat() if draft.updated_at else None,
    }


def version_document(info: VersionInfo) -> dict[str, Any]:
    """One entry of ``GET /api/v1/admin/theme/versions``."""
    return {
        "version": info.version,
        "base": info.base,
        "app_name": info.app_name,
        "stylesheet_url": stylesheet_url(info.css_hash),
        "created_by": info.created_by,
        "published_at": info.published_at.isoformat(),
        "current": info.current,
    }
