"""themes.validation: brand patches, field errors (all of them), contrast and the live report."""

from __future__ import annotations

from typing import Any

import pytest

from themes.brand import COPY_BLOCKS, FONTS, TOKEN_NAMES, Brand
from themes.validation import contrast_report, validate_brand_patch
from whitelabel.errors import ValidationFailed

BASE = {
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
CURRENT = Brand(app_name="Acme")
PERSIAN = "\u0645\u062f\u0631\u0633\u0647\u200c\u0647\u0627"  # "schools"

# Every CSS injection shape, for every token.
INJECTIONS = [
    "red;}body{background:red}",
    "red;background:url(https://evil.example/x)",
    "url(https://evil.example/x)",
    "expression(alert(1))",
    "#fff;}</style><script>alert(1)</script>",
    "var(--x)",
    "\\72 ed",
    "red/**/",
    "#fff\n",
    "#fff\x00",
    " #fff",
    "rgba(0,0,0,.5)",
    "#" + "a" * 3000,
]


def errors_of(patch: Any, current: Brand = CURRENT) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailed) as caught:
        validate_brand_patch(current, patch, base_tokens=BASE)
    assert caught.value.code == "invalid_brand"
    assert caught.value.status_code == 422
    errors: list[dict[str, Any]] = caught.value.detail["errors"]
    assert errors
    for error in errors:
        assert {"field", "code", "message"} <= error.keys()
        assert isinstance(error["message"], str)
        assert error["message"]
    return errors


def codes(patch: Any, current: Brand = CURRENT) -> dict[str, str]:
    return {e["field"]: e["code"] for e in errors_of(patch, current)}


def valid(patch: dict[str, Any], current: Brand = CURRENT) -> Brand:
    return validate_brand_patch(current, patch, base_tokens=BASE)


def test_empty_patch_changes_nothing() -> None:
    assert valid({}) == CURRENT


def test_a_full_patch_is_applied_and_normalised() -> None:
    brand = valid(
        {
            "app_name": "  \uff35niversity of Example  ",
            "tagline": "Learn ﬁne things",
            "tokens": {"primary": "#0B3D91", "accent": "rgb(255 128 0)", "muted": "dimgray"},
            "font": "serif",
            "radius": 0,
            "email_sender_name": "Example Mail",
            "support_url": "https://help.example.edu/contact?x=1#top",
            "terms_url": "http://example.edu/terms",
            "privacy_url": "https://[2001:db8::1]:8443/privacy",
            "default_locale": "pt-br",
            "copy": {"hero": "# Welcome", "footer": "© Example"},
        }
    )
    assert brand.app_name == "University of Example"  # NFKC folds the fullwidth letter
    assert brand.tagline == "Learn fine things"  # and the ligature
    assert dict(brand.tokens) == {"primary": "#0b3d91", "accent": "#ff8000", "muted": "#696969"}
    assert list(brand.tokens) == ["primary", "accent", "muted"]  # TOKEN_NAMES order
    assert (brand.font, brand.radius, brand.email_sender_name) == ("serif", 0, "Example Mail")
    assert brand.support_url == "https://help.example.edu/contact?x=1#top"
    assert brand.terms_url == "http://example.edu/terms"
    assert brand.privacy_url == "https://[2001:db8::1]:8443/privacy"
    assert brand.default_locale == "pt-BR"
    assert dict(brand.copy) == {"hero": "# Welcome", "footer": "© Example"}
    assert brand.logo is None and brand.favicon is None


def test_patch_is_partial_and_current_is_not_mutated() -> None:
    current = Brand(app_name="Acme", tokens={"primary": "#000080"}, copy={"hero": "Hi"})
    brand = valid({"tokens": {"accent": "#123456"}, "copy": {"footer": "Bye"}}, current)
    assert dict(brand.tokens) == {"primary": "#000080", "accent": "#123456"}
    assert dict(brand.copy) == {"hero": "Hi", "footer": "Bye"}
    assert brand.app_name == "Acme"
    assert dict(current.tokens) == {"primary": "#000080"}
    assert dict(current.copy) == {"hero": "Hi"}


def test_null_resets_tokens_copy_blocks_and_urls() -> None:
    current = Brand(
        app_name="Acme",
        tokens={"primary": "#000080", "accent": "#123456"},
        copy={"hero": "Hi", "footer": "Bye"},
        support_url="https://x.example/",
        terms_url="https://x.example/t",
    )
    brand = valid(
        {
            "tokens": {"primary": None, "danger": None},
            "copy": {"hero": None},
            "support_url": None,
            "terms_url": "",
        },
        current,
    )
    assert dict(brand.tokens) == {"accent": "#123456"}
    assert dict(brand.copy) == {"footer": "Bye"}
    assert brand.support_url is None and brand.terms_url is None


@pytest.mark.parametrize("token", TOKEN_NAMES)
@pytest.mark.parametrize("value", INJECTIONS)
def test_css_injection_in_every_token_is_refused(token: str, value: str) -> None:
    errors = errors_of({"tokens": {token: value}})
    assert [(e["field"], e["code"]) for e in errors] == [(f"tokens.{token}", "invalid_color")]


def test_alpha_colour_error_says_why() -> None:
    (error,) = errors_of({"tokens": {"accent": "#12345678"}})
    assert "opaque" in error["message"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ([], ""),
        ("x", ""),
        (None, ""),
        ({"app_name": 1}, "app_name"),
        ({"app_name": None}, "app_name"),
        ({"app_name": ["Acme"]}, "app_name"),
        ({"tagline": {"x": 1}}, "tagline"),
        ({"email_sender_name": False}, "email_sender_name"),
        ({"tokens": "red"}, "tokens"),
        ({"tokens": ["primary"]}, "tokens"),
        ({"tokens": None}, "tokens"),
        ({"tokens": {"primary": 0xFF0000}}, "tokens.primary"),
        ({"tokens": {"primary": ["#fff"]}}, "tokens.primary"),
        ({"font": 1}, "font"),
        ({"font": None}, "font"),
        ({"radius": "8"}, "radius"),
        ({"radius": 8.0}, "radius"),
        ({"radius": True}, "radius"),
        ({"radius": None}, "radius"),
        ({"support_url": 1}, "support_url"),
        ({"privacy_url": ["https://x.example"]}, "privacy_url"),
        ({"default_locale": None}, "default_locale"),
        ({"default_locale": 1}, "default_locale"),
        ({"copy": "hello"}, "copy"),
        ({"copy": {"hero": 1}}, "copy.hero"),
    ],
)
def test_wrong_json_types(patch: Any, field: str) -> None:
    assert codes(patch) == {field: "invalid_type"}


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"logo": "ab" * 32}, "logo"),
        ({"favicon": None}, "favicon"),
        ({"version": 3}, "version"),
        ({"stylesheet_url": "/theme/x.css"}, "stylesheet_url"),
        ({"__class__": "x"}, "__class__"),
        ({"App_Name": "x"}, "App_Name"),
        ({"tokens": {"link": "#000"}}, "tokens.link"),
        ({"tokens": {"primary_hover": "#000"}}, "tokens.primary_hover"),
        ({"copy": {"header": "x"}}, "copy.header"),
    ],
)
def test_unknown_fields(patch: dict[str, Any], field: str) -> None:
    assert codes(patch) == {field: "unknown_field"}


def test_logo_points_to_the_upload_route() -> None:
    (error,) = errors_of({"logo": "x"})
    assert "PUT /api/v1/admin/theme/logo" in error["message"]


def test_hostile_keys_are_shortened_in_field_names() -> None:
    fields = codes({"x" * 500: 1, "a\nb": 2, "tokens": {"\x00" * 100: "#fff"}})
    assert all(len(field) <= 48 for field in fields)
    assert set(fields.values()) == {"unknown_field"}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("app_name", "", "required"),
        ("app_name", "   ", "required"),
        ("app_name", "\u3000", "required"),
        ("app_name", " \u200d\u200c ", "required"),
        ("app_name", "a" * 61, "too_long"),
        ("app_name", "Acme\nInc", "invalid_text"),
        ("app_name", "Acme\r\nBcc: x@example.org", "invalid_text"),
        ("app_name", "Acme\x00", "invalid_text"),
        ("app_name", "Acme\x1b[31m", "invalid_text"),
        ("app_name", "Acme\u202egnp.exe", "invalid_text"),
        ("app_name", "Ac\u200bme", "invalid_text"),
        ("app_name", "Ac\u2028me", "invalid_text"),
        ("app_name", "Acme\ud800", "invalid_text"),
        ("tagline", "t" * 141, "too_long"),
        ("tagline", "two\nlines", "invalid_text"),
        ("tagline", "tab\there", "invalid_text"),
        ("email_sender_name", "n" * 61, "too_long"),
        ("email_sender_name", "Acme <x@evil.example>", "invalid_text"),
        ("email_sender_name", 'Acme" <x@evil.example>', "invalid_text"),
        ("email_sender_name", "Acme\r\nBcc: x@evil.example", "invalid_text"),
        ("email_sender_name", "Acme\nX", "invalid_text"),
        ("font", "comic-sans", "invalid_font"),
        ("font", "System", "invalid_font"),
        ("font", "system;}body{}", "invalid_font"),
        ("font", "Arial, sans-serif", "invalid_font"),
        ("radius", -1, "invalid_radius"),
        ("radius", 33, "invalid_radius"),
        ("radius", 10**100, "invalid_radius"),
        ("default_locale", "english", "invalid_locale"),
        ("default_locale", "en_GB", "invalid_locale"),
        ("default_locale", "en-", "invalid_locale"),
        ("default_locale", "e", "invalid_locale"),
        ("default_locale", "en-GB-x-private", "invalid_locale"),
        ("default_locale", "en\n", "invalid_locale"),
        ("default_locale", "en;q=1", "invalid_locale"),
        ("default_locale", "../../etc", "invalid_locale"),
        ("default_locale", "\uff45\uff4e", "invalid_locale"),
    ],
)
def test_field_rules(field: str, value: Any, code: str) -> None:
    assert codes({field: value}) == {field: code}


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("app_name", "a" * 60, "a" * 60),
        ("app_name", "ב", "ב"),
        ("app_name", PERSIAN, PERSIAN),  # with the ZWNJ Persian needs
        ("app_name", "👩\u200d🎓 Campus", "👩\u200d🎓 Campus"),  # an emoji ZWJ sequence
        ("app_name", "ﬁ", "fi"),
        ("tagline", "", ""),
        ("tagline", "t" * 140, "t" * 140),
        ("email_sender_name", "", ""),
        ("email_sender_name", "Acme & Co. (support)", "Acme & Co. (support)"),
        ("radius", 32, 32),
        ("radius", 0, 0),
        ("font", "old-style", "old-style"),
        ("default_locale", "en", "en"),
        ("default_locale", "EN-gb", "en-GB"),
        ("default_locale", "es-419", "es-419"),
        ("default_locale", "zh-hant-tw", "zh-Hant-TW"),
        ("default_locale", "fil", "fil"),
    ],
)
def test_field_rules_accept(field: str, value: Any, stored: Any) -> None:
    assert getattr(valid({field: value}), field) == stored


@pytest.mark.parametrize("font", sorted(FONTS))
def test_every_font_key_is_accepted(font: str) -> None:
    assert valid({"font": font}).font == font


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        "file:///etc/passwd",
        "ftp://example.org/x",
        "mailto:help@example.org",
        "//example.org/help",
        "/help",
        "example.org",
        "https://",
        "https:///path",
        "https://user:pass@example.org/",
        "https://user@example.org/",
        "https://example.org@evil.example/",
        "https://example.org\\@evil.example/",
        "https://exa mple.org/",
        "https://example.org/a b",
        " https://example.org/",
        "https://example.org/\n",
        "https://example.org/\t",
        "https://example.org/\x00",
        "https://bücher.example/",
        "https://example.org/ünïcode",
        "https://example.org:99999/",
        "https://example.org:port/",
        "https://-example.org/",
        "https://exa_mple.org/",
        "https://example..org/",
        "https://[not-ipv6]/",
        "https://example.org\u3002evil/",
        "http\u200b://example.org/",
    ],
)
@pytest.mark.parametrize("field", ["support_url", "terms_url", "privacy_url"])
def test_urls_are_http_with_a_host_and_nothing_odd(field: str, url: str) -> None:
    assert codes({field: url}) == {field: "invalid_url"}


def test_url_length_limit() -> None:
    base = "https://example.org/"
    assert valid({"support_url": base + "a" * (2000 - len(base))}).support_url
    assert codes({"support_url": base + "a" * (2001 - len(base))}) == {"support_url": "too_long"}


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org",
        "HTTPS://Example.org/Path?q=%20x#frag",
        "http://localhost:8000/help",
        "https://127.0.0.1/help",
        "https://xn--bcher-kva.example/",
        "https://example.org/a(b)c",
    ],
)
def test_urls_accepted(url: str) -> None:
    assert valid({"support_url": url}).support_url == url


def test_copy_rules() -> None:
    assert valid({"copy": {"sign_in_help": "x" * 5000}}).copy["sign_in_help"] == "x" * 5000
    assert valid({"copy": {"hero": "line\n\tindented\r\n"}}).copy["hero"] == "line\n\tindented\r\n"
    assert valid({"copy": {"hero": ""}}).copy["hero"] == ""
    assert codes({"copy": {"hero": "x" * 5001}}) == {"copy.hero": "too_long"}
    assert codes({"copy": {"hero": "x\x00"}}) == {"copy.hero": "invalid_text"}
    assert codes({"copy": {"hero": "x\x1b"}}) == {"copy.hero": "invalid_text"}
    # Markdown with script is fine as source: it is sanitised when rendered (themes.copy).
    assert valid({"copy": {"footer": "<script>alert(1)</script>"}}).copy["footer"]


@pytest.mark.parametrize("block", COPY_BLOCKS)
def test_every_copy_block_is_accepted(block: str) -> None:
    assert valid({"copy": {block: "*hi*"}}).copy == {block: "*hi*"}


def test_all_errors_are_reported_together() -> None:
    errors = errors_of(
        {
            "app_name": "",
            "tokens": {"primary": "nope", "text": "#fff", "bogus": "#000"},
            "font": "comic",
            "radius": 99,
            "support_url": "javascript:x",
            "default_locale": "??",
            "copy": {"hero": 5},
            "logo": "x",
        }
    )
    assert {(e["field"], e["code"]) for e in errors} == {
        ("app_name", "required"),
        ("tokens.primary", "invalid_color"),
        ("tokens.bogus", "unknown_field"),
        # text is now white on the white base background
        ("tokens.text", "low_contrast"),
        ("font", "invalid_font"),
        ("radius", "invalid_radius"),
        ("support_url", "invalid_url"),
        ("default_locale", "invalid_locale"),
        ("copy.hero", "invalid_type"),
        ("logo", "unknown_field"),
    }


# --- contrast --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "passes"),
    [
        ({"text": "#767676", "background": "#ffffff"}, True),  # 4.54
        ({"text": "#777777", "background": "#ffffff"}, False),  # 4.48
        ({"text": "#757575", "background": "#000000"}, True),  # 4.56
        ({"text": "#747474", "background": "#000000"}, False),  # 4.49
        ({"text": "#c4f03b", "background": "#8921ef"}, True),  # 4.50002
        ({"text": "#6d9290", "background": "#152733"}, False),  # 4.49999
        ({"on_primary": "#ffffff", "primary": "#767676"}, True),
        ({"on_primary": "#ffffff", "primary": "#777777"}, False),
        ({"on_primary": "#0a6cad", "primary": "#e8eabc"}, True),  # 4.50009
        ({"on_primary": "#074f78", "primary": "#35c8fa"}, False),  # 4.49985
        ({"on_primary": "#000000", "primary": "#ffff00"}, True),
        ({"on_primary": "#ffffff", "primary": "#ffff00"}, False),
    ],
)
def test_contrast_pairs_either_side_of_aa(tokens: dict[str, str], passes: bool) -> None:
    if passes:
        assert dict(valid({"tokens": tokens}).tokens) == tokens
        return
    errors = errors_of({"tokens": tokens})
    assert {e["code"] for e in errors} == {"low_contrast"}
    assert {e["field"] for e in errors} == {f"tokens.{name}" for name in tokens}
    for error in errors:
        assert error["required"] == 4.5
        assert error["ratio"] < 4.5  # rounded down: a failing 4.49999 never reads as 4.5
        assert f"{error['ratio']}:1" in error["message"]


def test_contrast_error_names_the_changed_token_with_the_ratio() -> None:
    (error,) = errors_of({"tokens": {"text": "#777777"}})
    assert error == {
        "field": "tokens.text",
        "code": "low_contrast",
        "message": error["message"],
        "ratio": 4.47,
        "required": 4.5,
        "pair": ["text", "background"],
    }
    (error,) = errors_of({"tokens": {"primary": "#ffff00"}})
    assert (error["field"], error["pair"]) == ("tokens.primary", ["on_primary", "primary"])
    assert error["ratio"] == 1.07


def test_contrast_uses_the_base_theme_for_tokens_the_brand_does_not_set() -> None:
    # background is white from BASE; the brand's text alone decides.
    assert codes({"tokens": {"background": "#111827"}}) == {"tokens.background": "low_contrast"}
    dark = Brand(app_name="Acme", tokens={"text": "#f9fafb", "background": "#111827"})
    assert dict(valid({"tokens": {"background": "#000000"}}, dark).tokens)["background"] == (
        "#000000"
    )


def test_resetting_a_token_is_checked_against_the_base_value() -> None:
    dark = Brand(app_name="Acme", tokens={"text": "#f9fafb", "background": "#111827"})
    # Resetting the background to the base white leaves near-white text on white.
    assert codes({"tokens": {"background": None}}, dark) == {"tokens.background": "low_contrast"}


def test_an_already_failing_brand_names_both_tokens_when_neither_changed() -> None:
    # E.g. the base theme changed under a saved brand: any save reports the pair to fix.
    stale = Brand(app_name="Acme", tokens={"text": "#cccccc"})
    assert codes({"app_name": "Acme 2"}, stale) == {
        "tokens.text": "low_contrast",
        "tokens.background": "low_contrast",
    }


def test_an_invalid_colour_is_not_also_reported_as_low_contrast() -> None:
    assert codes({"tokens": {"text": "red;}"}}) == {"tokens.text": "invalid_color"}


def test_contrast_report() -> None:
    report = contrast_report({**BASE, "muted": "#9ca3af"})
    by_pair = {(r["foreground"], r["background"]): r for r in report}
    assert list(by_pair)[:2] == [("text", "background"), ("on_primary", "primary")]
    assert by_pair[("text", "background")]["passes"] is True
    assert by_pair[("text", "background")]["enforced"] is True
    muted = by_pair[("muted", "background")]
    assert (muted["passes"], muted["enforced"], muted["required"]) == (False, False, 4.5)
    assert muted["ratio"] == 2.53  # 2.5397: rounded down
    assert all(
        set(r) == {"foreground", "background", "ratio", "required", "passes", "enforced"}
        for r in report
    )


def test_contrast_report_skips_missing_pairs_and_refuses_bad_colours() -> None:
    assert contrast_report({"text": "#000000"}) == []
    assert [r["foreground"] for r in contrast_report({"text": "#000", "background": "#fff"})] == [
        "text"
    ]
    with pytest.raises(ValueError):  # noqa: PT011
        contrast_report({"text": "red;}", "background": "#fff"})
