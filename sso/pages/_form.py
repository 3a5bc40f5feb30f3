"""The connection forms in, service bodies out.

The connection page's configuration form (IdP part, settings, attribute mapping) is one update
(:func:`connection_body`), so that nothing typed in one part is lost by saving another; the
creation form's OpenID Connect part is :func:`creation_oidc_body`. Each reads the fields the
form has (``read_form``: a field sent twice, or too long, is an error of that field) and answers
the body for :func:`sso.service.update_connection` (or ``create_connection``) and the errors it
found itself. What a value may be is the service's business: these only turn form text into
the JSON types the service takes (a checkbox into a boolean, a domain list into a list, mapping
rows into an object) and check what only a form can get wrong (a mapping row with one half, a
field mapped twice, XML and a new URL at once). :func:`error_fields` says which input shows the
service's error about one of its fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sso.oidc.presets import PRESETS
from sso.pages._common import FormErrors
from sso.saml.metadata import MAX_METADATA_BYTES

__all__ = [
    "FORM_LIMITS",
    "MAPPING_ROWS",
    "connection_body",
    "creation_oidc_body",
    "error_fields",
    "mapping_body",
    "oidc_body",
    "oidc_error_fields",
    "preset_input",
    "saml_idp_body",
    "settings_body",
]

#: The most attribute mapping rows a form has (the service maps at most 20 fields).
MAPPING_ROWS = 20
_SEPARATORS = re.compile(r"[\s,;]+")
_COMMON_INPUTS = (
    "name",
    "enabled",
    "jit",
    "email_domains",
    "default_role",
    "allow_idp_initiated",
    "enforce_sso",
)
_CHECKED = "on"


def preset_input(preset: str, field: str) -> str:
    """The form input of ``field`` of ``preset`` (``okta_domain``)."""
    return f"{preset}_{field}"


#: Longest accepted value of each form input; longer ones are refused before any work (the
#: service's own limits are lower and give the precise message).
FORM_LIMITS: dict[str, int] = {
    "action": 40,
    "name": 400,
    "enabled": 10,
    "jit": 10,
    "email_domains": 20_000,
    "default_role": 20,
    "allow_idp_initiated": 10,
    "enforce_sso": 10,
    "idp_metadata_xml": MAX_METADATA_BYTES,
    "idp_metadata_url": 4000,
    "preset": 40,
    "client_id": 1000,
    "client_secret": 2000,
    "scopes": 2000,
    "fetch_userinfo": 10,
    **{
        preset_input(key, spec.name): 4000
        for key, preset in PRESETS.items()
        for spec in preset.fields
    },
    **{f"mapping-{i}-{half}": 400 for i in range(MAPPING_ROWS) for half in ("field", "attribute")},
}


def _checkbox(values: Mapping[str, str], errors: FormErrors, name: str) -> bool:
    """A checkbox: absent is off, ``on`` is on; anything else is an error."""
    value = values.get(name)
    if value not in (None, _CHECKED):
        errors.add(name, "Tick the box or leave it empty.")
    return value == _CHECKED


def _words(raw: str) -> list[str]:
    return [item for item in _SEPARATORS.split(raw) if item]


def settings_body(values: Mapping[str, str], errors: FormErrors, *, kind: str) -> dict[str, Any]:
    """The settings form: name, switches, email domains (separated by commas, spaces or lines),
    default role; ``allow_idp_initiated`` for SAML only."""
    body: dict[str, Any] = {
        "name": values.get("name", ""),
        "enabled": _checkbox(values, errors, "enabled"),
        "jit": _checkbox(values, errors, "jit"),
        "email_domains": _words(values.get("email_domains", "")),
        "default_role": values.get("default_role", ""),
        "enforce_sso": _checkbox(values, errors, "enforce_sso"),
    }
    if kind == "saml":
        body["allow_idp_initiated"] = _checkbox(values, errors, "allow_idp_initiated")
    return body


def mapping_body(values: Mapping[str, str], errors: FormErrors) -> dict[str, Any]:
    """The mapping rows (``mapping-<i>-field`` <- ``mapping-<i>-attribute``); empty rows are
    skipped, a half-filled row or a field mapped twice is an error of that row."""
    mapping: dict[str, str] = {}
    for i in range(MAPPING_ROWS):
        field = values.get(f"mapping-{i}-field", "").strip()
        attribute = values.get(f"mapping-{i}-attribute", "").strip()
        if not field and not attribute:
            continue
        if not field:
            errors.add(f"mapping-{i}-field", "Name the profile field this attribute fills.")
        elif not attribute:
            errors.add(f"mapping-{i}-attribute", f"Name the attribute that fills {field}.")
        elif field in mapping:
            errors.add(f"mapping-{i}-field", f"{field} is mapped twice; keep one row.")
        else:
            mapping[field] = attribute
    return {"attribute_mapping": mapping}


def saml_idp_body(
    values: Mapping[str, str], uploaded: str | None, errors: FormErrors, *, stored_url: str | None
) -> dict[str, Any]:
    """The IdP metadata part: pasted XML or the chosen file (one of them), else the metadata
    URL when it changed (fetched now; emptied: the refreshes stop); nothing when neither
    changed. A changed URL beside new XML is an error: which one is meant?"""
    pasted = values.get("idp_metadata_xml", "")
    url = values.get("idp_metadata_url", "").strip() or None
    if pasted.strip() and uploaded is not None:
        errors.add("idp_metadata_xml", "Paste the metadata or choose its file, not both.")
        return {}
    xml = uploaded if uploaded is not None else (pasted if pasted.strip() else None)
    if xml is not None:
        if url is not None and url != stored_url:
            errors.add("idp_metadata_url", "Give the metadata as XML or as a URL, not both.")
        return {"idp_metadata_xml": xml}
    return {"idp_metadata_url": url} if url != stored_url else {}


def _preset_part(
    values: Mapping[str, str], errors: FormErrors, *, current: str | None, required: bool
) -> dict[str, Any]:
    """The provider choice and its values; nothing when the values are left empty for the
    provider the connection already has (its issuer stays)."""
    preset = values.get("preset") or "generic"
    if preset not in PRESETS:
        errors.add("preset", "Choose one of the providers listed.")
        return {}
    filled = {
        spec.name: values.get(preset_input(preset, spec.name), "").strip()
        for spec in PRESETS[preset].fields
    }
    if not any(filled.values()) and not required and preset == (current or "generic"):
        return {}
    return {"preset": preset, "preset_values": filled}


def oidc_body(
    values: Mapping[str, str], errors: FormErrors, *, current_preset: str | None
) -> dict[str, Any]:
    """The OpenID Connect form: provider and its values, client ID, client secret (empty
    keeps the stored one), scopes (separated by spaces or commas), UserInfo switch."""
    body = _preset_part(values, errors, current=current_preset, required=False)
    body["client_id"] = values.get("client_id", "").strip()
    secret = values.get("client_secret", "")
    if secret:
        body["client_secret"] = secret
    body["scopes"] = _words(values.get("scopes", ""))
    body["fetch_userinfo"] = _checkbox(values, errors, "fetch_userinfo")
    return body


def creation_oidc_body(values: Mapping[str, str], errors: FormErrors) -> dict[str, Any]:
    """The OpenID Connect part of the creation form (values left empty are not sent)."""
    body = _preset_part(values, errors, current=None, required=False)
    if values.get("client_id", "").strip():
        body["client_id"] = values["client_id"].strip()
    if values.get("client_secret"):
        body["client_secret"] = values["client_secret"]
    return body


def connection_body(
    kind: str,
    values: Mapping[str, str],
    uploaded: str | None,
    errors: FormErrors,
    *,
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """The whole configuration form of a connection of type ``kind`` (its IdP part, settings
    and attribute mapping) as one update; ``config`` is the connection's stored one."""
    body = settings_body(values, errors, kind=kind)
    body.update(mapping_body(values, errors))
    if kind == "saml":
        stored_url = config.get("idp_metadata_url")
        body.update(saml_idp_body(values, uploaded, errors, stored_url=stored_url))
    else:
        body.update(oidc_body(values, errors, current_preset=config.get("preset")))
    return body


def error_fields(
    kind: str, values: Mapping[str, str], body: Mapping[str, Any]
) -> tuple[dict[str, str], str]:
    """Where the configuration form shows the service's errors: service field -> input, and
    the input of a refusal that names no field (the IdP source that was sent: the metadata
    or its URL, the issuer)."""
    fields = {name: name for name in _COMMON_INPUTS}
    fields["attribute_mapping"] = "mapping"
    if kind == "saml":
        fields.update(idp_metadata_xml="idp_metadata_xml", idp_metadata_url="idp_metadata_url")
        source = "idp_metadata_xml" if "idp_metadata_xml" in body else "idp_metadata_url"
        return fields, source
    oidc, issuer_input = oidc_error_fields(values)
    return {**fields, **oidc}, issuer_input


def oidc_error_fields(values: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """Where the OIDC form shows the service's errors: service field -> input, and the input
    of a refusal naming no field (the issuer's input: discovery failed)."""
    preset = values.get("preset") or "generic"
    preset = preset if preset in PRESETS else "generic"
    first = preset_input(preset, PRESETS[preset].fields[0].name)
    fields = {spec.name: preset_input(preset, spec.name) for spec in PRESETS[preset].fields}
    fields.update({"issuer": first, "preset_values": first})
    fields.update(
        (name, name)
        for name in ("preset", "client_id", "client_secret", "scopes", "fetch_userinfo")
    )
    return fields, first
