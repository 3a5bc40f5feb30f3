"""themes.colors: the strict colour parser and WCAG 2.1 contrast."""

from __future__ import annotations

import pytest

from themes.colors import contrast_ratio, mix, parse_color, relative_luminance, rgb_of


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#abc", "#aabbcc"),
        ("#ABC", "#aabbcc"),
        ("#1a2B3c", "#1a2b3c"),
        ("#FFFFFF", "#ffffff"),
        ("#000", "#000000"),
        ("rgb(255, 0, 0)", "#ff0000"),
        ("rgb(255,0,0)", "#ff0000"),
        ("rgb( 1 , 2 , 3 )", "#010203"),
        ("RGB(0, 128, 255)", "#0080ff"),
        ("rgb(0 128 255)", "#0080ff"),
        ("rgb(100%, 0%, 50%)", "#ff0080"),
        ("rgb(100% 50% 0%)", "#ff8000"),
        ("rgb(20%, 40.5%, 0%)", "#336700"),
        ("rgb(007, 0, 0)", "#070000"),
        ("hsl(0, 100%, 50%)", "#ff0000"),
        ("hsl(120, 100%, 50%)", "#00ff00"),
        ("hsl(240deg 100% 50%)", "#0000ff"),
        ("hsl(360, 100%, 50%)", "#ff0000"),
        ("HSL(0, 0%, 100%)", "#ffffff"),
        ("hsl(210, 50%, 40%)", "#336699"),
        ("hsl(30.5 20% 10%)", "#1f1a14"),
        ("red", "#ff0000"),
        ("Navy", "#000080"),
        ("REBECCAPURPLE", "#663399"),
        ("rebeccapurple", "#663399"),
        ("lightgoldenrodyellow", "#fafad2"),
        ("grey", "#808080"),
    ],
)
def test_accepted_forms_normalise_to_lowercase_rrggbb(value: str, expected: str) -> None:
    assert parse_color(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "#abcd",
        "#aabbccdd",
        "rgba(0, 0, 0, 0.5)",
        "rgba(0,0,0)",
        "RGBA(1 2 3 / 50%)",
        "rgb(1, 2, 3, 0.5)",
        "rgb(1 2 3 / 0.5)",
        "rgb(1 2 3/50%)",
        "hsla(0, 0%, 0%, 0.1)",
        "hsl(0 0% 0% / 10%)",
        "transparent",
        "Transparent",
    ],
)
def test_alpha_is_refused_with_the_reason(value: str) -> None:
    with pytest.raises(ValueError, match="opaque"):
        parse_color(value)


HOSTILE = [
    "",
    " ",
    " #fff",
    "#fff ",
    "#fff\n",
    "\t#fff",
    "#fff;",
    "red;}",
    "red;}body{background:url(//evil)}",
    "red}",
    "red;background:url(http://evil/x.png)",
    "url(http://evil/x.png)",
    "url(#fff)",
    "expression(alert(1))",
    "red expression(alert(1))",
    "var(--wl-primary)",
    "calc(1px)",
    "\\72 ed",
    "\\000072ed",
    "r\\ed",
    "#f\\ff",
    "red/**/",
    "/**/red",
    "#fff/*",
    "red !important",
    "red\x00",
    "#ff\x00fff",
    "\x00",
    "réd",
    "#\uff46\uff46\uff46",
    "\u200bred",
    "red\u202e",
    "#" + "f" * 100,
    "a" * 10_000,
    "#ff",
    "#fffff",
    "#fffffff",
    "#ggg",
    "fff",
    "0xffffff",
    "#-12345",
    "currentcolor",
    "inherit",
    "initial",
    "unset",
    "none",
    "notacolour",
    "rgb()",
    "rgb(1, 2)",
    "rgb(1, 2, 3, 4, 5)",
    "rgb(256, 0, 0)",
    "rgb(-1, 0, 0)",
    "rgb(1.5, 2, 3)",
    "rgb(1e2, 0, 0)",
    "rgb(101%, 0%, 0%)",
    "rgb(1, 2 3)",
    "rgb(1,, 2, 3)",
    "rgb(1\t2\t3)",
    "rgb(1\n,2,3)",
    "rgb (1, 2, 3)",
    "rgb(1, 2, 3",
    "rgb(1, 2, 3))",
    "rgb(1, 2, 3);",
    "hsl(0, 0, 0)",
    "hsl(361, 0%, 0%)",
    "hsl(-1, 0%, 0%)",
    "hsl(0, 101%, 50%)",
    "hsl(0rad, 10%, 10%)",
    "hsl(0turn 10% 10%)",
    "lab(50% 40 59)",
    "color(srgb 1 0 0)",
    "hwb(0 0% 0%)",
    "red,blue",
    "ff0000",
    "#<script>",
    "</style><script>alert(1)</script>",
    "@import 'x'",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies; any refusal is right
        parse_color(value)


@pytest.mark.parametrize("value", [None, 0xFFFFFF, b"#fff", ["#fff"], 1.0])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="string"):
        parse_color(value)  # type: ignore[arg-type]


def test_overlong_input_is_refused_before_matching() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_color("r" * 65)


def test_unknown_name_and_bad_ranges_have_specific_messages() -> None:
    with pytest.raises(ValueError, match="unknown colour name"):
        parse_color("bluish")
    with pytest.raises(ValueError, match="0 and 255"):
        parse_color("rgb(300, 0, 0)")
    with pytest.raises(ValueError, match="whole numbers"):
        parse_color("rgb(0.5, 0, 0)")
    with pytest.raises(ValueError, match="0-360"):
        parse_color("hsl(400, 0%, 0%)")


def test_rgb_of_answers_channels() -> None:
    assert rgb_of("#0a80ff") == (10, 128, 255)
    assert rgb_of("rgb(1 2 3)") == (1, 2, 3)


@pytest.mark.parametrize(
    ("color", "luminance"),
    [
        ("#000000", 0.0),
        ("#ffffff", 1.0),
        ("#ff0000", 0.2126),
        ("#00ff00", 0.7152),
        ("#0000ff", 0.0722),
        # 10/255 = 0.0392 is below the sRGB threshold 0.04045: the linear segment, c / 12.92.
        ("#0a0a0a", (10 / 255) / 12.92),
        # 11/255 = 0.0431 is above it: the power curve.
        ("#0b0b0b", ((11 / 255 + 0.055) / 1.055) ** 2.4),
    ],
)
def test_relative_luminance(color: str, luminance: float) -> None:
    assert relative_luminance(color) == pytest.approx(luminance, abs=1e-12)


@pytest.mark.parametrize(
    ("a", "b", "ratio"),
    [
        # Published values (WebAIM contrast checker, WCAG 2.1 formula).
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#ffffff", 1.0),
        ("#ff0000", "#ffffff", 4.0),
        ("#0000ff", "#ffffff", 8.59),
        ("#008000", "#ffffff", 5.14),
        ("#595959", "#ffffff", 7.0),
        ("#767676", "#ffffff", 4.54),
        ("#777777", "#ffffff", 4.48),
        ("#808080", "#ffffff", 3.95),
    ],
)
def test_contrast_ratio_matches_published_values(a: str, b: str, ratio: float) -> None:
    assert contrast_ratio(a, b) == pytest.approx(ratio, abs=0.005)
    assert contrast_ratio(b, a) == contrast_ratio(a, b)


@pytest.mark.parametrize(
    ("a", "b", "passes"),
    [
        ("#767676", "#ffffff", True),  # 4.54
        ("#777777", "#ffffff", False),  # 4.48
        ("#747474", "#000000", False),  # 4.49
        ("#757575", "#000000", True),  # 4.56
        ("#c4f03b", "#8921ef", True),  # 4.50002
        ("#0a6cad", "#e8eabc", True),  # 4.50009
        ("#6d9290", "#152733", False),  # 4.49999
        ("#074f78", "#35c8fa", False),  # 4.49985
    ],
)
def test_contrast_either_side_of_aa(a: str, b: str, passes: bool) -> None:
    ratio = contrast_ratio(a, b)
    assert abs(ratio - 4.5) < 0.07
    assert (ratio >= 4.5) is passes


def test_contrast_refuses_non_colours() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        contrast_ratio("#fff", "red;}")


@pytest.mark.parametrize(
    ("a", "b", "weight", "expected"),
    [
        ("#000000", "#ffffff", 0.0, "#000000"),
        ("#000000", "#ffffff", 1.0, "#ffffff"),
        ("#000000", "#ffffff", 0.5, "#808080"),
        ("#ff0000", "#0000ff", 0.25, "#bf0040"),
    ],
)
def test_mix(a: str, b: str, weight: float, expected: str) -> None:
    assert mix(a, b, weight) == expected


@pytest.mark.parametrize("weight", [-0.1, 1.01])
def test_mix_refuses_weights_outside_0_1(weight: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        mix("#000", "#fff", weight)
