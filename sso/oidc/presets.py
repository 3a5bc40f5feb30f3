"""Presets for common OpenID Providers: issuer templates, scopes and claim names.

A preset turns the few values an administrator knows (a Google Workspace domain, an Entra tenant
ID, an Okta domain) into the exact issuer that discovery and ID token checks compare against.
The issuer must be exact: discovery refuses a document whose ``issuer`` differs by one character.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sso.errors import SsoRejected
from sso.oidc.discovery import check_issuer, discovery_url
from whitelabel.errors import ValidationFailed

__all__ = ["PRESETS", "ClaimMapping", "FilledPreset", "OidcPreset", "PresetField", "fill_preset"]

_HOSTNAME = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OKTA_SERVER = re.compile(r"default|aus[0-9A-Za-z]{10,30}")
_ANY = re.compile(r".+")
_MULTI_TENANT = ("common", "organizations", "consumers")


@dataclass(frozen=True, slots=True)
class PresetField:
    """One value the administrator types in."""

    name: str
    label: str
    help: str
    pattern: re.Pattern[str] = _ANY
    """The whole (lower-cased, unless ``keep_case``) value must match."""
    required: bool = True
    keep_case: bool = False


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """Which claim carries what. None: the provider does not send it by default."""

    email: str = "email"
    email_verified: str | None = "email_verified"
    name: str = "name"
    given_name: str = "given_name"
    family_name: str = "family_name"
    groups: str | None = None
    domain: str | None = None
    """A claim naming the organisation's domain (Google's ``hd``)."""


@dataclass(frozen=True, slots=True)
class OidcPreset:
    """A provider's issuer template and defaults. ``{name}`` placeholders are :attr:`fields`."""

    key: str
    label: str
    issuer_template: str
    fields: tuple[PresetField, ...]
    default_scopes: tuple[str, ...] = ("openid", "email", "profile")
    claims: ClaimMapping = field(default_factory=ClaimMapping)
    notes: str = ""

    @property
    def discovery_url_template(self) -> str:
        """Where the filled issuer publishes its metadata."""
        return discovery_url(self.issuer_template)


@dataclass(frozen=True, slots=True)
class FilledPreset:
    """A preset filled with an administrator's values: what a connection is configured with."""

    preset: str
    issuer: str
    discovery_url: str
    scopes: tuple[str, ...]
    claims: ClaimMapping
    required_claims: Mapping[str, str]
    """Pass to :func:`sso.oidc.flow.finish` (e.g. Google's ``hd``: only this domain's accounts)."""
    authorization_params: Mapping[str, str]
    """Pass to :func:`sso.oidc.flow.begin` as ``extra_params`` (hints only, never a check)."""


_DOMAIN_HELP = "The domain name, e.g. example.com."
GOOGLE = OidcPreset(
    key="google",
    label="Google Workspace",
    issuer_template="https://accounts.google.com",
    fields=(PresetField("domain", "Workspace domain", _DOMAIN_HELP, _HOSTNAME),),
    claims=ClaimMapping(domain="hd"),
    notes="Only accounts whose ID token carries hd equal to the domain are accepted (the hd "
    "authorization parameter is only a hint). Group membership is not in Google's ID tokens.",
)
ENTRA = OidcPreset(
    key="entra",
    label="Microsoft Entra ID",
    issuer_template="https://login.microsoftonline.com/{tenant}/v2.0",
    fields=(
        PresetField(
            "tenant",
            "Directory (tenant) ID",
            "The tenant's GUID from the Entra admin centre (Overview). Not 'common' or "
            "'organizations': those are multi-tenant endpoints whose tokens carry each "
            "signing-in user's own tenant in iss, so they would match no single issuer.",
            _GUID,
        ),
    ),
    claims=ClaimMapping(email_verified=None, groups="groups"),
    notes="The issuer must be the tenant-specific one, https://login.microsoftonline.com/"
    "<tenant GUID>/v2.0 (a domain name in its place publishes the GUID issuer and fails the "
    "exact issuer check). Entra sends no email_verified, so email counts as unverified. The "
    "groups claim must be enabled in the app registration (token configuration).",
)
OKTA = OidcPreset(
    key="okta",
    label="Okta",
    issuer_template="https://{domain}{server_path}",
    fields=(
        PresetField("domain", "Okta domain", "e.g. acme.okta.com or a custom domain.", _HOSTNAME),
        PresetField(
            "authorization_server",
            "Authorization server",
            "Empty for the org server (issuer https://<domain>); 'default' or a custom "
            "server ID (aus...) for https://<domain>/oauth2/<id>.",
            _OKTA_SERVER,
            required=False,
            keep_case=True,
        ),
    ),
    claims=ClaimMapping(groups="groups"),
    notes="For groups, add the 'groups' scope (org server) or a groups claim (custom server).",
)
GENERIC = OidcPreset(
    key="generic",
    label="Other OpenID Provider",
    issuer_template="{issuer}",
    fields=(
        PresetField(
            "issuer", "Issuer URL", "Exactly as the provider publishes it.", keep_case=True
        ),
    ),
)

PRESETS: Mapping[str, OidcPreset] = MappingProxyType(
    {preset.key: preset for preset in (GOOGLE, ENTRA, OKTA, GENERIC)}
)


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, detail={"field": name})


def fill_preset(
    key: str, values: Mapping[str, str], *, allow_loopback: bool = False
) -> FilledPreset:
    """Fill preset ``key`` with an administrator's ``values`` and check them.

    ``allow_loopback`` lets the generic preset name a loopback issuer (development, tests).

    Raises:
        ValidationFailed: an unknown preset, or a missing or malformed value
            (``detail["field"]`` names it).
    """
    preset = PRESETS.get(key)
    if preset is None:
        raise _invalid("preset", f"Unknown provider preset {key!r}.")
    if key == "entra" and values.get("tenant", "").strip().lower() in _MULTI_TENANT:
        raise _invalid("tenant", "Use the tenant's own ID, not a multi-tenant endpoint.")
    filled: dict[str, str] = {}
    for spec in preset.fields:
        value = values.get(spec.name, "").strip()
        value = value if spec.keep_case else value.lower()
        if not value and spec.required:
            raise _invalid(spec.name, f"{spec.label} is required.")
        if value and not spec.pattern.fullmatch(value):
            raise _invalid(spec.name, f"{spec.label} is not valid. {spec.help}")
        filled[spec.name] = value
    if key == "okta":
        server = filled.pop("authorization_server")
        filled["server_path"] = f"/oauth2/{server}" if server else ""
    issuer = preset.issuer_template.format(**filled)
    try:
        check_issuer(issuer, allow_loopback=allow_loopback)
    except SsoRejected as exc:
        raise _invalid(preset.fields[0].name, exc.message) from exc
    domain = {"hd": filled["domain"]} if key == "google" else {}
    return FilledPreset(
        preset=key,
        issuer=issuer,
        discovery_url=discovery_url(issuer),
        scopes=preset.default_scopes,
        claims=preset.claims,
        required_claims=MappingProxyType(dict(domain)),
        authorization_params=MappingProxyType(dict(domain)),
    )
