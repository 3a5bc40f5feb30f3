"""The common connection fields, parsed strictly (tables of input and expected outcome)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sso._fields import (
    apply_common,
    json_object,
    parse_bool,
    parse_domains,
    parse_mapping,
    parse_name,
    parse_role,
)
from sso.models import SsoConnection
from whitelabel.errors import ClientError, ValidationFailed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["Uni.Example"], ["uni.example"]),
        (["@uni.example."], ["uni.example"]),
        (["b.example", "a.example", "B.example"], ["a.example", "b.example"]),
        (["bücher.example"], ["xn--bcher-kva.example"]),
        ([" cs.uni.example "], ["cs.uni.example"]),
        ([], []),
    ],
)
def test_domains_are_normalised(raw: list[str], expected: list[str]) -> None:
    assert parse_domains(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "uni.example",
        None,
        [5],
        ["localhost"],
        ["not a domain"],
        ["-bad.example"],
        ["a..example"],
        ["x" * 64 + ".example"],
        ["evil.example/path"],
        [f"d{i}.example" for i in range(51)],
    ],
)
def test_bad_domains_are_refused(raw: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_domains(raw)
    assert caught.value.detail == {"field": "email_domains"}


@pytest.mark.parametrize(
    ("parse", "raw"),
    [
        (parse_name, ""),
        (parse_name, "   "),
        (parse_name, "x" * 101),
        (parse_name, 7),
        (parse_name, "tab\x00"),
        (parse_role, "owner"),
        (parse_role, None),
        (parse_mapping, []),
        (parse_mapping, {"Display Name": "cn"}),
        (parse_mapping, {"department": 5}),
        (parse_mapping, {"department": ""}),
        (parse_mapping, {"department": "a\nb"}),
        (parse_mapping, {f"f{i}": "x" for i in range(21)}),
    ],
)
def test_bad_values_are_refused(parse: Any, raw: Any) -> None:
    with pytest.raises(ValidationFailed):
        parse(raw)


@pytest.mark.parametrize("raw", ["true", 1, 0, None, "false"])
def test_booleans_are_json_booleans(raw: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_bool(raw, "enabled")
    assert caught.value.detail == {"field": "enabled"}


def test_names_are_collapsed_and_mappings_kept() -> None:
    assert parse_name("  University   IdP ") == "University IdP"
    assert parse_role("admin") == "admin"
    assert parse_mapping({"department": "ou", "display_name": "cn"}) == {
        "department": "ou",
        "display_name": "cn",
    }


@pytest.mark.parametrize("body", [[], "x", None, 5])
def test_a_body_is_an_object(body: Any) -> None:
    with pytest.raises(ClientError) as caught:
        json_object(body)
    assert (caught.value.status_code, caught.value.code) == (400, "validation_failed")


def _connection(kind: str) -> SsoConnection:
    connection = SsoConnection(id=uuid.uuid4(), type=kind, name="Old", config={})
    connection.enabled = connection.jit = connection.allow_idp_initiated = False
    connection.enforce_sso = False
    connection.email_domains = []
    connection.default_role = "member"
    connection.attribute_mapping = {}
    return connection


def test_apply_common_answers_what_changed() -> None:
    connection = _connection("saml")
    changed = apply_common(
        {"name": "Old", "jit": True, "email_domains": ["Uni.Example"], "enforce_sso": False},
        connection,
    )
    assert changed == ["jit", "email_domains"]
    assert (connection.jit, connection.email_domains) == (True, ["uni.example"])


def test_idp_initiated_is_for_saml_only() -> None:
    assert apply_common({"allow_idp_initiated": True}, _connection("saml")) == [
        "allow_idp_initiated"
    ]
    with pytest.raises(ValidationFailed) as caught:
        apply_common({"allow_idp_initiated": True}, _connection("oidc"))
    assert caught.value.detail == {"field": "allow_idp_initiated"}
