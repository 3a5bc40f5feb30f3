"""What the editor page shows, built from the draft, the history and (after a refused post) the
values and errors of the form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from themes.assets import LIMITS
from themes.brand import COPY_BLOCKS, TOKEN_NAMES
from themes.colors import contrast_ratio, parse_color
from themes.pages._form import FIELD_LIMITS, font_choices, form_values
from themes.service import Draft, VersionInfo
from themes.validation import ADVISORY_PAIRS, CONTRAST_PAIRS, MAX_URL_LENGTH, MIN_CONTRAST

__all__ = ["EditorView", "PairView", "TokenView", "VersionRow", "editor_view"]

TOKEN_LABELS: Mapping[str, str] = {
    "primary": "Primary",
    "on_primary": "Text on primary",
    "secondary": "Secondary",
    "accent": "Accent",
    "background": "Background",
    "surface": "Surface (cards)",
    "text": "Text",
    "muted": "Muted text",
    "danger": "Danger (errors)",
}
PAIR_LABELS: Mapping[tuple[str, str], str] = {
    ("text", "background"): "Text on background",
    ("on_primary", "primary"): "Button text on primary",
    ("text", "surface"): "Text on cards",
    ("muted", "background"): "Muted text on background",
    ("primary", "background"): "Links on background",
    ("danger", "background"): "Errors on background",
}
COPY_LABELS: Mapping[str, str] = {
    "hero": "Landing page welcome",
    "footer": "Footer",
    "sign_in_help": "Sign-in help",
}
PREVIEW_PAGES: Mapping[str, str] = {"landing": "Landing page", "login": "Sign-in page"}


@dataclass(frozen=True, slots=True)
class TokenView:
    """One colour row: the field's text, the picker's ``#rrggbb`` and the base theme's colour."""

    name: str
    label: str
    value: str
    hex: str
    base: str


@dataclass(frozen=True, slots=True)
class PairView:
    """One checked pair of colours and its contrast (``ratio_text`` is ``?`` when a colour of
    the pair cannot be read)."""

    fg: str
    bg: str
    label: str
    fg_hex: str
    bg_hex: str
    ratio_text: str
    ok: bool
    enforced: bool


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One published version in the history table."""

    number: int
    published_at: str
    published_by: str
    app_name: str
    current: bool


@dataclass(frozen=True, slots=True)
class EditorView:
    """Everything the editor template reads (besides the tenant, viewer and CSRF token)."""

    values: Mapping[str, str]
    errors: Mapping[str, list[dict[str, Any]]]
    other_errors: Sequence[dict[str, Any]]
    tokens: Sequence[TokenView]
    contrast: Sequence[PairView]
    fonts: Sequence[tuple[str, str]]
    copy_blocks: Sequence[dict[str, str]]
    base_label: str
    published_version: int
    is_draft: bool
    logo_url: str | None
    favicon_url: str | None
    favicon_uploaded: bool
    versions: Sequence[VersionRow]
    previews: Sequence[dict[str, str]]
    upload_limits: Mapping[str, str]
    """``logo`` and ``favicon`` → their limits, for people (``2 MB and 4096 pixels a side``)."""
    limits: Mapping[str, int] = field(default_factory=dict)


def _hex_or_none(value: str) -> str | None:
    try:
        return parse_color(value.strip())
    except ValueError:
        return None


def _floor2(ratio: float) -> str:
    # As validation shows it: rounded down, so a failing 4.499 never reads "4.50".
    return f"{int(ratio * 100) / 100:.2f}:1"


def _pairs(effective: Mapping[str, str | None]) -> list[PairView]:
    rows: list[PairView] = []
    for pairs, enforced in ((CONTRAST_PAIRS, True), (ADVISORY_PAIRS, False)):
        for fg, bg in pairs:
            a, b = effective.get(fg), effective.get(bg)
            ratio = contrast_ratio(a, b) if a and b else None
            rows.append(
                PairView(
                    fg=fg,
                    bg=bg,
                    label=PAIR_LABELS.get((fg, bg), f"{TOKEN_LABELS[fg]} on {bg}"),
                    fg_hex=a or "#000000",
                    bg_hex=b or "#ffffff",
                    ratio_text=_floor2(ratio) if ratio is not None else "?",
                    ok=ratio is None or ratio >= MIN_CONTRAST,
                    enforced=enforced,
                )
            )
    return rows


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def editor_view(
    draft: Draft,
    versions: Sequence[VersionInfo],
    *,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, list[dict[str, Any]]] | None = None,
    other_errors: Sequence[dict[str, Any]] = (),
) -> EditorView:
    """The editor for ``draft``: its own values, or the posted ``values`` when a post was
    refused (shown again as typed, with ``errors`` next to their fields).

    ``names`` maps an actor id (a user's id) to what the history shows (their email).
    """
    shown = dict(form_values(draft.brand))
    if values:
        shown.update({k: v for k, v in values.items() if k in shown})
    base = draft.base.tokens
    tokens: list[TokenView] = []
    effective: dict[str, str | None] = {}
    for name in TOKEN_NAMES:
        text = shown.get(f"tokens.{name}", "")
        parsed = _hex_or_none(text) if text.strip() else base[name]
        effective[name] = parsed
        tokens.append(TokenView(name, TOKEN_LABELS[name], text, parsed or base[name], base[name]))
    icons = set(draft.icons.values())
    favicon = draft.brand.favicon
    return EditorView(
        values=shown,
        errors=dict(errors or {}),
        other_errors=list(other_errors),
        tokens=tokens,
        contrast=_pairs(effective),
        fonts=font_choices(),
        copy_blocks=[{"name": n, "label": COPY_LABELS.get(n, n)} for n in COPY_BLOCKS],
        base_label=draft.base.label,
        published_version=draft.published_version,
        is_draft=draft.is_draft,
        logo_url=draft.asset_urls.get(draft.brand.logo or ""),
        favicon_url=draft.asset_urls.get(favicon or ""),
        favicon_uploaded=favicon is not None and favicon not in icons,
        versions=[
            VersionRow(
                number=v.version,
                published_at=v.published_at.strftime("%Y-%m-%d %H:%M UTC"),
                published_by=(names or {}).get(v.created_by, v.created_by),
                app_name=v.app_name,
                current=v.current,
            )
            for v in versions
        ],
        previews=[
            {"name": n, "label": label, "url": f"/admin/branding/preview/{n}"}
            for n, label in PREVIEW_PAGES.items()
        ],
        upload_limits={
            purpose: f"{_size(limit.max_bytes)} and {limit.max_side} pixels a side"
            for purpose, limit in LIMITS.items()
        },
        limits={
            "app_name": 60,
            "tagline": 140,
            "email_sender_name": 60,
            "default_locale": 20,
            "url": MAX_URL_LENGTH,
            "token": FIELD_LIMITS["tokens.primary"],
        },
    )
