"""What the connection page shows: the stored values, or the typed ones of a refused form.

A refused form is shown as it was typed (never the client secret, which is write-only); the
other forms of the page show what is stored. Dates read ``2026-12-01 14:05 UTC``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sso.models import SsoFailure
from sso.oidc.presets import PRESETS
from sso.pages._common import FormErrors
from sso.pages._form import MAPPING_ROWS, preset_input

__all__ = [
    "ATTRIBUTE_SUGGESTIONS",
    "FIELD_SUGGESTIONS",
    "SECTIONS",
    "PageState",
    "connection_view",
    "preset_views",
    "when",
]

#: Offered in the mapping rows (a ``datalist``: any other name can be typed).
FIELD_SUGGESTIONS = ("display_name", "department", "affiliation", "title", "student_id")
ATTRIBUTE_SUGGESTIONS = (
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", "eduPersonAffiliation"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.9", "eduPersonScopedAffiliation"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", "eduPersonPrincipalName"),
    ("urn:oid:2.16.840.1.113730.3.1.241", "displayName"),
    ("urn:oid:2.5.4.11", "ou (department)"),
    ("urn:oid:2.5.4.12", "title"),
    ("http://schemas.microsoft.com/identity/claims/displayname", "Entra ID display name"),
    ("department", "department"),
    ("name", "OpenID Connect name"),
    ("groups", "groups"),
)
_EMPTY_ROWS = 3
#: The forms of the connection page: the configuration form, and the action buttons.
SECTIONS = ("config", "top", "refresh", "rollover")
_SWITCHES = ("enabled", "jit", "allow_idp_initiated", "enforce_sso", "fetch_userinfo")


def when(value: str | datetime | None) -> str:
    """An ISO timestamp or a datetime as ``YYYY-MM-DD HH:MM UTC`` (empty for none)."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


@dataclass(slots=True)
class PageState:
    """The form that was refused (``section``), as typed, and its errors."""

    section: str | None = None
    posted: Mapping[str, str] = field(default_factory=dict)
    errors: FormErrors = field(default_factory=FormErrors)


def _stored_values(doc: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": doc["name"],
        "enabled": doc["enabled"],
        "jit": doc["jit"],
        "email_domains": ", ".join(doc["email_domains"]),
        "default_role": doc["default_role"],
        "allow_idp_initiated": doc["allow_idp_initiated"],
        "enforce_sso": doc["enforce_sso"],
        "idp_metadata_xml": "",
        "idp_metadata_url": doc.get("idp_metadata_url") or "",
    }
    if doc["type"] == "oidc":
        preset = doc.get("preset") or "generic"
        values.update(
            preset=preset,
            client_id=doc.get("client_id") or "",
            scopes=" ".join(doc.get("scopes") or ()),
            fetch_userinfo=bool(doc.get("fetch_userinfo")),
        )
        for key, spec in ((k, s) for k, p in PRESETS.items() for s in p.fields):
            values[preset_input(key, spec.name)] = ""
        if preset == "generic":
            values[preset_input("generic", "issuer")] = doc.get("issuer") or ""
    return values


def _typed(posted: Mapping[str, str]) -> dict[str, Any]:
    """The configuration form as typed (checkboxes as booleans, never the secret)."""
    typed: dict[str, Any] = {
        name: value for name, value in posted.items() if name != "client_secret"
    }
    for name in _SWITCHES:
        typed[name] = posted.get(name) == "on"
    return typed


def _mapping_rows(doc: Mapping[str, Any], state: PageState) -> list[dict[str, Any]]:
    if state.section == "config":
        rows = [
            (
                state.posted.get(f"mapping-{i}-field", ""),
                state.posted.get(f"mapping-{i}-attribute", ""),
            )
            for i in range(MAPPING_ROWS)
        ]
        while rows and rows[-1] == ("", "") and len(rows) > _EMPTY_ROWS:
            rows.pop()
    else:
        rows = sorted(doc["attribute_mapping"].items())
        rows += [("", "")] * _EMPTY_ROWS
    return [
        {"index": i, "field": name, "attribute": source}
        for i, (name, source) in enumerate(rows[:MAPPING_ROWS])
    ]


def _certs(items: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    certs = []
    for cert in items or ():
        expires = datetime.fromisoformat(cert["not_after"])
        certs.append(
            {
                **cert,
                "expires": when(expires),
                "expired": expires <= now,
                "days_left": (expires - now).days,
            }
        )
    return certs


def preset_views() -> list[dict[str, Any]]:
    """The OpenID provider presets as the forms show them."""
    return [
        {
            "key": key,
            "label": preset.label,
            "notes": preset.notes,
            "scopes": " ".join(preset.default_scopes),
            "fields": [
                {
                    "input": preset_input(key, spec.name),
                    "label": spec.label,
                    "help": spec.help,
                    "required": spec.required,
                }
                for spec in preset.fields
            ],
        }
        for key, preset in PRESETS.items()
    ]


def _failure(row: SsoFailure) -> dict[str, Any]:
    return {"at": when(row.at), "code": row.code, "message": row.message, "test": row.test}


def connection_view(
    doc: Mapping[str, Any], failures: Sequence[SsoFailure], state: PageState
) -> dict[str, Any]:
    """The template context of the connection page (besides tenant, viewer, csrf, flash)."""
    values = _stored_values(doc)
    if state.section == "config":
        values.update(_typed(state.posted))
    idp = doc.get("idp")
    return {
        "doc": doc,
        "values": values,
        "section": state.section,
        "errors": {
            name: state.errors if name == state.section else FormErrors() for name in SECTIONS
        },
        "mapping_rows": _mapping_rows(doc, state),
        "field_suggestions": FIELD_SUGGESTIONS,
        "attribute_suggestions": ATTRIBUTE_SUGGESTIONS,
        "failures": [_failure(row) for row in failures],
        "presets": preset_views() if doc["type"] == "oidc" else [],
        "sp_certs": _certs(doc.get("sp_certs")),
        "idp_certs": _certs(idp.get("certs") if idp else None),
        "fetched_at": when(doc.get("metadata_fetched_at")),
        "changed_at": when(doc.get("metadata_changed_at")),
        "rollover": any(cert.get("state") == "next" for cert in doc.get("sp_certs") or ()),
    }
