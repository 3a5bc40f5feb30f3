"""The stylesheet of a brand: design tokens as CSS custom properties, then the base theme's CSS.

Only values of fixed shapes are written into CSS: ``#rrggbb`` colours, a font stack from the
:data:`~themes.brand.FONTS` table (chosen by key) and an integer radius. Each is checked again
here, although :mod:`themes.validation` has already checked it: no user text can end up in a
stylesheet even if a caller forgets to validate (issue 4: "never user text concatenated into CSS").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Final

from themes.brand import FONTS, TOKEN_NAMES
from themes.colors import mix, relative_luminance

__all__ = ["DERIVED_TOKENS", "build_stylesheet", "content_hash", "derived_tokens"]

_COLOR = re.compile(r"#[0-9a-f]{6}")
_TOKEN_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
#: Radius bounds for the stylesheet (a shape check; brands are held to 0-32 by validation).
_RADIUS_MAX: Final = 999

#: Tokens computed from the others (``--wl-<name>``), for hover states, tints and borders.
DERIVED_TOKENS: Final = (
    "primary_hover",
    "primary_active",
    "primary_subtle",
    "danger_subtle",
    "border",
)


def _away_from(color: str, reference: str) -> str:
    """Black or white, whichever lies on the other side of ``color`` from ``reference``."""
    return "#000000" if relative_luminance(reference) > relative_luminance(color) else "#ffffff"


def derived_tokens(tokens: Mapping[str, str]) -> dict[str, str]:
    """The :data:`DERIVED_TOKENS` that ``tokens`` has the sources for.

    ``primary_hover`` and ``primary_active`` move ``primary`` away from ``on_primary`` (darker
    under light text, lighter under dark text), so a hovered button keeps at least the contrast
    that validation checked. ``primary_subtle`` and ``danger_subtle`` are tints on the
    background; ``border`` is text faded into the background.
    """
    derived: dict[str, str] = {}
    primary, on_primary = tokens.get("primary"), tokens.get("on_primary")
    background, text = tokens.get("background"), tokens.get("text")
    if primary and on_primary:
        target = _away_from(primary, on_primary)
        derived["primary_hover"] = mix(primary, target, 0.15)
        derived["primary_active"] = mix(primary, target, 0.25)
    if background:
        if primary:
            derived["primary_subtle"] = mix(primary, background, 0.88)
        if tokens.get("danger"):
            derived["danger_subtle"] = mix(tokens["danger"], background, 0.88)
        if text:
            derived["border"] = mix(text, background, 0.8)
    return derived


def _ordered(tokens: Mapping[str, str]) -> list[tuple[str, str]]:
    for name, value in tokens.items():
        if not isinstance(name, str) or not _TOKEN_NAME.fullmatch(name):
            raise ValueError(f"token name {name!r} is not a lowercase identifier")
        if name in DERIVED_TOKENS:
            raise ValueError(f"token {name!r} is derived and may not be set")
        if not isinstance(value, str) or not _COLOR.fullmatch(value):
            raise ValueError(f"token {name!r} is not a normalised #rrggbb colour")
    known = [name for name in TOKEN_NAMES if name in tokens]
    extra = sorted(name for name in tokens if name not in TOKEN_NAMES)
    return [(name, tokens[name]) for name in [*known, *extra]]


def build_stylesheet(
    tokens: Mapping[str, str], *, font: str, radius: int, base_css: str = ""
) -> str:
    """The stylesheet for effective ``tokens``, ``font`` and ``radius``, followed by ``base_css``.

    Output: ``:root{--wl-primary:#1a2b3c;...;--wl-primary-hover:#...;...;--wl-font:<stack>;
    --wl-radius:8px}`` and a newline, then ``base_css`` (the base theme's own CSS, which is
    package data reviewed like code). Token ``on_primary`` becomes ``--wl-on-primary``. The
    output is deterministic (token order fixed) so its :func:`content_hash` is stable.

    Raises:
        ValueError: if a token name is not a lowercase identifier or a derived token's name, a
            colour is not ``#rrggbb`` (lowercase), ``font`` is not a key of ``FONTS`` or
            ``radius`` is not an integer from 0 to 999.
    """
    pairs = _ordered(tokens)
    if not isinstance(font, str) or font not in FONTS:
        raise ValueError(f"font {font!r} is not one of {', '.join(FONTS)}")
    if isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius <= _RADIUS_MAX:
        raise ValueError(f"radius {radius!r} is not an integer from 0 to {_RADIUS_MAX}")
    if not isinstance(base_css, str):
        raise ValueError("base_css must be a string")
    pairs += list(derived_tokens(dict(pairs)).items())
    declarations = [f"--wl-{name.replace('_', '-')}:{value}" for name, value in pairs]
    declarations += [f"--wl-font:{FONTS[font]}", f"--wl-radius:{radius}px"]
    return ":root{" + ";".join(declarations) + "}\n" + base_css


def content_hash(data: bytes | str) -> str:
    """First 16 hex digits of the SHA-256 of ``data`` (``str`` is hashed as UTF-8)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]
