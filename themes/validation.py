"""Validation of brand edits: a partial JSON patch in, a new validated :class:`Brand` out.

Every field of the patch is checked and every problem is reported at once (an editor shows them
all next to their fields), as ``ValidationFailed(code="invalid_brand", detail={"errors": [...]})``
with one ``{"field", "code", "message", ...}`` per problem. After merging, the effective colours
(base theme's, overridden by the brand's) must meet WCAG 2.1 AA contrast (4.5:1) for the pairs
that carry body text and button labels (issue 4). Pure functions: no I/O, no database.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from themes.brand import COPY_BLOCKS, FONTS, TOKEN_NAMES, Brand
from themes.colors import contrast_ratio, parse_color
from whitelabel.errors import ValidationFailed

__all__ = [
    "ADVISORY_PAIRS",
    "CONTRAST_PAIRS",
    "MAX_COPY_LENGTH",
    "MAX_URL_LENGTH",
    "MIN_CONTRAST",
    "RADIUS_RANGE",
    "contrast_report",
    "validate_brand_patch",
]

#: WCAG 2.1 AA minimum contrast for normal-size text.
MIN_CONTRAST: Final = 4.5
#: (foreground, background) token pairs that must meet :data:`MIN_CONTRAST` to save a brand.
CONTRAST_PAIRS: Final = (("text", "background"), ("on_primary", "primary"))
#: Further pairs the editor warns about (themes use them for text) without refusing them.
ADVISORY_PAIRS: Final = (
    ("text", "surface"),
    ("muted", "background"),
    ("primary", "background"),
    ("danger", "background"),
)
MAX_URL_LENGTH: Final = 2000
MAX_COPY_LENGTH: Final = 5000
RADIUS_RANGE: Final = (0, 32)

_TEXT_LIMITS: Final = {"app_name": (1, 60), "tagline": (0, 140), "email_sender_name": (0, 60)}
_URL_FIELDS: Final = ("support_url", "terms_url", "privacy_url")
_FIELDS: Final = frozenset(
    {*_TEXT_LIMITS, *_URL_FIELDS, "tokens", "font", "radius", "default_locale", "copy"}
)
# Joiners are format characters that some scripts (Persian, Indic) and emoji need; every other
# format character (bidi overrides, zero-width space, ...) is refused with the control characters.
_JOINERS: Final = frozenset({"\u200c", "\u200d"})
# language, optional script, optional region (BCP 47 subset: en, pt-BR, zh-Hant-TW, es-419).
_LOCALE = re.compile(r"([a-z]{2,3})(?:-([a-z]{4}))?(?:-([a-z]{2}|[0-9]{3}))?", re.IGNORECASE)
_HOST = re.compile(
    r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"|\[[0-9a-f:.]{2,45}\]",
    re.IGNORECASE,
)


class _Errors:
    """Collects field errors; raises them together."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, field: str, code: str, message: str, **extra: Any) -> None:
        self.items.append({"field": field, "code": code, "message": message, **extra})

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(
                "the brand settings are not valid",
                code="invalid_brand",
                detail={"errors": self.items},
            )


def _label(key: object) -> str:
    """A key as it may appear in a field path: printable, short (it is user input)."""
    if isinstance(key, str) and key.isprintable() and len(key) <= 40:
        return key
    return repr(key)[:40]


def _type_name(value: object) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
    }.get(type(value), "null" if value is None else "value")


def _printable(text: str, *, multiline: bool = False) -> bool:
    allowed_controls = {"\n", "\r", "\t"} if multiline else set()
    return all(c.isprintable() or c in _JOINERS or c in allowed_controls for c in text)


def _check_text(errors: _Errors, field: str, value: object) -> str | None:
    low, high = _TEXT_LIMITS[field]
    if not isinstance(value, str):
        errors.add(field, "invalid_type", f"expected a string, got {_type_name(value)}")
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    if not _printable(text):
        errors.add(field, "invalid_text", "must be one line of text, without control characters")
        return None
    if field == "email_sender_name" and any(c in text for c in '<>"'):
        errors.add(field, "invalid_text", 'may not contain <, > or " (it goes into email headers)')
        return None
    if len(text) < low or (low and all(c in _JOINERS for c in text)):
        errors.add(field, "required", "may not be empty")
        return None
    if len(text) > high:
        errors.add(field, "too_long", f"at most {high} characters", max=high)
        return None
    return text


def _check_url(errors: _Errors, field: str, value: object) -> tuple[bool, str | None]:
    """``(ok, url)``: ``None`` and ``""`` clear the URL."""
    if value is None or value == "":
        return True, None
    if not isinstance(value, str):
        errors.add(field, "invalid_type", f"expected a string or null, got {_type_name(value)}")
        return False, None
    if len(value) > MAX_URL_LENGTH:
        errors.add(field, "too_long", f"at most {MAX_URL_LENGTH} characters", max=MAX_URL_LENGTH)
        return False, None
    problem = _url_problem(value)
    if problem:
        errors.add(field, "invalid_url", problem)
        return False, None
    return True, value


def _url_problem(url: str) -> str | None:
    if not url.isascii() or not url.isprintable() or " " in url:
        return (
            "may not contain spaces, control or non-ASCII characters "
            "(percent-encode them; use the punycode form of an international domain)"
        )
    if "\\" in url:
        return "may not contain backslashes"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number 0-65535
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with https:// or http://"
    if "@" in parts.netloc:
        return "may not contain a user name or password"
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if not host or not _HOST.fullmatch(host):
        return "must name a host, as in https://example.org/help"
    return None


def _check_tokens(
    errors: _Errors, value: object, current: Mapping[str, str]
) -> tuple[dict[str, str], set[str], set[str]]:
    """``(merged tokens, tokens touched by the patch, tokens that failed)``."""
    merged = dict(current)
    touched: set[str] = set()
    failed: set[str] = set()
    if not isinstance(value, Mapping):
        errors.add("tokens", "invalid_type", f"expected an object, got {_type_name(value)}")
        return merged, touched, set(TOKEN_NAMES)
    for key, color in value.items():
        field = f"tokens.{_label(key)}"
        if key not in TOKEN_NAMES:
            errors.add(
                field, "unknown_field", f"not a colour token; one of {', '.join(TOKEN_NAMES)}"
            )
            continue
        touched.add(key)
        if color is None:
            merged.pop(key, None)
        elif not isinstance(color, str):
            errors.add(field, "invalid_type", f"expected a string or null, got {_type_name(color)}")
            failed.add(key)
        else:
            try:
                merged[key] = parse_color(color)
            except ValueError as exc:
                errors.add(field, "invalid_color", str(exc))
                failed.add(key)
    return {name: merged[name] for name in TOKEN_NAMES if name in merged}, touched, failed


def _check_copy(errors: _Errors, value: object, current: Mapping[str, str]) -> dict[str, str]:
    merged = dict(current)
    if not isinstance(value, Mapping):
        errors.add("copy", "invalid_type", f"expected an object, got {_type_name(value)}")
        return merged
    for key, source in value.items():
        field = f"copy.{_label(key)}"
        if key not in COPY_BLOCKS:
            errors.add(field, "unknown_field", f"not a copy block; one of {', '.join(COPY_BLOCKS)}")
        elif source is None:
            merged.pop(key, None)
        elif not isinstance(source, str):
            errors.add(
                field, "invalid_type", f"expected a string or null, got {_type_name(source)}"
            )
        elif len(source) > MAX_COPY_LENGTH:
            errors.add(
                field, "too_long", f"at most {MAX_COPY_LENGTH} characters", max=MAX_COPY_LENGTH
            )
        elif not _printable(source, multiline=True):
            errors.add(field, "invalid_text", "may not contain control characters")
        else:
            merged[key] = source
    return {name: merged[name] for name in COPY_BLOCKS if name in merged}


def _check_locale(errors: _Errors, value: object) -> str | None:
    if not isinstance(value, str):
        errors.add("default_locale", "invalid_type", f"expected a string, got {_type_name(value)}")
        return None
    match = _LOCALE.fullmatch(value)
    if match is None:
        errors.add(
            "default_locale", "invalid_locale", "must be a language tag such as en, en-GB or pt-BR"
        )
        return None
    language, script, region = match.groups()
    return "-".join(
        part
        for part in (language.lower(), script and script.title(), region and region.upper())
        if part
    )


def _floor2(ratio: float) -> float:
    # Rounded down, so that a failing 4.499 is never shown as "4.5".
    return math.floor(ratio * 100) / 100


def _check_contrast(
    errors: _Errors, effective: Mapping[str, str], touched: set[str], failed: set[str]
) -> None:
    for foreground, background in CONTRAST_PAIRS:
        pair = (foreground, background)
        if failed & set(pair) or not all(name in effective for name in pair):
            continue
        ratio = contrast_ratio(effective[foreground], effective[background])
        if ratio >= MIN_CONTRAST:
            continue
        shown = _floor2(ratio)
        for name in [name for name in pair if name in touched] or list(pair):
            errors.add(
                f"tokens.{name}",
                "low_contrast",
                f"{foreground} on {background} has a contrast of {shown}:1; "
                f"at least {MIN_CONTRAST}:1 is needed (WCAG 2.1 AA)",
                ratio=shown,
                required=MIN_CONTRAST,
                pair=list(pair),
            )


def validate_brand_patch(
    current: Brand, patch: Mapping[str, Any], *, base_tokens: Mapping[str, str]
) -> Brand:
    """Apply a partial edit to a brand and answer the new, validated brand.

    Fields not in ``patch`` keep their current values; in ``tokens`` and ``copy`` a ``null``
    value resets that entry (to the base theme's colour, to the built-in text), and the URL
    fields take ``null`` (or ``""``) to clear. ``logo`` and ``favicon`` are not settable here
    (assets are uploaded). After merging, ``text``/``background`` and ``on_primary``/``primary``
    of the effective tokens (``base_tokens`` overridden by the brand's) must reach 4.5:1.

    Raises:
        ValidationFailed: ``invalid_brand`` with ``detail={"errors": [...]}``, every problem
            found, each ``{"field", "code", "message"}``; codes ``invalid_type``,
            ``unknown_field``, ``invalid_text``, ``required``, ``too_long``, ``invalid_color``,
            ``low_contrast`` (with ``ratio``, ``required`` and ``pair``), ``invalid_font``,
            ``invalid_radius``, ``invalid_url``, ``invalid_locale``.
    """
    errors = _Errors()
    if not isinstance(patch, Mapping):
        errors.add("", "invalid_type", f"expected an object, got {_type_name(patch)}")
        errors.raise_if_any()
    changes: dict[str, Any] = {}
    touched: set[str] = set()
    failed: set[str] = set()
    for key, value in patch.items():
        if key not in _FIELDS:
            hint = (
                "upload it with PUT /api/v1/admin/theme/" + key
                if key in ("logo", "favicon")
                else "not a brand setting"
            )
            errors.add(_label(key), "unknown_field", hint)
        elif key in _TEXT_LIMITS:
            text = _check_text(errors, key, value)
            if text is not None:
                changes[key] = text
        elif key in _URL_FIELDS:
            ok, url = _check_url(errors, key, value)
            if ok:
                changes[key] = url
        elif key == "tokens":
            changes[key], touched, failed = _check_tokens(errors, value, current.tokens)
        elif key == "copy":
            changes[key] = _check_copy(errors, value, current.copy)
        elif key == "font":
            if not isinstance(value, str):
                errors.add(key, "invalid_type", f"expected a string, got {_type_name(value)}")
            elif value not in FONTS:
                errors.add(key, "invalid_font", f"one of {', '.join(FONTS)}")
            else:
                changes[key] = value
        elif key == "radius":
            low, high = RADIUS_RANGE
            if isinstance(value, bool) or not isinstance(value, int):
                errors.add(key, "invalid_type", f"expected a whole number, got {_type_name(value)}")
            elif not low <= value <= high:
                errors.add(key, "invalid_radius", f"between {low} and {high} (pixels)")
            else:
                changes[key] = value
        else:  # default_locale
            locale = _check_locale(errors, value)
            if locale is not None:
                changes[key] = locale
    brand_tokens = changes.get("tokens", current.tokens)
    _check_contrast(errors, {**base_tokens, **brand_tokens}, touched, failed)
    errors.raise_if_any()
    return dataclasses.replace(current, **changes)


def contrast_report(tokens: Mapping[str, str]) -> list[dict[str, Any]]:
    """Contrast of the checked and advisory pairs of effective ``tokens``, for live warnings.

    One entry per pair whose colours are both present: ``{"foreground", "background", "ratio"
    (rounded down to 2 places), "required": 4.5, "passes": bool, "enforced": bool}``;
    ``enforced`` pairs block saving, the others are advice.

    Raises:
        ValueError: if a present token is not a colour.
    """
    report: list[dict[str, Any]] = []
    for pairs, enforced in ((CONTRAST_PAIRS, True), (ADVISORY_PAIRS, False)):
        for foreground, background in pairs:
            if foreground not in tokens or background not in tokens:
                continue
            ratio = contrast_ratio(tokens[foreground], tokens[background])
            report.append(
                {
                    "foreground": foreground,
                    "background": background,
                    "ratio": _floor2(ratio),
                    "required": MIN_CONTRAST,
                    "passes": ratio >= MIN_CONTRAST,
                    "enforced": enforced,
                }
            )
    return report
