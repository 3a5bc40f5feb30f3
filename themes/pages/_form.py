"""The editor's form, both ways: a brand shown as field values, and posted fields as a patch.

Pure functions (no request, no database), so their rules are tested directly. The form's field
names are the API's field paths (``app_name``, ``tokens.primary``, ``copy.hero``), which is
also how validation names a field in its errors; so an error goes next to its field by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from themes.brand import COPY_BLOCKS, FONTS, TOKEN_NAMES, Brand

__all__ = [
    "FIELD_LIMITS",
    "TEXT_FIELDS",
    "URL_FIELDS",
    "field_errors",
    "font_choices",
    "form_values",
    "patch_from_form",
]

#: Plain text fields of the brand that the form edits as they are.
TEXT_FIELDS = ("app_name", "tagline", "email_sender_name", "default_locale")
#: Link fields: empty in the form means no link (``None``).
URL_FIELDS = ("support_url", "terms_url", "privacy_url")

#: Longest value the form accepts per field, before any validation. Larger than validation's
#: own limits (which then give the precise message), small enough that nobody can make the
#: server read megabytes of text.
FIELD_LIMITS: Mapping[str, int] = {
    "app_name": 1000,
    "tagline": 2000,
    "email_sender_name": 1000,
    "default_locale": 100,
    "font": 100,
    "radius": 20,
    **dict.fromkeys(URL_FIELDS, 5000),
    **{f"tokens.{name}": 200 for name in TOKEN_NAMES},
    **{f"copy.{name}": 50_000 for name in COPY_BLOCKS},
    "action": 20,
    "remove_logo": 5,
    "remove_favicon": 5,
}


def form_values(brand: Brand) -> dict[str, str]:
    """The brand as the editor's field values (the colour fields hold only the overrides)."""
    values: dict[str, str] = {name: str(getattr(brand, name) or "") for name in TEXT_FIELDS}
    values.update({name: getattr(brand, name) or "" for name in URL_FIELDS})
    values["font"] = brand.font
    values["radius"] = str(brand.radius)
    for name in TOKEN_NAMES:
        values[f"tokens.{name}"] = brand.tokens.get(name, "")
    for name in COPY_BLOCKS:
        values[f"copy.{name}"] = brand.copy.get(name, "")
    return values


def _radius(raw: str) -> int | str:
    """An integer when the field holds one (validation checks its range), else the text, so
    that validation refuses it with its own code."""
    text = raw.strip()
    digits = text[1:] if text.startswith("-") else text
    if digits.isascii() and digits.isdigit() and len(digits) <= 6:
        return int(text)
    return text


def patch_from_form(
    values: Mapping[str, str], base_tokens: Mapping[str, str], *, current: Brand | None = None
) -> dict[str, Any]:
    """The draft patch that a posted editor form asks for.

    Only fields present in the form are patched, and with ``current`` (the brand the page
    showed) only those whose text differs from what it showed: an admin's save then never
    overwrites a field another admin changed meanwhile, and a contrast error names the colour
    that was changed, not its unchanged partner. A colour field that is empty, or that holds
    exactly the base theme's colour, removes the brand's override (the token then follows the
    base theme); copy blocks that are empty (or only whitespace) likewise fall back to the
    theme's text; empty links become ``None``. Everything else is passed through as typed:
    validation (``themes.validation.validate_brand_patch``) decides what is acceptable.
    """
    if current is not None:
        shown = form_values(current)
        values = {k: v for k, v in values.items() if k not in shown or v != shown[k]}
    patch: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in values:
            patch[name] = values[name].strip()
    for name in URL_FIELDS:
        if name in values:
            patch[name] = values[name].strip() or None
    if "font" in values:
        patch["font"] = values["font"]
    if "radius" in values:
        patch["radius"] = _radius(values["radius"])
    tokens: dict[str, str | None] = {}
    for name in TOKEN_NAMES:
        key = f"tokens.{name}"
        if key in values:
            value = values[key].strip()
            same = value.lower() == base_tokens.get(name, "").lower()
            tokens[name] = None if not value or same else value
    if tokens:
        patch["tokens"] = tokens
    copy: dict[str, str | None] = {}
    for name in COPY_BLOCKS:
        key = f"copy.{name}"
        if key in values:
            copy[name] = values[key] if values[key].strip() else None
    if copy:
        patch["copy"] = copy
    return patch


def field_errors(detail: Any) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Split the errors of a ``ValidationFailed`` detail into those of the form's fields (by
    field name) and the rest (shown at the top of the page).

    ``detail`` is ``{"errors": [{"field", "code", "message", ...}]}`` (brand validation) or
    ``{"field": ..., ...}`` (one error, as other validators give it); anything else gives no
    field errors.
    """
    if not isinstance(detail, Mapping):
        return {}, []
    items = detail.get("errors")
    if not isinstance(items, list):
        items = [detail] if "field" in detail else []
    known = set(FIELD_LIMITS) | {"logo", "favicon"}
    by_field: dict[str, list[dict[str, Any]]] = {}
    others: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        entry = dict(item)
        entry.setdefault("message", "This value is not accepted.")
        field = entry.get("field")
        if isinstance(field, str) and field == "tokens":
            field = None
        if isinstance(field, str) and field in known:
            by_field.setdefault(field, []).append(entry)
        else:
            others.append(entry)
    return by_field, others


def font_choices() -> list[tuple[str, str]]:
    """The font select's options: (key, label)."""
    return [(key, key.replace("-", " ").capitalize()) for key in FONTS]
