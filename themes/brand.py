"""The brand contract shared by the theme engine, the templates and the branding editor.

A tenant's look is a **base theme** (built in, reviewed like code: ``themes/<name>/``) plus the
tenant's **brand** (data: names, colour tokens, font, radius, logo, links, copy blocks), kept in
the tenant schema as versions: one draft, and every published version. What a page needs to render
is a :class:`ThemeSnapshot`: the base theme's name, the brand, and the URLs of the stylesheet and
assets of that version. Requests find theirs in ``scope["state"][STATE_THEME]``.

Every value in a :class:`Brand` has been validated (``themes.tokens``): colours are normalised
``#rrggbb``, the font is a key of :data:`FONTS`, URLs are http(s). No user text is ever put into
CSS; templates escape everything except the copy blocks' HTML, which is sanitised when saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "COPY_BLOCKS",
    "DEFAULT_THEME",
    "FONTS",
    "STATE_THEME",
    "TOKEN_NAMES",
    "Brand",
    "ThemeSnapshot",
    "theme_of",
]

#: ``scope["state"]`` key of the request's :class:`ThemeSnapshot` (set on tenant hosts).
STATE_THEME = "whitelabel.theme"

#: The built-in theme used when a tenant names none (``"default"`` is an alias of it).
DEFAULT_THEME = "campus"

#: Colour tokens every theme defines and every brand may override (CSS ``--wl-<name>``).
TOKEN_NAMES = (
    "primary",
    "on_primary",
    "secondary",
    "accent",
    "background",
    "surface",
    "text",
    "muted",
    "danger",
)

#: Allowed fonts: key → CSS font stack. Self-hosted or system fonts only: no page ever asks an
#: outside server for a font.
FONTS: Mapping[str, str] = MappingProxyType(
    {
        "system": 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
        "sans-serif",
        "humanist": 'Seravek, "Gill Sans Nova", Ubuntu, Calibri, "DejaVu Sans", source-sans-pro, '
        "sans-serif",
        "geometric": 'Avenir, Montserrat, Corbel, "URW Gothic", source-sans-pro, sans-serif',
        "classical": 'Optima, Candara, "Noto Sans", source-sans-pro, sans-serif',
        "serif": 'Charter, "Bitstream Charter", "Sitka Text", Cambria, Georgia, serif',
        "old-style": '"Iowan Old Style", "Palatino Linotype", "URW Palladio L", P052, serif',
        "mono": 'ui-monospace, "Cascadia Code", "Source Code Pro", Menlo, Consolas, '
        '"DejaVu Sans Mono", monospace',
    }
)

#: Named text blocks a tenant may replace with Markdown (rendered to sanitised HTML).
COPY_BLOCKS = ("hero", "footer", "sign_in_help")


@dataclass(frozen=True, slots=True)
class Brand:
    """A tenant's validated brand settings (a draft or a published version)."""

    app_name: str
    tagline: str = ""
    tokens: Mapping[str, str] = field(default_factory=dict)
    """Colour overrides, ``#rrggbb``; a token not set here comes from the base theme."""
    font: str = "system"
    radius: int = 8
    """Corner radius in CSS pixels (0-32)."""
    email_sender_name: str = ""
    support_url: str | None = None
    terms_url: str | None = None
    privacy_url: str | None = None
    default_locale: str = "en"
    copy: Mapping[str, str] = field(default_factory=dict)
    """Copy block name → Markdown source (the sanitised HTML is in the snapshot)."""
    logo: str | None = None
    """SHA-256 (hex) of the logo asset, if any."""
    favicon: str | None = None
    """SHA-256 (hex) of the favicon asset; generated from the logo when not uploaded."""


@dataclass(frozen=True, slots=True)
class ThemeSnapshot:
    """Everything rendering needs for one tenant at one version (immutable, cached per process)."""

    base: str
    """Name of the built-in base theme."""
    version: int
    """Published version number (0: never published, the base theme's defaults)."""
    brand: Brand
    tokens: Mapping[str, str]
    """The effective colours: the base theme's, overridden by the brand's."""
    stylesheet_url: str
    """Content-hashed, immutable URL of this version's CSS."""
    logo_url: str | None = None
    favicon_url: str | None = None
    copy_html: Mapping[str, str] = field(default_factory=dict)
    """Copy block name → sanitised HTML (safe to insert unescaped)."""
    preview: bool = False
    """True when an admin previews the draft (never cached, never shown to others)."""
    icon_urls: Mapping[str, str] = field(default_factory=dict)
    """Icon size in pixels (``"32"``, ``"180"``, ...) → URL of the icons generated from the logo
    (empty when the tenant uploaded its own favicon, or has no logo)."""


def theme_of(scope: Mapping[str, Any]) -> ThemeSnapshot | None:
    """The request's theme snapshot, or ``None`` off tenant hosts."""
    state = scope.get("state") or {}
    snapshot = state.get(STATE_THEME)
    return snapshot if isinstance(snapshot, ThemeSnapshot) else None
