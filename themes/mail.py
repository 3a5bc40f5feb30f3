"""Emails in the tenant's theme: subject, plain text and HTML from the theme's templates.

A kind of email ``name`` is three templates, looked up like pages (the theme's own
``templates/email/`` first, then the shared ``whitelabel/pages/templates/email/``):
``email/<name>.subject.txt``, ``email/<name>.txt`` and ``email/<name>.html``. The HTML part is
autoescaped and carries its colours inline (mail clients ignore stylesheets); the text part is
plain text, never interpreted as markup.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from themes.brand import FONTS, ThemeSnapshot
from themes.engine import ThemedTemplateEngine, app_name_of, shared_engine
from whitelabel.context import TenantContext

__all__ = ["RenderedEmail", "one_line", "origin_of", "render_email", "sender_name_of"]


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """One email ready for the outbox."""

    subject: str
    text: str
    html: str


def one_line(value: str) -> str:
    """``value`` on one line: control characters (CR, LF, ...) become spaces, ends stripped."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in value)
    return cleaned.strip()


def origin_of(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, else ``None``."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def sender_name_of(theme: ThemeSnapshot, tenant: TenantContext) -> str:
    """The From display name: the brand's sender name, else the app name (one line)."""
    return one_line(theme.brand.email_sender_name or app_name_of(theme, tenant))


def _absolute(url: str | None, base_url: str | None) -> str | None:
    """``url`` made absolute against ``base_url`` (mail has no page to be relative to);
    ``None`` when it cannot be (a relative URL without a base)."""
    if not url:
        return None
    if origin_of(url) is not None:
        return url
    if base_url is None or origin_of(base_url) is None:
        return None
    return urljoin(base_url, url)


def render_email(
    theme: ThemeSnapshot,
    tenant: TenantContext,
    name: str,
    context: Mapping[str, Any],
    *,
    base_url: str | None = None,
    engine: ThemedTemplateEngine | None = None,
) -> RenderedEmail:
    """The subject, text and HTML of email ``name`` for ``tenant`` in ``theme``.

    Templates see ``context`` plus ``theme``, ``tenant``, ``app_name``, ``colors`` (the effective
    tokens), ``font_stack``, ``radius``, ``logo_src`` (the logo as an absolute URL on
    ``base_url``, or none) and ``sender_name``. ``base_url`` defaults to the origin of
    ``context["link"]`` (the emailed link points at the tenant's host).

    Raises:
        litestar.exceptions.TemplateNotFoundException: no template for ``name``.
    """
    engine = engine or shared_engine()
    base = base_url or origin_of(context.get("link"))
    full = {
        **context,
        "theme": theme,
        "tenant": tenant,
        "colors": theme.tokens,
        "font_stack": FONTS.get(theme.brand.font, FONTS["system"]),
        "radius": theme.brand.radius,
        "logo_src": _absolute(theme.logo_url, base),
        "sender_name": sender_name_of(theme, tenant),
    }
    subject = engine.get_template(f"email/{name}.subject.txt").render(full)
    return RenderedEmail(
        subject=one_line(subject),
        text=engine.get_template(f"email/{name}.txt").render(full),
        html=engine.get_template(f"email/{name}.html").render(full),
    )
