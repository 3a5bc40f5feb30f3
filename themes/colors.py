"""CSS colour parsing and WCAG 2.1 contrast (pure functions, no I/O).

:func:`parse_color` is the only way a tenant's colour reaches a stylesheet: it accepts a small,
strict subset of CSS colour syntax and always answers a normalised ``#rrggbb``, so what ends up
in CSS is six lowercase hex digits whatever was typed. Everything it does not recognise is
refused, including alpha: the contrast rule (issue 4) needs opaque colours, since the ratio of a
translucent colour depends on what is behind it.
"""

from __future__ import annotations

import colorsys
import re
from typing import Final

import webcolors

__all__ = [
    "MAX_COLOR_LENGTH",
    "contrast_ratio",
    "mix",
    "parse_color",
    "relative_luminance",
    "rgb_of",
]

#: Longest input considered at all (``hsl(359.9999deg, 100.0000%, 100.0000%)`` is 40).
MAX_COLOR_LENGTH: Final = 64

_HEX = re.compile(r"#([0-9a-f]{3}|[0-9a-f]{6})", re.IGNORECASE)
_HEX_ALPHA = re.compile(r"#(?:[0-9a-f]{4}|[0-9a-f]{8})", re.IGNORECASE)
# A component: an integer 0-255 or a percentage; spaces (U+0020 only) may surround separators.
_NUM = r"(\d{1,3}(?:\.\d{1,4})?%?)"
_RGB_COMMAS = re.compile(rf"rgb\( *{_NUM} *, *{_NUM} *, *{_NUM} *\)", re.IGNORECASE)
_RGB_SPACES = re.compile(rf"rgb\( *{_NUM} +{_NUM} +{_NUM} *\)", re.IGNORECASE)
_HUE = r"(\d{1,3}(?:\.\d{1,4})?)(?:deg)?"
_PCT = r"(\d{1,3}(?:\.\d{1,4})?)%"
_HSL_COMMAS = re.compile(rf"hsl\( *{_HUE} *, *{_PCT} *, *{_PCT} *\)", re.IGNORECASE)
_HSL_SPACES = re.compile(rf"hsl\( *{_HUE} +{_PCT} +{_PCT} *\)", re.IGNORECASE)
# Shapes that carry alpha: refused with a message that says why.
_ALPHA_FUNCTION = re.compile(r"(?:rgba|hsla)\(|(?:rgb|hsl)\([^)]*(?:/|,[^,)]*,[^,)]*,)", re.I)
_NAME = re.compile(r"[a-z]{3,20}", re.IGNORECASE)
# CSS Color 4 adds one name to the CSS3 table that webcolors implements.
_EXTRA_NAMES: Final = {"rebeccapurple": "#663399"}
_NOT_OPAQUE: Final = frozenset({"transparent"})
_USAGE: Final = "use #rrggbb, #rgb, rgb(r, g, b), hsl(h, s%, l%) or a CSS colour name"


def _alpha_refused() -> ValueError:
    return ValueError(
        "colours with alpha (transparency) are not accepted: contrast can only be checked for "
        f"opaque colours; {_USAGE}"
    )


def parse_color(value: str) -> str:
    """Parse a CSS colour and answer it as lowercase ``#rrggbb``.

    Accepted: ``#rgb`` and ``#rrggbb`` (any case); ``rgb(r, g, b)`` and ``rgb(r g b)`` with
    integers 0-255 or percentages 0-100% per component; ``hsl(h, s%, l%)`` and
    ``hsl(h s% l%)`` with a hue of 0-360 (optionally ``deg``); the 148 CSS named colours (any
    case). The value must be exactly the colour: no surrounding whitespace, tabs, newlines,
    comments, escapes or anything after it.

    Raises:
        ValueError: for anything else, with a message fit for the user; colours with alpha
            (``#rgba``, ``rgba()``, ``rgb(... / a)``, ``transparent``) are refused because
            contrast needs opaque colours.
    """
    if not isinstance(value, str):
        raise ValueError(f"a colour must be a string; {_USAGE}")
    if len(value) > MAX_COLOR_LENGTH:
        raise ValueError(f"too long for a colour (at most {MAX_COLOR_LENGTH} characters)")
    if not value.isascii() or not value.isprintable():
        raise ValueError(f"not a colour (unexpected characters); {_USAGE}")
    if match := _HEX.fullmatch(value):
        digits = match.group(1).lower()
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return "#" + digits
    if _HEX_ALPHA.fullmatch(value):
        raise _alpha_refused()
    if match := _RGB_COMMAS.fullmatch(value) or _RGB_SPACES.fullmatch(value):
        return _hex(*(_rgb_component(part) for part in match.groups()))
    if match := _HSL_COMMAS.fullmatch(value) or _HSL_SPACES.fullmatch(value):
        hue, saturation, lightness = (float(part) for part in match.groups())
        if hue > 360 or saturation > 100 or lightness > 100:
            raise ValueError("hsl() takes a hue of 0-360 and percentages of 0-100%")
        red, green, blue = colorsys.hls_to_rgb((hue % 360) / 360, lightness / 100, saturation / 100)
        return _hex(_round(red * 255), _round(green * 255), _round(blue * 255))
    if _ALPHA_FUNCTION.match(value):
        raise _alpha_refused()
    if _NAME.fullmatch(value):
        name = value.lower()
        if name in _NOT_OPAQUE:
            raise _alpha_refused()
        if name in _EXTRA_NAMES:
            return _EXTRA_NAMES[name]
        try:
            return str(webcolors.name_to_hex(name, spec=webcolors.CSS3))
        except ValueError:
            raise ValueError(f"unknown colour name; {_USAGE}") from None
    raise ValueError(f"not a colour; {_USAGE}")


def _round(x: float) -> int:
    """Round half up (CSS rounds channel values to the nearest integer, .5 upwards)."""
    return int(x + 0.5)


def _rgb_component(text: str) -> int:
    if text.endswith("%"):
        percent = float(text[:-1])
        if percent > 100:
            raise ValueError("rgb() percentages must be between 0% and 100%")
        return _round(percent * 255 / 100)
    if "." in text:
        raise ValueError("rgb() takes whole numbers 0-255 (or percentages)")
    number = int(text)
    if number > 255:
        raise ValueError("rgb() components must be between 0 and 255")
    return number


def _hex(red: int, green: int, blue: int) -> str:
    return f"#{red:02x}{green:02x}{blue:02x}"


def rgb_of(color: str) -> tuple[int, int, int]:
    """The 0-255 channels of a colour (any form :func:`parse_color` accepts)."""
    digits = parse_color(color)
    return int(digits[1:3], 16), int(digits[3:5], 16), int(digits[5:7], 16)


def _linear(channel: int) -> float:
    # WCAG 2.1 uses 0.04045 (the sRGB standard's value; WCAG 2.0 printed 0.03928).
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """WCAG 2.1 relative luminance of an opaque colour: 0.0 (black) to 1.0 (white).

    Raises:
        ValueError: if ``color`` is not a colour :func:`parse_color` accepts.
    """
    red, green, blue = rgb_of(color)
    return 0.2126 * _linear(red) + 0.7152 * _linear(green) + 0.0722 * _linear(blue)


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two opaque colours, from 1.0 to 21.0 (order does not matter).

    Not rounded: WCAG's "at least 4.5:1" is compared with the exact value, so 4.498 fails.

    Raises:
        ValueError: if either is not a colour :func:`parse_color` accepts.
    """
    first, second = relative_luminance(a), relative_luminance(b)
    lighter, darker = max(first, second), min(first, second)
    return (lighter + 0.05) / (darker + 0.05)


def mix(color: str, other: str, weight: float) -> str:
    """``color`` moved ``weight`` (0.0-1.0) of the way towards ``other``, in sRGB, as ``#rrggbb``.

    Raises:
        ValueError: for a weight outside 0-1 or a value that is not a colour.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError("the mixing weight must be between 0 and 1")
    start, end = rgb_of(color), rgb_of(other)
    return _hex(*(_round(s + (e - s) * weight) for s, e in zip(start, end, strict=True)))
