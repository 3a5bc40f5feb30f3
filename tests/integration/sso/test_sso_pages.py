"""The tenant admin SSO pages (``/admin/sso``) on a real server, on two tenants.

Forms are driven as a browser would: GET the page, read the CSRF token of its forms, POST the
form with it (multipart where the page says so); the client's cookie jar carries the session.
Every refused post is checked to have stored nothing, and every change on one tenant to have left
the other alone. SAML metadata is built here from a real certificate (``sso.saml.keys``); the
OpenID provider is the real npm ``oidc-provider`` on loopback.
"""

from __future__ import annotations

import functools
import html
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from markupsafe import escape
from playwright.sync_api import Browser, ConsoleMessage, Page
from sqlalchemy import func, select

from sso.models import SsoConnection, SsoFailure
from sso.saml import SigningKeyPair, generate_signing_pair
from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, sign_up
from tests.sso_support.oidc_provider import OidcPeer, PeerClient, oidc_provider
from whitelabel.accounts.models import User
from whitelabel.app import create_app
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent
from whitelabel.testing import LiveServer, TenantFactory, host_client, wait_for_route

LIST = "/admin/sso"
_CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]*)">')
HOSTILE = '<script>alert("x")</script>&'
#: With WHITELABEL_SCREENSHOTS=1 the browser test saves the SSO guide's screenshots.
SCREENSHOTS = os.environ.get("WHITELABEL_SCREENSHOTS") == "1"
IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"
ESCAPED = str(escape(HOSTILE))


@pytest.fixture(scope="module")
def runtime(whitelabel_runtime: Runtime) -> Iterator[Runtime]:
    """A runtime of this module's own (stopping an app stops its runtime's routing listener;
    the session's runtime serves other modules), loopback identity providers allowed."""
    own = Runtime.start(replace(whitelabel_runtime.settings, sso_allow_loopback=True))
    yield own
    own.db.sync_engine.dispose()


@pytest.fixture(scope="module")
def server(runtime: Runtime) -> Iterator[LiveServer]:
    live = LiveServer(create_app(runtime=runtime, access_log=False))
    live.start()
    yield live
    live.stop()


@dataclass
class Site:
    """A tenant with its owner (signed in) and a member (signed in)."""

    tenant: TenantView
    owner: httpx.Client
    member: httpx.Client
    anonymous: httpx.Client


@pytest.fixture
def sites(runtime: Runtime, server: LiveServer) -> Iterator[tuple[Site, Site]]:
    """Two tenants: act on the first, check that nothing reached the second."""
    factory = TenantFactory(runtime, prefix="ssopg")
    clients: list[httpx.Client] = []

    def client(tenant: TenantView) -> httpx.Client:
        wait_for_route(runtime, tenant.primary_host or "")
        made = host_client(server.url, tenant.primary_host or "", timeout=20.0)
        clients.append(made)
        return made

    def site() -> Site:
        tenant = factory()
        owner, member = client(tenant), client(tenant)
        sign_up(owner, "owner@example.org")  # the first user is the owner
        sign_up(member, "member@example.org")
        return Site(tenant, owner, member, client(tenant))

    try:
        yield site(), site()
    finally:
        for made in clients:
            made.close()
        factory.cleanup()


# --- helpers -----------------------------------------------------------------------------------


def _token(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match is not None, page.text
    return html.unescape(match.group(1))


def _post(
    client: httpx.Client,
    page: str,
    action: str,
    data: dict[str, Any],
    files: dict[str, Any] | None = None,
) -> httpx.Response:
    """Open ``page`` and post ``data`` with its CSRF token to ``action``."""
    opened = client.get(page)
    assert opened.status_code == 200, opened.text
    return client.post(action, data={**data, "csrf_token": _token(opened)}, files=files)


def _act(
    client: httpx.Client, connection: str, action: str, files: Any = None, **data: Any
) -> httpx.Response:
    """Post one form of the connection's page."""
    page = f"{LIST}/{connection}"
    return _post(client, page, page, {"action": action, **data}, files)


def _create(client: httpx.Client, kind: str, name: str, **extra: str) -> str:
    """Create a connection from the list page; answers its id."""
    response = _post(client, LIST, LIST, {"type": kind, "name": name, **extra})
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{LIST}/")
    return location.rsplit("/", 1)[1]


class _ConfigForm(HTMLParser):
    """The fields of the configuration form as a browser would send them (checked boxes and
    radios, selected options, text and textarea values; no file)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = a.get("data-testid") == "config-form"
        if not self.inside or ("name" not in a and tag != "option"):
            return
        if tag == "input" and a.get("type") != "file":
            if a.get("type") not in ("radio", "checkbox") or "checked" in a:
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[a["name"]] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def _save(
    client: httpx.Client, connection: str, files: Any = None, **changes: str | None
) -> httpx.Response:
    """Open the connection's page and save its configuration form with ``changes`` (``None``:
    the field is not sent, as an unticked box), multipart as the form says."""
    page = client.get(f"{LIST}/{connection}")
    assert page.status_code == 200, page.text
    parser = _ConfigForm()
    parser.feed(page.text)
    data = {**parser.fields, **changes}
    sent = {key: value for key, value in data.items() if value is not None}
    no_file = {"idp_metadata_file": ("", b"", "application/octet-stream")}
    return client.post(f"{LIST}/{connection}", data=sent, files=files or no_file)


@functools.cache
def _idp_key(name: str) -> SigningKeyPair:
    return generate_signing_pair(name, key_size=2048)


def _metadata(entity_id: str = "https://idp.uni.example/idp", key: str = "idp-one") -> str:
    """An IdP's SAML metadata: one signing certificate, an HTTP-Redirect sign-in URL."""
    body = "".join(_idp_key(key).cert_pem.strip().splitlines()[1:-1])
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
        f"<ds:X509Certificate>{body}</ds:X509Certificate>"
        "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        'Location="https://idp.uni.example/sso"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def _row(runtime: Runtime, tenant: TenantView, connection: str) -> SsoConnection | None:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return session.get(SsoConnection, uuid.UUID(connection))


def _connections(runtime: Runtime, tenant: TenantView) -> list[SsoConnection]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return list(session.scalars(select(SsoConnection).order_by(SsoConnection.name)))


def _events(runtime: Runtime, tenant: TenantView) -> list[tuple[str, Any]]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.detail)
            .where(AuditEvent.action.startswith("sso."))
            .order_by(AuditEvent.at)
        )
        return [(action, detail) for action, detail in rows]


def _value(page: httpx.Response, testid: str) -> str:
    match = re.search(
        rf'value="([^"]*)" readonly spellcheck="false" data-testid="{testid}"', page.text
    )
    assert match is not None, testid
    return html.unescape(match.group(1))


def _error(page: httpx.Response, name: str) -> str:
    match = re.search(rf'data-testid="error-{re.escape(name)}">([^<]*)<', page.text)
    assert match is not None, f"no error for {name}: {page.text}"
    return html.unescape(match.group(1))


def _flash(page: httpx.Response) -> str:
    match = re.search(r'data-testid="flash">([^<]*)<', page.text)
    assert match is not None, page.text
    return html.unescape(match.group(1))


def _origin(site: Site) -> str:
    return f"http://{site.owner.headers['host']}"


# --- access ------------------------------------------------------------------------------------


def test_pages_are_for_admins_only(sites: tuple[Site, Site], runtime: Runtime) -> None:
    site, other = sites
    connection = _create(site.owner, "saml", "Staff")
    for path in (LIST, f"{LIST}/{connection}", f"{LIST}/{connection}/delete"):
        anonymous = site.anonymous.get(path)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == f"/login?next={path}"
        member = site.member.get(path)
        assert member.status_code == 403
        assert "needs an admin or an owner" in member.text
        owner = site.owner.get(path)
        assert owner.status_code == 200, owner.text
        assert owner.headers["cache-control"] == "no-store"
        assert owner.headers["x-frame-options"] == "DENY"
        assert "script-src" not in owner.headers["content-security-policy"]
        assert "<script" not in owner.text
        assert 'href="/admin/sso" aria-current="page"' in owner.text
    # A member's post changes nothing, nor does another tenant's owner (their id is unknown here).
    refused = site.member.post(
        f"{LIST}/{connection}",
        data={"action": "enable", "csrf_token": site.member.cookies["wl_csrf"]},
    )
    assert refused.status_code == 403
    assert other.owner.get(f"{LIST}/{connection}").status_code == 404
    assert other.owner.get(f"{LIST}/not-a-uuid").status_code == 404
    deleted = _post(other.owner, LIST, f"{LIST}/{connection}/delete", {})
    assert deleted.status_code == 404
    assert _row(runtime, site.tenant, connection) is not None
    assert _connections(runtime, other.tenant) == []


# --- SAML --------------------------------------------------------------------------------------


def test_a_saml_connection_from_the_pages(sites: tuple[Site, Site], runtime: Runtime) -> None:
    site, other = sites
    empty = site.owner.get(LIST)
    assert 'data-testid="no-connections"' in empty.text
    connection = _create(site.owner, "saml", "Northfield Staff")
    page = site.owner.get(f"{LIST}/{connection}")
    assert _flash(page).startswith("Created Northfield Staff.")
    base = f"{_origin(site)}/sso/saml/{connection}"
    assert _value(page, "sp-entity-id") == f"{base}/metadata"
    assert _value(page, "sp-acs-url") == f"{base}/acs"
    assert _value(page, "sp-sls-url") == f"{base}/sls"
    assert _value(page, "sp-metadata-url") == f"{base}/metadata"
    assert f'href="/sso/saml/{connection}/metadata" download=' in page.text
    assert 'data-testid="no-idp"' in page.text
    assert page.text.count('data-testid="sp-cert" data-state="current"') == 1
    assert "PRIVATE KEY" not in page.text
    assert 'data-testid="flash"' not in site.owner.get(f"{LIST}/{connection}").text  # shown once

    done = _save(site.owner, connection, idp_metadata_xml=_metadata())
    assert done.status_code == 303, done.text
    page = site.owner.get(f"{LIST}/{connection}")
    assert _flash(page) == "Saved."
    assert "https://idp.uni.example/idp" in page.text
    assert page.text.count('data-testid="idp-cert"') == 1
    assert "pasted or uploaded" in page.text
    row = _row(runtime, site.tenant, connection)
    assert row is not None and row.config["idp"]["sso_url"] == "https://idp.uni.example/sso"

    listed = site.owner.get(LIST)
    assert 'data-testid="connection-link">Northfield Staff<' in listed.text
    assert 'data-testid="state">Disabled<' in listed.text
    assert [action for action, _ in _events(runtime, site.tenant)] == [
        "sso.connection_created",
        "sso.connection_updated",
    ]
    assert _connections(runtime, other.tenant) == []
    assert _events(runtime, other.tenant) == []


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ("<md:EntityDescriptor", "metadata_invalid"),
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "metadata_dtd_refused"),
        ("<x xmlns='urn:other'/>", "metadata_invalid"),
        (_metadata().replace("md:KeyDescriptor", "md:Other"), "metadata_no_signing_cert"),
    ],
)
def test_bad_metadata_is_shown_next_to_its_field_and_kept(
    sites: tuple[Site, Site], runtime: Runtime, metadata: str, code: str
) -> None:
    site, _ = sites
    connection = _create(site.owner, "saml", "Staff")
    before = _events(runtime, site.tenant)
    refused = _save(site.owner, connection, idp_metadata_xml=metadata, email_domains="uni.example")
    assert refused.status_code == 422, refused.text
    assert 'value="uni.example"' in refused.text  # the rest of the form is kept too
    assert _error(refused, "idp_metadata_xml").endswith(f"({code})")
    assert f">{escape(metadata)}</textarea>" in refused.text  # as typed
    assert 'aria-describedby="x-xml-hint x-xml-error"' in refused.text
    row = _row(runtime, site.tenant, connection)
    assert row is not None and row.config["idp"] is None
    assert _events(runtime, site.tenant) == before


def test_metadata_from_a_file_and_the_form_errors(
    sites: tuple[Site, Site], runtime: Runtime
) -> None:
    site, _ = sites
    connection = _create(site.owner, "saml", "Staff")
    file = {"idp_metadata_file": ("idp.xml", _metadata().encode(), "application/xml")}
    empty = {"idp_metadata_file": ("", b"", "application/octet-stream")}

    nothing = _save(site.owner, connection, files=empty)
    assert nothing.status_code == 303  # nothing given: the metadata stays as it is (none)
    assert _flash(site.owner.get(f"{LIST}/{connection}")) == "Nothing changed."
    both = _save(site.owner, connection, files=file, idp_metadata_xml=_metadata())
    assert both.status_code == 400
    assert "not both" in _error(both, "idp_metadata_xml")
    two = [("idp_metadata_file", ("a.xml", b"<a/>", "text/xml"))] * 2
    assert _error(_save(site.owner, connection, files=two), "idp_metadata_file") == (
        "Choose one metadata file."
    )
    binary = {"idp_metadata_file": ("idp.xml", b"\xff\xfe<\x00", "application/xml")}
    not_text = _save(site.owner, connection, files=binary)
    assert "not UTF-8" in _error(not_text, "idp_metadata_file")
    row = _row(runtime, site.tenant, connection)
    assert row is not None and row.config["idp"] is None

    uploaded = _save(site.owner, connection, files=file)
    assert uploaded.status_code == 303, uploaded.text
    row = _row(runtime, site.tenant, connection)
    assert row is not None and row.config["idp"]["entity_id"] == "https://idp.uni.example/idp"


class _MetadataServer:
    """IdP metadata served over http on 127.0.0.1 (loopback is allowed in this module)."""

    def __init__(self) -> None:
        self.document = _metadata()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.document.encode()
                self.send_response(200)
                self.send_header("content-type", "application/samlmetadata+xml")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/metadata"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def test_metadata_from_a_url_and_its_refresh(sites: tuple[Site, Site], runtime: Runtime) -> None:
    site, _ = sites
    connection = _create(site.owner, "saml", "Staff")
    served = _MetadataServer()
    try:
        refused = _save(site.owner, connection, idp_metadata_url="ftp://x.example/m")
        assert refused.status_code == 422
        assert "(url_" in _error(refused, "idp_metadata_url")
        assert 'value="ftp://x.example/m"' in refused.text

        fetched = _save(site.owner, connection, idp_metadata_url=served.url)
        assert fetched.status_code == 303, fetched.text
        page = site.owner.get(f"{LIST}/{connection}")
        assert "fetched from its URL, last at" in page.text
        assert f'value="{served.url}"' in page.text
        # Saving the form again does not fetch again; XML beside a new URL is ambiguous.
        assert _save(site.owner, connection, jit="on").status_code == 303
        ambiguous = _save(site.owner, connection, idp_metadata_xml=_metadata(),
                          idp_metadata_url=served.url + "?other")  # fmt: skip
        assert ambiguous.status_code == 400
        assert "not both" in _error(ambiguous, "idp_metadata_url")

        again = _act(site.owner, connection, "refresh")
        assert again.status_code == 303
        assert "unchanged" in _flash(site.owner.get(f"{LIST}/{connection}"))
        served.document = _metadata(key="idp-two")  # the IdP rolled its certificate over
        changed = _act(site.owner, connection, "refresh")
        assert changed.status_code == 303
        page = site.owner.get(f"{LIST}/{connection}")
        assert "has changed" in _flash(page)
        assert "metadata changed at the refresh" in page.text
        fingerprint = _idp_key("idp-two").cert_pem  # the new certificate is the one shown
        row = _row(runtime, site.tenant, connection)
        assert row is not None and row.config["idp"]["certs"][0]["pem"].strip() == (
            fingerprint.strip()
        )
    finally:
        served.close()
    actions = [action for action, _ in _events(runtime, site.tenant)]
    assert actions.count("sso.metadata_changed") == 1


def test_key_rollover(sites: tuple[Site, Site]) -> None:
    site, _ = sites
    connection = _create(site.owner, "saml", "Staff")
    assert _act(site.owner, connection, "rollover_finish").status_code == 409
    assert _act(site.owner, connection, "rollover_begin").status_code == 303
    page = site.owner.get(f"{LIST}/{connection}")
    assert 'data-state="current"' in page.text and 'data-state="next"' in page.text
    again = _act(site.owner, connection, "rollover_begin")
    assert again.status_code == 409
    assert "already in progress" in again.text
    assert _act(site.owner, connection, "rollover_finish").status_code == 303
    page = site.owner.get(f"{LIST}/{connection}")
    assert page.text.count('data-testid="sp-cert"') == 1
    metadata = site.owner.get(f"/sso/saml/{connection}/metadata")
    if metadata.status_code != 404:  # the SAML routes are registered by the SSO plugin
        assert metadata.status_code == 200


# --- settings, mapping, test, failures, delete --------------------------------------------------


def test_settings_enable_and_domains(sites: tuple[Site, Site], runtime: Runtime) -> None:
    site, other = sites
    connection = _create(site.owner, "saml", "Staff")
    incomplete = _act(site.owner, connection, "enable")
    assert incomplete.status_code == 422
    assert "metadata before enabling" in incomplete.text
    enabling = _save(site.owner, connection, enabled="on")
    assert enabling.status_code == 422
    assert _error(enabling, "enabled").startswith("Add the identity provider's metadata")
    assert 'id="s-enabled" name="enabled" type="checkbox" value="on" checked' in enabling.text
    assert _save(site.owner, connection, idp_metadata_xml=_metadata()).status_code == 303

    saved = _save(
        site.owner, connection, email_domains="Uni.Example, staff.uni.example;\nuni.example",
        jit="on", enforce_sso="on", default_role="admin", name="  Northfield   Staff ",
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    row = _row(runtime, site.tenant, connection)
    assert row is not None
    assert (row.name, row.email_domains, row.jit, row.enforce_sso, row.default_role) == (
        "Northfield Staff", ["staff.uni.example", "uni.example"], True, True, "admin",
    )  # fmt: skip
    assert not row.enabled and not row.allow_idp_initiated
    page = site.owner.get(f"{LIST}/{connection}")
    assert 'value="staff.uni.example, uni.example"' in page.text
    assert _flash(page) == "Saved."
    assert _save(site.owner, connection).status_code == 303  # the page as it is
    assert _flash(site.owner.get(f"{LIST}/{connection}")) == "Nothing changed."
    assert _save(site.owner, connection, jit=None).status_code == 303  # unticked
    assert not _row(runtime, site.tenant, connection).jit  # type: ignore[union-attr]

    assert _act(site.owner, connection, "enable").status_code == 303
    assert _row(runtime, site.tenant, connection).enabled  # type: ignore[union-attr]
    assert 'data-testid="state">Enabled<' in site.owner.get(LIST).text
    assert _act(site.owner, connection, "disable").status_code == 303
    assert not _row(runtime, site.tenant, connection).enabled  # type: ignore[union-attr]

    # A domain belongs to one connection of a tenant; another tenant may use it too.
    second = _create(site.owner, "saml", "Students")
    taken = _save(site.owner, second, email_domains="uni.example")
    assert taken.status_code == 409
    assert _error(taken, "email_domains") == "Another connection already owns uni.example."
    assert 'value="uni.example"' in taken.text
    bad = _save(site.owner, second, email_domains="not a domain!")
    assert bad.status_code == 422
    assert "is not an email domain" in _error(bad, "email_domains")
    role = _save(site.owner, second, default_role="owner")
    assert "owners are made by owners" in _error(role, "default_role")
    box = _save(site.owner, second, jit="yes")
    assert _error(box, "jit") == "Tick the box or leave it empty."
    assert _row(runtime, site.tenant, second).email_domains == []  # type: ignore[union-attr]
    theirs = _create(other.owner, "saml", "Theirs")
    mine_too = _save(other.owner, theirs, email_domains="uni.example")
    assert mine_too.status_code == 303


def test_attribute_mapping(sites: tuple[Site, Site], runtime: Runtime) -> None:
    site, _ = sites
    connection = _create(site.owner, "saml", "Staff")
    rows = {
        "mapping-0-field": "display_name",
        "mapping-0-attribute": "urn:oid:2.16.840.1.113730.3.1.241",
        "mapping-2-field": "affiliation",
        "mapping-2-attribute": "urn:oid:1.3.6.1.4.1.5923.1.1.1.1",
    }
    saved = _save(site.owner, connection, **rows)
    assert saved.status_code == 303, saved.text
    row = _row(runtime, site.tenant, connection)
    assert row is not None and row.attribute_mapping == {
        "display_name": "urn:oid:2.16.840.1.113730.3.1.241",
        "affiliation": "urn:oid:1.3.6.1.4.1.5923.1.1.1.1",
    }
    page = site.owner.get(f"{LIST}/{connection}")
    assert page.text.count('data-testid="mapping-row"') == 5  # two mapped, three empty
    assert 'name="mapping-0-field" type="text" value="affiliation"' in page.text  # by field

    half = _save(site.owner, connection, **{"mapping-2-field": "department"})
    assert half.status_code == 400
    assert _error(half, "mapping-2-attribute") == "Name the attribute that fills department."
    twice = _save(site.owner, connection,
                  **{"mapping-3-field": "affiliation", "mapping-3-attribute": "ou"})  # fmt: skip
    assert _error(twice, "mapping-3-field") == "affiliation is mapped twice; keep one row."
    assert 'value="ou"' in twice.text  # kept as typed
    bad = _save(site.owner, connection,
                **{"mapping-0-field": "Affiliation Name", "mapping-0-attribute": "cn"})  # fmt: skip
    assert bad.status_code == 422
    assert "lower-case name" in _error(bad, "mapping")
    assert 'aria-describedby="mapping-help mapping-error"' in bad.text
    emptied = {f"mapping-{i}-{half}": "" for i in range(2) for half in ("field", "attribute")}
    assert _save(site.owner, connection, **emptied).status_code == 303
    assert _row(runtime, site.tenant, connection).attribute_mapping == {}  # type: ignore[union-attr]


def test_test_link_and_failures(sites: tuple[Site, Site], runtime: Runtime) -> None:
    site, other = sites
    connection = _create(site.owner, "saml", "Staff")
    incomplete = site.owner.get(f"{LIST}/{connection}")
    assert 'data-testid="test-link"' not in incomplete.text
    assert 'data-testid="test-unavailable"' in incomplete.text
    assert _save(site.owner, connection, idp_metadata_xml=_metadata()).status_code == 303
    complete = site.owner.get(f"{LIST}/{connection}")
    link = f'<a class="button" href="/sso/saml/{connection}/login?test=1" data-testid="test-link">'
    assert link in complete.text

    page = site.owner.get(f"{LIST}/{connection}")
    assert 'data-testid="no-failures"' in page.text
    with runtime.db.tenant_sync_session(site.tenant.context()) as session:
        session.add_all(
            [
                SsoFailure(connection_id=uuid.UUID(connection), code="saml_audience_mismatch",
                           message=f"Wrong audience {HOSTILE}", detail={}, test=True),
                SsoFailure(connection_id=uuid.UUID(connection), code="saml_expired",
                           message="The response has expired.", detail={}, test=False),
            ]
        )  # fmt: skip
        session.commit()
    page = site.owner.get(f"{LIST}/{connection}")
    assert page.text.count('data-testid="failure"') == 2
    assert f"Wrong audience {ESCAPED}" in page.text
    assert HOSTILE not in page.text
    assert "<td>test</td>" in page.text and "<td>sign-in</td>" in page.text
    assert other.owner.get(f"{LIST}/{connection}").status_code == 404


def test_delete_asks_first(sites: tuple[Site, Site], runtime: Runtime) -> None:
    site, other = sites
    connection = _create(site.owner, "saml", "Staff")
    theirs = _create(other.owner, "saml", "Staff")
    confirm = site.owner.get(f"{LIST}/{connection}/delete")
    assert confirm.status_code == 200
    assert 'data-testid="delete-name">Staff<' in confirm.text
    assert _row(runtime, site.tenant, connection) is not None  # a GET deletes nothing
    deleted = _post(site.owner, f"{LIST}/{connection}/delete", f"{LIST}/{connection}/delete", {})
    assert deleted.status_code == 303
    assert deleted.headers["location"] == LIST
    assert _flash(site.owner.get(LIST)) == "Deleted Staff. Its people keep their accounts."
    assert _row(runtime, site.tenant, connection) is None
    assert [a for a, _ in _events(runtime, site.tenant)][-1] == "sso.connection_deleted"
    assert site.owner.get(f"{LIST}/{connection}").status_code == 404
    assert _row(runtime, other.tenant, theirs) is not None


# --- OpenID Connect ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcPeer]:
    client = PeerClient("pages", "secret-of-pages-0123456789", "http://pages.localhost/cb")
    with oidc_provider(tmp_path_factory.mktemp("oidc-pages"), [client]) as running:
        yield running


def test_an_oidc_connection_from_the_pages(
    sites: tuple[Site, Site], runtime: Runtime, peer: OidcPeer
) -> None:
    site, other = sites
    secret = "s3cret-value-" + uuid.uuid4().hex
    unreachable = _post(site.owner, LIST, LIST, {
        "type": "oidc", "name": "Okta", "preset": "generic",
        "generic_issuer": "http://127.0.0.1:9/nothing", "client_id": "pages",
        "client_secret": secret})  # fmt: skip
    assert unreachable.status_code == 422
    assert _error(unreachable, "generic_issuer").endswith(")")  # the refusal's code
    assert 'value="http://127.0.0.1:9/nothing"' in unreachable.text  # kept
    assert secret not in unreachable.text  # never echoed
    google = _post(
        site.owner, LIST, LIST, {"type": "oidc", "name": "G", "preset": "google",
                                 "google_domain": "not a domain"})  # fmt: skip
    assert "Workspace domain is not valid" in _error(google, "google_domain")
    assert _connections(runtime, site.tenant) == []

    connection = _create(
        site.owner, "oidc", "Campus Login", preset="generic", generic_issuer=peer.issuer,
        client_id="pages", client_secret=secret,
    )  # fmt: skip
    page = site.owner.get(f"{LIST}/{connection}")
    assert _value(page, "redirect-uri") == f"{_origin(site)}/sso/oidc/{connection}/callback"
    assert f"<code>{peer.issuer}</code>" in page.text
    assert "stored (never shown)" in page.text
    assert secret not in page.text
    assert 'value="openid email profile"' in page.text
    stored = _row(runtime, site.tenant, connection)
    assert stored is not None and stored.client_secret and secret not in stored.client_secret

    kept = _save(site.owner, connection, scopes="openid email")  # the secret left empty
    assert kept.status_code == 303, kept.text
    row = _row(runtime, site.tenant, connection)
    assert row is not None and row.client_secret == stored.client_secret  # blank keeps it
    assert row.config["scopes"] == ["openid", "email"]
    no_openid = _save(site.owner, connection, scopes="email", client_secret="another-secret",
                      email_domains="uni.example")  # fmt: skip
    assert no_openid.status_code == 422
    assert _error(no_openid, "scopes") == "The scopes must include openid."
    assert "another-secret" not in no_openid.text
    assert 'value="uni.example"' in no_openid.text
    changed = _save(site.owner, connection, scopes="openid", client_secret="a-new-secret")
    assert changed.status_code == 303
    row = _row(runtime, site.tenant, connection)
    assert row is not None and row.client_secret not in (None, stored.client_secret)
    for path in (LIST, f"{LIST}/{connection}"):
        assert "a-new-secret" not in site.owner.get(path).text
    assert f'href="/sso/oidc/{connection}/login?test=1" data-testid="test-link"' in page.text
    assert "idp_initiated" not in page.text  # a SAML-only setting
    # A connection may wait for its provider: the admin registers the client with the redirect
    # URI, which names the connection; until then it cannot be tested or enabled.
    bare = _create(site.owner, "oidc", "Okta, later")
    waiting = site.owner.get(f"{LIST}/{bare}")
    assert 'data-testid="test-unavailable"' in waiting.text
    assert _value(waiting, "redirect-uri").endswith(f"/sso/oidc/{bare}/callback")
    assert _connections(runtime, other.tenant) == []


# --- hostile input -----------------------------------------------------------------------------


def test_hostile_input_gets_clear_errors(sites: tuple[Site, Site], runtime: Runtime) -> None:
    site, other = sites
    huge = _post(site.owner, LIST, LIST, {"type": "saml", "name": "x" * 10_000})
    assert huge.status_code == 400
    assert _error(huge, "name") == "This is too long (at most 400 characters)."
    long = _post(site.owner, LIST, LIST, {"type": "saml", "name": "x" * 150})
    assert long.status_code == 422
    assert _error(long, "name") == "A name is 1-100 characters."
    kind = _post(site.owner, LIST, LIST, {"type": "ldap", "name": "Staff"})
    assert _error(kind, "type") == "Choose SAML 2.0 or OpenID Connect."
    assert 'value="Staff"' in kind.text
    page = site.owner.get(LIST)
    twice = site.owner.post(LIST, data={"type": "saml", "name": ["A", "B"],
                                        "csrf_token": _token(page)})  # fmt: skip
    assert twice.status_code == 400
    assert _error(twice, "name") == "Send this field once, as text."
    forged = site.owner.post(LIST, data={"type": "saml", "name": "Forged"})
    assert forged.status_code == 403
    assert _connections(runtime, site.tenant) == []

    connection = _create(site.owner, "saml", HOSTILE)
    for path in (LIST, f"{LIST}/{connection}", f"{LIST}/{connection}/delete"):
        text = site.owner.get(path).text
        assert HOSTILE not in text
        assert ESCAPED in text
    unknown = _act(site.owner, connection, "drop_tables")
    assert unknown.status_code == 400
    assert "Send this form from the connection's page." in html.unescape(unknown.text)
    huge_xml = _save(site.owner, connection, idp_metadata_xml="a" * (2 * 1024 * 1024 + 1))
    assert huge_xml.status_code == 400
    assert "too long" in _error(huge_xml, "idp_metadata_xml")
    huge_body = _act(site.owner, connection, "save", idp_metadata_xml="<" * (3 * 1024 * 1024))
    assert huge_body.status_code == 413  # refused before the form is read
    assert _connections(runtime, other.tenant) == []


# --- in a real browser -------------------------------------------------------------------------


def _sign_in_at_the_provider(page: Page, origin: str, user: str) -> None:
    """The provider's development login and consent pages, until it sends the browser back."""
    for _ in range(4):
        if page.url.startswith(origin):
            return
        login = page.locator('input[name="login"]')
        if login.count():
            login.fill(user)
            page.locator('input[name="password"]').fill("any password")
        page.locator('button[type="submit"]').first.click()
        page.wait_for_load_state()
    assert page.url.startswith(origin), page.url


def test_an_admin_sets_up_and_tests_an_oidc_connection_in_a_browser(
    chromium: Browser, runtime: Runtime, server: LiveServer, peer: OidcPeer
) -> None:
    factory = TenantFactory(runtime, prefix="ssobr")
    tenant = factory()
    host = tenant.primary_host or ""
    wait_for_route(runtime, host)
    origin = f"http://{host}:{server.port}"
    secret = "browser-secret-" + uuid.uuid4().hex
    context = chromium.new_context()
    problems: list[str] = []

    def watch(message: ConsoleMessage) -> None:  # a CSP refusal is logged as a console error
        url = message.location.get("url", "")
        if message.type == "error" and url.startswith(origin) and not url.endswith(".ico"):
            problems.append(f"{message.text} {url}")

    try:
        page = context.new_page()
        page.on("console", watch)
        page.goto(f"{origin}/signup")
        page.get_by_label("Your name").fill("Olga Owner")
        page.get_by_label("Email address").fill("olga@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(f"{origin}/")

        page.goto(f"{origin}/admin/sso")
        assert page.get_by_test_id("no-connections").is_visible()
        page.get_by_label("OpenID Connect", exact=True).check()
        page.get_by_label("Name", exact=True).fill("Campus Login")
        page.locator("#new-preset-generic").check()
        page.get_by_label("Issuer URL").fill(peer.issuer)
        page.get_by_label("Client ID").fill("browser-client")
        page.get_by_label("Client secret").fill(secret)
        page.get_by_role("button", name="Create connection").click()
        page.wait_for_url(re.compile(r".*/admin/sso/[0-9a-f-]{36}$"))
        assert page.get_by_test_id("flash").inner_text().startswith("Created Campus Login.")
        redirect_uri = page.get_by_label("Redirect URI (callback URL)").input_value()
        assert redirect_uri.startswith(f"{origin}/sso/oidc/")
        assert secret not in page.content()

        page.get_by_label("Email domains").fill("example.test")
        page.get_by_label("Create accounts on first sign-in (JIT)").check()
        page.get_by_role("button", name="Save", exact=True).click()
        assert page.get_by_test_id("flash").inner_text() == "Saved."
        if SCREENSHOTS:  # for docs/usage/sso.md
            page.screenshot(path=str(IMAGES / "sso-connection.png"), full_page=True)

        # The admin registers the redirect URI at the provider (it restarts with the client).
        peer.clients = (PeerClient("browser-client", secret, redirect_uri),)
        peer.rotate(peer.key)
        page.get_by_role("link", name="Test connection").click()
        _sign_in_at_the_provider(page, origin, "alice")
        result = page.get_by_test_id("sso-test-result")
        assert result.get_attribute("data-ok") == "yes", page.content()
        if SCREENSHOTS:
            page.screenshot(path=str(IMAGES / "sso-test-result.png"), full_page=True)
        assert "alice@example.test" in page.get_by_test_id("sso-test-outcome").inner_text()
        with runtime.db.tenant_sync_session(tenant.context()) as session:
            count = session.scalar(select(func.count()).select_from(User))
            assert count == 1  # a test creates nobody: only the owner
        page.get_by_role("link", name="Back to the connection").click()
        assert page.get_by_test_id("no-failures").is_visible()
        assert problems == []
    finally:
        context.close()
        factory.cleanup()
