"""themes.css: only fixed shapes reach the stylesheet; derived tokens; content hashes."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from themes.brand import FONTS, TOKEN_NAMES
from themes.colors import contrast_ratio
from themes.css import DERIVED_TOKENS, build_stylesheet, content_hash, derived_tokens

TOKENS = {
    "primary": "#1d4ed8",
    "on_primary": "#ffffff",
    "secondary": "#0f766e",
    "accent": "#b45309",
    "background": "#ffffff",
    "surface": "#f3f4f6",
    "text": "#111827",
    "muted": "#4b5563",
    "danger": "#b91c1c",
}
ROOT = re.compile(r":root\{([^{}]*)\}\n")


def declarations(css: str) -> dict[str, str]:
    match = ROOT.match(css)
    assert match is not None
    pairs = [item.split(":", 1) for item in match.group(1).split(";")]
    return {name: value for name, value in pairs}


def test_stylesheet_shape() -> None:
    css = build_stylesheet(TOKENS, font="serif", radius=8, base_css="body{color:var(--wl-text)}")
    assert css.startswith(":root{--wl-primary:#1d4ed8;--wl-on-primary:#ffffff;")
    assert css.endswith("}\nbody{color:var(--wl-text)}")
    found = declarations(css)
    for name, value in TOKENS.items():
        assert found[f"--wl-{name.replace('_', '-')}"] == value
    assert found["--wl-font"] == FONTS["serif"]
    assert found["--wl-radius"] == "8px"
    assert [k for k in found if k.startswith("--wl-")][: len(TOKEN_NAMES)] == [
        f"--wl-{n.replace('_', '-')}" for n in TOKEN_NAMES
    ]
    for name in DERIVED_TOKENS:
        assert re.fullmatch(r"#[0-9a-f]{6}", found[f"--wl-{name.replace('_', '-')}"])


def test_output_is_deterministic_whatever_the_mapping_order() -> None:
    reverse = dict(reversed(list(TOKENS.items())))
    a = build_stylesheet(TOKENS, font="system", radius=4)
    assert a == build_stylesheet(reverse, font="system", radius=4)
    assert content_hash(a) == content_hash(build_stylesheet(reverse, font="system", radius=4))
    assert content_hash(a) != content_hash(build_stylesheet(TOKENS, font="system", radius=5))


def test_extra_theme_tokens_follow_the_standard_ones_sorted() -> None:
    css = build_stylesheet(
        {**TOKENS, "link": "#0000ee", "border_strong": "#333333"}, font="mono", radius=0
    )
    names = list(declarations(css))
    assert names.index("--wl-danger") < names.index("--wl-border-strong") < names.index("--wl-link")


@pytest.mark.parametrize(
    "value",
    [
        "red",
        "#FFFFFF",
        "#fff",
        "#ffffff;}body{background:red}",
        "#ffffff}",
        "url(https://evil.example/x)",
        "expression(alert(1))",
        "#fffff\n",
        "#ffffff\n",
        "#ffffff ",
        "var(--x)",
        "\\72 ed",
        "",
        "#\uff46\uff46\uff46\uff46\uff46\uff46",
        "#ff00ff\x00",
    ],
)
@pytest.mark.parametrize("token", TOKEN_NAMES)
def test_unnormalised_or_hostile_colours_are_refused(token: str, value: str) -> None:
    with pytest.raises(ValueError, match="#rrggbb"):
        build_stylesheet({**TOKENS, token: value}, font="system", radius=8)


@pytest.mark.parametrize("value", [None, 0xFFFFFF, b"#ffffff", ("#ffffff",)])
def test_non_string_colours_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="#rrggbb"):
        build_stylesheet({"primary": value}, font="system", radius=8)


@pytest.mark.parametrize(
    "name",
    ["Primary", "primary;", "x}body{", "--wl-x", "a-b", "", "1abc", "a" * 33, "prim ary", 3],
)
def test_token_names_are_identifiers(name: Any) -> None:
    with pytest.raises(ValueError, match="identifier"):
        build_stylesheet({name: "#000000"}, font="system", radius=8)


@pytest.mark.parametrize("name", DERIVED_TOKENS)
def test_derived_names_cannot_be_supplied(name: str) -> None:
    with pytest.raises(ValueError, match="derived"):
        build_stylesheet({**TOKENS, name: "#000000"}, font="system", radius=8)


@pytest.mark.parametrize(
    "font", ["Comic Sans", "system;}body{", "SYSTEM", "", "url(x)", FONTS["system"], None, 1]
)
def test_font_must_be_a_key(font: Any) -> None:
    with pytest.raises(ValueError, match="font"):
        build_stylesheet(TOKENS, font=font, radius=8)


@pytest.mark.parametrize("radius", [-1, 1000, 8.0, "8", "8px", True, None, 10**20])
def test_radius_must_be_a_bounded_int(radius: Any) -> None:
    with pytest.raises(ValueError, match="radius"):
        build_stylesheet(TOKENS, font="system", radius=radius)


def test_base_css_must_be_text() -> None:
    with pytest.raises(ValueError, match="base_css"):
        build_stylesheet(TOKENS, font="system", radius=8, base_css=b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize("font", sorted(FONTS))
def test_every_font_stack_is_written(font: str) -> None:
    css = build_stylesheet({}, font=font, radius=0)
    assert css == f":root{{--wl-font:{FONTS[font]};--wl-radius:0px}}\n"


@pytest.mark.parametrize(
    ("primary", "on_primary"),
    [
        ("#1d4ed8", "#ffffff"),  # light text on dark: hover darkens
        ("#facc15", "#000000"),  # dark text on light: hover lightens
        ("#767676", "#ffffff"),  # at the edge of AA
        ("#000000", "#ffffff"),
        ("#ffffff", "#000000"),
    ],
)
def test_hover_states_keep_the_button_label_contrast(primary: str, on_primary: str) -> None:
    derived = derived_tokens({"primary": primary, "on_primary": on_primary})
    base = contrast_ratio(primary, on_primary)
    assert contrast_ratio(derived["primary_hover"], on_primary) >= base
    assert contrast_ratio(derived["primary_active"], on_primary) >= base


def test_derived_token_values() -> None:
    derived = derived_tokens(TOKENS)
    assert set(derived) == set(DERIVED_TOKENS)
    assert derived["primary_hover"] == "#1942b8"  # 15 % towards black
    assert derived["primary_subtle"] == "#e4eafa"  # 12 % primary on white
    assert derived["border"] == "#cfd1d4"  # 20 % text on white
    assert derived_tokens({"text": "#000000"}) == {}
    assert set(derived_tokens({"primary": "#000000", "background": "#ffffff"})) == {
        "primary_subtle"
    }


def test_content_hash() -> None:
    assert content_hash(b"") == hashlib.sha256(b"").hexdigest()[:16]
    assert content_hash("é") == hashlib.sha256("é".encode()).hexdigest()[:16]
    assert content_hash("abc") == content_hash(b"abc")
    assert re.fullmatch(r"[0-9a-f]{16}", content_hash(b"x" * 10_000))
