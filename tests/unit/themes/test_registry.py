"""The built-in theme registry: the two shipped themes, the alias, and strict ``theme.toml``
checking (a broken built-in theme stops the start-up with a message naming file and key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from themes.brand import DEFAULT_THEME, FONTS, TOKEN_NAMES
from themes.colors import contrast_ratio
from themes.registry import (
    CHECKED_PAIRS,
    ThemeDefinitionError,
    UnknownTheme,
    get_theme,
    load_theme,
    resolve_theme_name,
    theme_names,
)
from whitelabel.errors import ValidationFailed

GOOD_TOKENS = {
    "primary": "#1b3a6b",
    "on_primary": "#ffffff",
    "secondary": "#7a5c12",
    "accent": "#c9a227",
    "background": "#fbf9f4",
    "surface": "#ffffff",
    "text": "#1c2333",
    "muted": "#5a6275",
    "danger": "#a4262c",
}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string of ASCII text is a TOML basic string
    return repr(value)


def _theme_dir(tmp_path: Path, folder_name: str = "sample", **changes: Any) -> Path:
    """A theme folder whose theme.toml is a valid definition with ``changes`` (None: drop)."""
    values: dict[str, Any] = {
        "name": folder_name,
        "label": "Sample",
        "description": "A theme for tests.",
        "font": "serif",
        "radius": 6,
        "tokens": dict(GOOD_TOKENS),
    }
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    tokens = values.pop("tokens", None)
    lines = [f"{key} = {_value(value)}" for key, value in values.items()]
    if tokens is not None:
        lines += ["[tokens]", *(f"{k} = {_value(v)}" for k, v in tokens.items())]
    folder = tmp_path / folder_name
    folder.mkdir()
    (folder / "theme.toml").write_text("\n".join(lines) + "\n")
    return folder


def test_the_built_in_themes_load_with_every_token_and_readable_pairs() -> None:
    assert theme_names() == ["campus", "corporate"]
    campus, corporate = get_theme("campus"), get_theme("corporate")
    assert (campus.font, campus.radius) == ("serif", 6)
    assert (corporate.font, corporate.radius) == ("geometric", 12)
    assert campus.tokens != corporate.tokens
    for theme in (campus, corporate):
        assert tuple(theme.tokens) == TOKEN_NAMES
        assert theme.font in FONTS
        assert (
            theme.templates_dir.name == "templates"
            and theme.templates_dir.parent.name == theme.name
        )
        for fg, bg in CHECKED_PAIRS:
            assert contrast_ratio(theme.tokens[fg], theme.tokens[bg]) >= 4.5, (theme.name, fg, bg)


def test_default_is_an_alias_of_campus() -> None:
    assert DEFAULT_THEME == "campus"
    assert get_theme("default") is get_theme("campus")
    assert resolve_theme_name("default") == "campus"
    assert "default" not in theme_names()


@pytest.mark.parametrize("name", ["", "nope", "Campus", "campus ", "../campus", "x" * 500, "brand"])
def test_unknown_names_are_a_validation_error(name: str) -> None:
    with pytest.raises(UnknownTheme) as caught:
        get_theme(name)
    assert isinstance(caught.value, ValidationFailed)
    assert caught.value.code == "unknown_theme" and caught.value.status_code == 422
    assert caught.value.detail == {"field": "theme", "choices": ["campus", "corporate"]}
    assert len(caught.value.message) < 200


def test_a_valid_definition_loads(tmp_path: Path) -> None:
    folder = _theme_dir(tmp_path)
    (folder / "static").mkdir()
    (folder / "static" / "theme.css").write_text("h1{font-family:var(--wl-font)}\n")
    theme = load_theme(folder)
    assert theme.name == "sample" and dict(theme.tokens) == GOOD_TOKENS
    assert theme.css == "h1{font-family:var(--wl-font)}\n"
    assert load_theme(_theme_dir(tmp_path, "plain")).css == ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "other"}, "'name' must be the folder's name"),
        ({"label": None}, "missing keys ['label']"),
        ({"extra": "x"}, "unknown keys ['extra']"),
        ({"label": ""}, "'label' must be a non-empty string"),
        ({"description": 3}, "'description' must be a non-empty string"),
        ({"font": "Comic Sans"}, "'font' must be one of"),
        ({"radius": 33}, "'radius' must be an integer from 0 to 32"),
        ({"radius": "6"}, "'radius' must be an integer"),
        ({"radius": True}, "'radius' must be an integer"),
        ({"radius": 6.5}, "'radius' must be an integer"),
        ({"tokens": {**GOOD_TOKENS, "primary": "#FFF"}}, "tokens.primary must be a lower-case"),
        ({"tokens": {**GOOD_TOKENS, "primary": "red"}}, "tokens.primary must be a lower-case"),
        ({"tokens": {**GOOD_TOKENS, "text": "#ff0000;}"}}, "tokens.text must be a lower-case"),
        ({"tokens": {k: v for k, v in GOOD_TOKENS.items() if k != "muted"}}, "missing ['muted']"),
        ({"tokens": {**GOOD_TOKENS, "glow": "#ffffff"}}, "unknown ['glow']"),
        ({"tokens": {**GOOD_TOKENS, "text": "#eeeeee"}}, "tokens.text on tokens.background"),
        (
            {"tokens": {**GOOD_TOKENS, "on_primary": "#2b4a7b"}},
            "tokens.on_primary on tokens.primary",
        ),
        ({"tokens": {**GOOD_TOKENS, "muted": "#b0b0b0"}}, "tokens.muted on tokens.background"),
    ],
)
def test_a_broken_definition_fails_loudly(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    folder = _theme_dir(tmp_path, **changes)
    with pytest.raises(ThemeDefinitionError) as caught:
        load_theme(folder)
    assert message in str(caught.value)
    assert str(folder / "theme.toml") in str(caught.value)


def test_unreadable_files_fail_loudly(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    with pytest.raises(ThemeDefinitionError, match="cannot be read"):
        load_theme(folder)
    (folder / "theme.toml").write_text('name = "broken"\n[tokens\n')
    with pytest.raises(ThemeDefinitionError, match="cannot be read"):
        load_theme(folder)
    (folder / "theme.toml").write_bytes(b'name = "\xff"\n')
    with pytest.raises(ThemeDefinitionError, match="cannot be read"):
        load_theme(folder)
