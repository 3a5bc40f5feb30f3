"""themes.pages._form: the branding editor's fields as a draft patch, and errors back to fields."""

from __future__ import annotations

from typing import Any

import pytest

from themes.brand import COPY_BLOCKS, TOKEN_NAMES, Brand
from themes.pages._form import FIELD_LIMITS, field_errors, form_values, patch_from_form

BASE = {name: "#000000" for name in TOKEN_NAMES} | {"primary": "#1b3a6b", "background": "#ffffff"}
BRAND = Brand(
    app_name="Campus",
    tagline="Hello",
    tokens={"accent": "#c9a227"},
    radius=6,
    support_url="https://help.example.org/",
    copy={"footer": "Made *here*"},
)


def test_form_values_show_overrides_only_and_every_field() -> None:
    values = form_values(BRAND)
    assert values["tokens.accent"] == "#c9a227"
    assert values["tokens.primary"] == ""  # no override: the field is empty
    assert values["radius"] == "6" and values["font"] == "system"
    assert values["support_url"] == "https://help.example.org/" and values["terms_url"] == ""
    assert values["copy.footer"] == "Made *here*" and values["copy.hero"] == ""
    # every value the form shows is a field the form accepts
    assert set(values) <= set(FIELD_LIMITS)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {}),  # the page posted back as shown: nothing to change
        ({"app_name": "  New Name "}, {"app_name": "New Name"}),
        ({"tokens.primary": "#7B1FA2"}, {"tokens": {"primary": "#7B1FA2"}}),
        ({"tokens.primary": " rgb(1, 2, 3) "}, {"tokens": {"primary": "rgb(1, 2, 3)"}}),
        ({"tokens.accent": ""}, {"tokens": {"accent": None}}),  # emptied: back to the base
        ({"tokens.accent": "#1B3A6B"}, {"tokens": {"accent": "#1B3A6B"}}),
        ({"tokens.primary": "#1B3A6B"}, {"tokens": {"primary": None}}),  # the base's own colour
        ({"tokens.primary": "red;}body{x:y"}, {"tokens": {"primary": "red;}body{x:y"}}),
        ({"support_url": "  "}, {"support_url": None}),
        ({"terms_url": "https://example.org/t"}, {"terms_url": "https://example.org/t"}),
        ({"radius": "12"}, {"radius": 12}),
        ({"radius": " -3 "}, {"radius": -3}),
        ({"radius": "12px"}, {"radius": "12px"}),  # validation refuses it with its own code
        ({"radius": "1" * 30}, {"radius": "1" * 30}),  # never a huge integer
        ({"radius": "١٢"}, {"radius": "١٢"}),  # Arabic-Indic digits are not a number here
        ({"copy.footer": "   \n"}, {"copy": {"footer": None}}),
        ({"copy.hero": "**Hi**"}, {"copy": {"hero": "**Hi**"}}),
        ({"font": "serif"}, {"font": "serif"}),
    ],
)
def test_patch_has_only_what_changed(changes: dict[str, str], expected: dict[str, Any]) -> None:
    posted = {**form_values(BRAND), **changes}
    assert patch_from_form(posted, BASE, current=BRAND) == expected


def test_without_current_every_posted_field_is_patched() -> None:
    patch = patch_from_form(form_values(BRAND), BASE)
    assert patch["app_name"] == "Campus"
    assert patch["tokens"] == {
        name: ("#c9a227" if name == "accent" else None) for name in TOKEN_NAMES
    }
    assert patch["copy"] == {name: ("Made *here*" if name == "footer" else None)
                             for name in COPY_BLOCKS}  # fmt: skip
    assert patch["terms_url"] is None and patch["radius"] == 6


def test_fields_missing_from_the_post_are_left_alone() -> None:
    assert patch_from_form({"tagline": "Only this"}, BASE) == {"tagline": "Only this"}
    assert patch_from_form({"unknown": "x", "tokens.nope": "#fff"}, BASE) == {}


@pytest.mark.parametrize(
    ("detail", "by_field", "others"),
    [
        (None, {}, []),
        ("text", {}, []),
        ({"errors": "not a list"}, {}, []),
        (
            {"errors": [{"field": "tokens.text", "code": "low_contrast", "message": "m",
                         "ratio": 3.2, "required": 4.5}]},
            {"tokens.text": [{"field": "tokens.text", "code": "low_contrast", "message": "m",
                              "ratio": 3.2, "required": 4.5}]},
            [],
        ),
        (
            {"errors": [{"field": "tokens", "code": "invalid_type", "message": "m"},
                        {"field": "copy.<script>", "code": "unknown_field", "message": "n"},
                        "junk", {"code": "x"}]},
            {},
            [{"field": "tokens", "code": "invalid_type", "message": "m"},
             {"field": "copy.<script>", "code": "unknown_field", "message": "n"},
             {"code": "x", "message": "This value is not accepted."}],
        ),
        (
            {"field": "logo", "max_bytes": 10},
            {"logo": [{"field": "logo", "max_bytes": 10,
                       "message": "This value is not accepted."}]},
            [],
        ),
    ],
)  # fmt: skip
def test_field_errors_split_by_field(
    detail: Any, by_field: dict[str, Any], others: list[dict[str, Any]]
) -> None:
    assert field_errors(detail) == (by_field, others)
