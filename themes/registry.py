"""The built-in base themes: package data under ``themes/<name>/``, loaded once and validated.

A built-in theme is code, reviewed like code: ``theme.toml`` (metadata and design tokens),
``templates/`` and ``static/`` (``static/theme.css`` is appended to every stylesheet built on
the theme). ``theme.toml`` holds exactly these keys::

    name = "campus"            # the directory's name
    label = "Campus"           # shown to tenant admins
    description = "..."
    font = "serif"             # a key of themes.brand.FONTS
    radius = 6                 # corner radius in CSS pixels, 0-32

    [tokens]                   # every name of themes.brand.TOKEN_NAMES, each "#rrggbb"
    primary = "#1b3a6b"
    ...

The file is checked strictly (unknown or missing keys, wrong types, colour pairs under WCAG AA
4.5:1): a broken built-in theme is a programming error, so :func:`load_themes` raises
:class:`ThemeDefinitionError` at start-up (``ThemesPlugin`` calls it) instead of serving pages
that cannot be read. ``default`` is an alias of :data:`~themes.brand.DEFAULT_THEME`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from themes.brand import DEFAULT_THEME, FONTS, TOKEN_NAMES
from themes.colors import contrast_ratio
from whitelabel.errors import ValidationFailed, WhitelabelError

__all__ = [
    "ALIASES",
    "CHECKED_PAIRS",
    "THEMES_DIR",
    "ThemeDef",
    "ThemeDefinitionError",
    "UnknownTheme",
    "get_theme",
    "load_theme",
    "load_themes",
    "resolve_theme_name",
    "theme_names",
]

#: Where the built-in themes live (one folder per theme).
THEMES_DIR = Path(__file__).parent

#: Other names accepted for a theme (``tenants create --theme default``, old rows).
ALIASES: Mapping[str, str] = MappingProxyType({"default": DEFAULT_THEME})

#: Colour pairs (foreground, background) every built-in theme must keep at 4.5:1 or more.
CHECKED_PAIRS = (
    ("text", "background"),
    ("on_primary", "primary"),
    ("text", "surface"),
    ("muted", "background"),
    ("muted", "surface"),
    ("danger", "background"),
    ("danger", "surface"),
)
_MIN_CONTRAST = 4.5
_KEYS = frozenset({"name", "label", "description", "font", "radius", "tokens"})
_HEX = re.compile(r"#[0-9a-f]{6}")
_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
_RADIUS = (0, 32)


class ThemeDefinitionError(WhitelabelError):
    """A built-in theme's ``theme.toml`` is missing or malformed (a programming error)."""


class UnknownTheme(ValidationFailed):
    """No built-in theme has that name (422 ``unknown_theme``; ``detail`` lists the choices)."""

    code = "unknown_theme"


@dataclass(frozen=True, slots=True)
class ThemeDef:
    """A validated built-in theme."""

    name: str
    label: str
    description: str
    tokens: Mapping[str, str]
    """Every name of :data:`~themes.brand.TOKEN_NAMES` → ``#rrggbb``."""
    font: str
    """A key of :data:`~themes.brand.FONTS`."""
    radius: int
    templates_dir: Path
    static_dir: Path
    css: str
    """The theme's own CSS (``static/theme.css``; empty when the theme has none)."""


def _fail(path: Path, message: str) -> ThemeDefinitionError:
    return ThemeDefinitionError(f"built-in theme {path}: {message}")


def _text(path: Path, data: Mapping[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _fail(path, f"{key!r} must be a non-empty string of at most {limit} characters")
    return value


def _tokens(path: Path, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise _fail(path, "[tokens] must be a table")
    missing = [name for name in TOKEN_NAMES if name not in raw]
    unknown = sorted(set(raw) - set(TOKEN_NAMES))
    if missing or unknown:
        raise _fail(path, f"[tokens] missing {missing}, unknown {unknown}")
    tokens: dict[str, str] = {}
    for name in TOKEN_NAMES:
        value = raw[name]
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            raise _fail(path, f"tokens.{name} must be a lower-case '#rrggbb' colour")
        tokens[name] = value
    for fg, bg in CHECKED_PAIRS:
        ratio = contrast_ratio(tokens[fg], tokens[bg])
        if ratio < _MIN_CONTRAST:
            raise _fail(path, f"tokens.{fg} on tokens.{bg} has contrast {ratio:.2f}:1, needs 4.5:1")
    return tokens


def load_theme(folder: Path) -> ThemeDef:
    """Read and validate the theme in ``folder`` (``theme.toml`` and ``static/theme.css``).

    Raises:
        ThemeDefinitionError: the file is missing, not TOML, or breaks a rule of the format.
    """
    path = folder / "theme.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _fail(path, f"cannot be read: {exc}") from exc
    unknown = sorted(set(data) - _KEYS)
    missing = sorted(_KEYS - set(data))
    if unknown or missing:
        raise _fail(path, f"missing keys {missing}, unknown keys {unknown}")
    name = data["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name != folder.name:
        raise _fail(path, f"'name' must be the folder's name {folder.name!r}")
    if name in ALIASES:
        raise _fail(path, f"{name!r} is reserved as an alias")
    font = data["font"]
    if font not in FONTS:
        raise _fail(path, f"'font' must be one of {sorted(FONTS)}")
    radius = data["radius"]
    if type(radius) is not int or not _RADIUS[0] <= radius <= _RADIUS[1]:
        raise _fail(path, f"'radius' must be an integer from {_RADIUS[0]} to {_RADIUS[1]}")
    css_path = folder / "static" / "theme.css"
    try:
        css = css_path.read_text(encoding="utf-8") if css_path.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(css_path, f"cannot be read: {exc}") from exc
    return ThemeDef(
        name=name,
        label=_text(path, data, "label", 60),
        description=_text(path, data, "description", 300),
        tokens=MappingProxyType(_tokens(path, data["tokens"])),
        font=font,
        radius=radius,
        templates_dir=folder / "templates",
        static_dir=folder / "static",
        css=css,
    )


@cache
def load_themes() -> Mapping[str, ThemeDef]:
    """Every built-in theme by name, loaded once per process.

    Raises:
        ThemeDefinitionError: a theme is broken, or the default theme is missing.
    """
    themes = {
        folder.name: load_theme(folder)
        for folder in sorted(THEMES_DIR.iterdir())
        if (folder / "theme.toml").is_file()
    }
    if DEFAULT_THEME not in themes:
        raise ThemeDefinitionError(f"the default theme {DEFAULT_THEME!r} is not built in")
    return MappingProxyType(themes)


def theme_names() -> list[str]:
    """The built-in themes' names, sorted (aliases not included)."""
    return sorted(load_themes())


def resolve_theme_name(name: str) -> str:
    """The built-in theme ``name`` stands for (an alias resolved).

    Raises:
        UnknownTheme: no built-in theme or alias has that name.
    """
    canonical = ALIASES.get(name, name)
    if canonical not in load_themes():
        shown = name if len(name) <= 64 else name[:64] + "..."
        raise UnknownTheme(
            f"There is no built-in theme {shown!r}; the themes are {', '.join(theme_names())}.",
            detail={"field": "theme", "choices": theme_names()},
        )
    return canonical


def get_theme(name: str) -> ThemeDef:
    """The built-in theme called ``name`` (or an alias of it, such as ``default``).

    Raises:
        UnknownTheme: no built-in theme or alias has that name.
    """
    return load_themes()[resolve_theme_name(name)]
