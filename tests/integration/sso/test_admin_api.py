"""The tenant admin SSO API on a real server and real PostgreSQL, for two tenants.

The server here has ``sso_allow_loopback`` on (its own runtime): IdP metadata URLs point at a
plain-http server on 127.0.0.1 and OIDC discovery at the npm ``oidc-provider`` peer. Private,
link-local and other non-public addresses stay refused with loopback allowed, which the
hostile-input table checks. Every test looks at the other tenant too: nothing may reach it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from sso.errors import SsoRejected
from sso.flows import record_failure
from sso.secrets import SecretBox, secret_context
from tenants.schemas import TenantView
from tests.integration.accounts_support import csrf_headers, sign_up
from tests.integration.sso.admin_support import (
    DocumentServer,
    audit_rows,
    connection_row,
    document_server,
    idp_key,
    idp_metadata,
    sp_keys,
)
from tests.sso_support.oidc_provider import OidcPeer, PeerClient, oidc_provider
from whitelabel.app import create_app
from whitelabel.db.engine import Database
from whitelabel.runtime import Runtime
from whitelabel.testing import TenantFactory
from whitelabel.testing.kit import LiveServer, host_client, wait_for_route

API = "/api/v1/admin/sso/connections"
SECRET = "s3cr3t-client-value-7f2a"


@dataclass
class Server:
    runtime: Runtime
    live: LiveServer


@dataclass
class Site:
    tenant: TenantView
    admin: httpx.Client

    def call(self, method: str, path: str = "", body: Any = None) -> httpx.Response:
        headers = csrf_headers(self.admin)
        return self.admin.request(method, API + path, json=body, headers=headers)


@pytest.fixture(scope="module")
def server(whitelabel_runtime: Runtime) -> Iterator[Server]:
    runtime = Runtime.start(replace(whitelabel_runtime.settings, sso_allow_loopback=True))
    live = LiveServer(create_app(runtime=runtime, access_log=False)).start()
    yield Server(runtime, live)
    live.stop()
    runtime.db.sync_engine.dispose()


@pytest.fixture
def sites(server: Server, make_tenant: TenantFactory) -> Iterator[tuple[Site, Site]]:
    made: list[Site] = []
    for _ in range(2):
        tenant = make_tenant()
        wait_for_route(server.runtime, tenant.primary_host or "")
        client = host_client(server.live.url, tenant.primary_host or "")
        sign_up(client, "owner@example.org")
        made.append(Site(tenant, client))
    yield made[0], made[1]
    for site in made:
        site.admin.close()


@pytest.fixture(scope="module")
def docs() -> Iterator[DocumentServer]:
    with document_server() as running:
        yield running


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcPeer]:
    client = PeerClient("wl-client", SECRET, "http://127.0.0.1/unused")
    with oidc_provider(Path(tmp_path_factory.mktemp("oidc")), [client]) as running:
        yield running


def saml(name: str = "University IdP", **fields: Any) -> dict[str, Any]:
    return {"type": "saml", "name": name, **fields}


def created(site: Site, body: dict[str, Any]) -> dict[str, Any]:
    response = site.call("POST", "", body)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def untouched(server: Server, other: Site) -> None:
    """Nothing SSO reached the other tenant: no connection, key or ``sso.*`` audit event."""
    assert other.call("GET").json() == {"items": []}
    assert [a for a, _, _ in audit_rows(server.runtime, other.tenant) if a.startswith("sso.")] == []
    assert sp_keys(server.runtime, other.tenant) == []


def test_saml_connection_lifecycle(server: Server, sites: tuple[Site, Site]) -> None:
    site, other = sites
    document = created(
        site, saml(idp_metadata_xml=idp_metadata(), email_domains=["Uni.Example"], jit=True)
    )
    cid = document["id"]
    base = f"http://{site.tenant.primary_host}:{server.live.port}/sso/saml/{cid}"
    assert document["sp_entity_id"] == document["metadata_url"] == f"{base}/metadata"
    assert (document["acs_url"], document["sls_url"]) == (f"{base}/acs", f"{base}/sls")
    assert document["login_url"] == f"/sso/saml/{cid}/login"
    assert [c["state"] for c in document["sp_certs"]] == ["current"]
    assert document["sp_certs"][0]["fingerprint_sha256"].count(":") == 31
    assert document["idp"]["entity_id"] == "https://idp.example.test/saml"
    assert document["idp"]["sso_url"] == "https://idp.example.test/saml/sso"
    assert [c["pem"] for c in document["idp"]["certs"]] == [idp_key("idp").cert_pem]
    assert document["metadata_source"] == "xml"
    assert document["warnings"] == []
    assert (document["email_domains"], document["enabled"], document["config_version"]) == (
        ["uni.example"], False, 1,
    )  # fmt: skip
    row = connection_row(server.runtime, site.tenant, cid)
    assert row.config["idp"]["certs"][0]["pem"] == idp_key("idp").cert_pem
    (key,) = sp_keys(server.runtime, site.tenant)
    box = SecretBox(server.runtime.settings)
    where = secret_context(site.tenant.id, row.id, f"sp_key:{key.id}")
    assert "PRIVATE KEY" in box.open(key.private_key, context=where)

    assert site.call("GET").json()["items"] == [document]
    assert site.call("GET", f"/{cid}").json() == document
    changed = site.call("PATCH", f"/{cid}", {"name": "Campus", "enabled": True})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["config_version"]) == ("Campus", 2)
    assert changed.json()["sp_entity_id"] == document["sp_entity_id"]  # fixed at creation
    same = site.call("PATCH", f"/{cid}", {"name": "Campus"})
    assert same.json()["config_version"] == 2  # nothing changed, nothing bumped

    # The other tenant sees nothing, and cannot reach the connection by its id.
    for method, path in [("GET", f"/{cid}"), ("PATCH", f"/{cid}"), ("DELETE", f"/{cid}"),
                         ("GET", f"/{cid}/failures"), ("POST", f"/{cid}/test")]:  # fmt: skip
        answer = other.call(method, path, {} if method != "GET" else None)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "sso_connection_not_found"
    untouched(server, other)

    assert site.call("DELETE", f"/{cid}").status_code == 204
    assert site.call("GET", f"/{cid}").status_code == 404
    assert sp_keys(server.runtime, site.tenant) == []
    actions = [(a, d) for a, _, d in audit_rows(server.runtime, site.tenant) if a != "user.login"]
    assert actions == [
        ("sso.connection_created", {"type": "saml", "name": "University IdP"}),
        ("sso.connection_updated", {"fields": ["enabled", "name"]}),
        ("sso.connection_deleted", {"type": "saml", "name": "Campus"}),
    ]


def test_saml_without_idp_cannot_be_enabled_or_tested(sites: tuple[Site, Site]) -> None:
    site, _ = sites
    document = created(site, saml())
    assert (document["idp"], document["metadata_source"]) == (None, None)
    refused = site.call("PATCH", f"/{document['id']}", {"enabled": True})
    assert (refused.status_code, refused.json()["code"]) == (422, "sso_connection_incomplete")
    test = site.call("POST", f"/{document['id']}/test")
    assert (test.status_code, test.json()["code"]) == (409, "sso_connection_incomplete")
    assert site.call("POST", "", saml("Other", enabled=True)).status_code == 422
    body = {"idp_metadata_xml": idp_metadata(), "enabled": True}
    assert site.call("PATCH", f"/{document['id']}", body).json()["enabled"] is True
    test = site.call("POST", f"/{document['id']}/test")
    assert test.json() == {"url": f"/sso/saml/{document['id']}/login?test=1"}


def test_metadata_from_a_url_and_its_refresh(
    server: Server, sites: tuple[Site, Site], docs: DocumentServer
) -> None:
    site, other = sites
    docs.documents["/a/idp.xml"] = idp_metadata().encode()
    document = created(site, saml(idp_metadata_url=docs.url("/a/idp.xml")))
    cid = document["id"]
    assert document["metadata_source"] == "url"
    assert document["idp_metadata_url"] == docs.url("/a/idp.xml")
    assert document["metadata_fetched_at"] is not None
    assert document["metadata_changed_at"] is None

    unchanged = site.call("POST", f"/{cid}/metadata/refresh")
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["config_version"] == 1

    rolled = (idp_key("idp-next").cert_pem, idp_key("idp").cert_pem)
    docs.documents["/a/idp.xml"] = idp_metadata(certs=rolled).encode()
    refreshed = site.call("POST", f"/{cid}/metadata/refresh").json()
    assert [c["pem"] for c in refreshed["idp"]["certs"]] == list(rolled)
    assert refreshed["config_version"] == 2
    assert refreshed["metadata_changed_at"] is not None
    assert any("metadata changed" in w for w in refreshed["warnings"])
    (change,) = [d for a, _, d in audit_rows(server.runtime, site.tenant)
                 if a == "sso.metadata_changed"]  # fmt: skip
    assert len(change["added"]) == 1 and change["removed"] == []

    del docs.documents["/a/idp.xml"]
    failed = site.call("POST", f"/{cid}/metadata/refresh")
    assert (failed.status_code, failed.json()["code"]) == (422, "fetch_bad_status")
    assert site.call("GET", f"/{cid}").json() == refreshed  # a failed refresh changes nothing

    pasted = created(site, saml("Pasted", idp_metadata_xml=idp_metadata()))
    answer = site.call("POST", f"/{pasted['id']}/metadata/refresh")
    assert (answer.status_code, answer.json()["code"]) == (409, "sso_no_metadata_url")
    # Pasting metadata drops the URL source.
    docs.documents["/a/idp.xml"] = idp_metadata().encode()
    switched = site.call("PATCH", f"/{cid}", {"idp_metadata_xml": idp_metadata()}).json()
    assert (switched["metadata_source"], switched["idp_metadata_url"]) == ("xml", None)
    untouched(server, other)


def test_certificate_expiry_is_warned(sites: tuple[Site, Site]) -> None:
    site, _ = sites
    soon = idp_key("idp-soon", days=10).cert_pem
    document = created(site, saml(idp_metadata_xml=idp_metadata(certs=(soon,))))
    (warning,) = document["warnings"]
    assert "expires on" in warning and "(in 9 days)" in warning


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<md:EntityDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata'>&lol2;"
    "</md:EntityDescriptor>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    + idp_metadata().split("?>", 1)[1].replace("<md:IDPSSODescriptor", "&x;<md:IDPSSODescriptor")
)
HOSTILE: list[tuple[dict[str, Any], int, str]] = [
    ({"idp_metadata_xml": XXE}, 422, "metadata_dtd_refused"),
    ({"idp_metadata_xml": BILLION_LAUGHS}, 422, "metadata_dtd_refused"),
    ({"idp_metadata_xml": "<not xml"}, 422, "metadata_invalid"),
    ({"idp_metadata_xml": "<a/>" + " " * (3 * 1024 * 1024)}, 422, "metadata_too_large"),
    ({"idp_metadata_xml": 5}, 422, "validation_failed"),
    ({"idp_metadata_xml": ""}, 422, "validation_failed"),
    ({"idp_metadata_url": "file:///etc/passwd"}, 422, "url_not_https"),
    ({"idp_metadata_url": "http://169.254.169.254/latest/meta-data/"}, 422, "url_host_refused"),
    ({"idp_metadata_url": "https://10.0.0.7/metadata"}, 422, "url_host_refused"),
    ({"idp_metadata_url": "http://192.168.1.1/metadata"}, 422, "url_host_refused"),
    ({"idp_metadata_url": "https://[fe80::1]/metadata"}, 422, "url_host_refused"),
    ({"idp_metadata_url": "https://u:p@idp.example.test/md"}, 422, "url_invalid"),
    ({"idp_metadata_url": 42}, 422, "validation_failed"),
    ({"idp_metadata_url": "https://idp.example.test/" + "a" * 2000}, 422, "validation_failed"),
    ({"idp_metadata_url": "https://x.test/", "idp_metadata_xml": "<a/>"}, 422, "validation_failed"),
    ({"client_id": "x"}, 422, "unknown_field"),
    ({"surprise": 1}, 422, "unknown_field"),
    ({"name": ""}, 422, "validation_failed"),
    ({"name": 5}, 422, "validation_failed"),
    ({"name": "a\x00b"}, 422, "validation_failed"),
    ({"enabled": "true"}, 422, "validation_failed"),
    ({"jit": 1}, 422, "validation_failed"),
    ({"email_domains": "uni.example"}, 422, "validation_failed"),
    ({"email_domains": ["not a domain"]}, 422, "validation_failed"),
    ({"email_domains": [7]}, 422, "validation_failed"),
    ({"email_domains": [f"d{i}.example" for i in range(51)]}, 422, "validation_failed"),
    ({"default_role": "owner"}, 422, "validation_failed"),
    ({"attribute_mapping": {"Bad Key": "x"}}, 422, "validation_failed"),
    ({"attribute_mapping": {"department": ""}}, 422, "validation_failed"),
    ({"attribute_mapping": ["x"]}, 422, "validation_failed"),
    ({"type": "ldap"}, 422, "validation_failed"),
    ({"name": None}, 422, "validation_failed"),
]


@pytest.mark.parametrize(("fields", "status", "code"), HOSTILE)
def test_bad_saml_input_is_refused_and_leaves_nothing(
    fields: dict[str, Any], status: int, code: str, server: Server, sites: tuple[Site, Site]
) -> None:
    site, other = sites
    answer = site.call("POST", "", {**saml(), **fields})
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    assert site.call("GET").json() == {"items": []}
    assert sp_keys(server.runtime, site.tenant) == []
    # The same input on an existing connection changes nothing either.
    if "type" not in fields and "name" not in fields:
        document = created(site, saml())
        refused = site.call("PATCH", f"/{document['id']}", fields)
        assert (refused.status_code, refused.json()["code"]) == (status, code)
        assert site.call("GET", f"/{document['id']}").json() == document
    untouched(server, other)


def test_oversized_documents_are_refused(sites: tuple[Site, Site], docs: DocumentServer) -> None:
    site, _ = sites
    docs.documents["/huge.xml"] = b"<a>" + b" " * (10 * 1024 * 1024) + b"</a>"
    answer = site.call("POST", "", saml(idp_metadata_url=docs.url("/huge.xml")))
    assert (answer.status_code, answer.json()["code"]) == (422, "fetch_too_large")
    body = json.dumps(saml(idp_metadata_xml="<a/>" + " " * (10 * 1024 * 1024)))
    headers = {**csrf_headers(site.admin), "content-type": "application/json"}
    answer = site.admin.post(API, content=body, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (413, "too_large")  # Litestar's limit
    not_object = site.call("POST", "", ["type", "saml"])
    assert not_object.status_code == 400
    assert site.call("GET").json() == {"items": []}


def test_an_email_domain_belongs_to_one_connection(
    sites: tuple[Site, Site],
) -> None:
    site, other = sites
    first = created(site, saml("One", email_domains=["uni.example", "cs.uni.example"]))
    taken = site.call("POST", "", saml("Two", email_domains=["UNI.example."]))
    assert (taken.status_code, taken.json()["code"]) == (409, "sso_domain_taken")
    assert taken.json()["detail"]["domains"] == ["uni.example"]
    second = created(site, saml("Two", email_domains=["other.example"]))
    moved = site.call("PATCH", f"/{second['id']}", {"email_domains": ["cs.uni.example"]})
    assert (moved.status_code, moved.json()["code"]) == (409, "sso_domain_taken")
    assert site.call("PATCH", f"/{first['id']}", {"email_domains": []}).status_code == 200
    assert site.call("PATCH", f"/{second['id']}", {"email_domains": ["uni.example"]}).is_success
    # Domains are per tenant: the other tenant may route the same domain to its own IdP.
    assert other.call("POST", "", saml(email_domains=["uni.example"])).status_code == 201


def test_sp_key_rollover_publishes_two_certificates_then_one(
    server: Server, sites: tuple[Site, Site]
) -> None:
    site, other = sites
    document = created(site, saml(idp_metadata_xml=idp_metadata()))
    cid = document["id"]
    (first,) = document["sp_certs"]
    started = site.call("POST", f"/{cid}/keys/rollover")
    assert started.status_code == 200, started.text
    assert [c["state"] for c in started.json()["sp_certs"]] == ["current", "next"]
    assert started.json()["sp_certs"][0] == first
    nxt = started.json()["sp_certs"][1]
    again = site.call("POST", f"/{cid}/keys/rollover")
    assert (again.status_code, again.json()["code"]) == (409, "sso_rollover_in_progress")
    finished = site.call("POST", f"/{cid}/keys/rollover/finish")
    assert finished.json()["sp_certs"] == [{**nxt, "state": "current"}]
    assert finished.json()["config_version"] == 3
    again = site.call("POST", f"/{cid}/keys/rollover/finish")
    assert (again.status_code, again.json()["code"]) == (409, "sso_no_rollover")
    assert [k.state for k in sp_keys(server.runtime, site.tenant)] == ["retired", "current"]
    actions = [a for a, _, _ in audit_rows(server.runtime, site.tenant)]
    assert actions[-2:] == ["sso.sp_key_rollover_started", "sso.sp_key_rollover_finished"]
    untouched(server, other)


def test_failures_are_listed_per_connection(server: Server, sites: tuple[Site, Site]) -> None:
    site, other = sites
    mine = created(site, saml(idp_metadata_xml=idp_metadata()))
    theirs = created(other, saml(idp_metadata_xml=idp_metadata()))

    async def scenario() -> None:
        db = Database(server.runtime.settings.sqlalchemy_url, pool_size=1)
        try:
            for tenant, cid, code in [(site.tenant, mine["id"], "saml_expired"),
                                      (site.tenant, mine["id"], "saml_unsigned"),
                                      (other.tenant, theirs["id"], "saml_replayed")]:  # fmt: skip
                async with db.tenant_session(tenant.context()) as session:
                    rejected = SsoRejected(code, f"Refused: {code}.", {"expected": "x"})
                    await record_failure(
                        session, connection_id=uuid.UUID(cid), rejected=rejected,
                        ip="203.0.113.5", test=code == "saml_unsigned",
                    )  # fmt: skip
                    await session.commit()
        finally:
            await db.dispose()

    asyncio.run(scenario())
    items = site.call("GET", f"/{mine['id']}/failures").json()["items"]
    assert [(i["code"], i["test"]) for i in items] == [("saml_unsigned", True),
                                                       ("saml_expired", False)]  # fmt: skip
    assert items[0]["message"] == "Refused: saml_unsigned."
    assert items[0]["detail"] == {"expected": "x"}
    assert set(items[0]) == {"at", "code", "message", "detail", "test"}
    assert [i["code"] for i in other.call("GET", f"/{theirs['id']}/failures").json()["items"]] == [
        "saml_replayed"
    ]


@pytest.fixture
def oidc_body(peer: OidcPeer) -> Callable[..., dict[str, Any]]:
    def make(**fields: Any) -> dict[str, Any]:
        body = {"type": "oidc", "name": "Staff", "issuer": peer.issuer, "client_id": "wl-client"}
        return {**body, "client_secret": SECRET, **fields}

    return make


def test_oidc_connection_lifecycle(
    server: Server, sites: tuple[Site, Site], peer: OidcPeer, oidc_body: Callable[..., Any]
) -> None:
    site, other = sites
    response = site.call("POST", "", oidc_body(email_domains=["staff.example"]))
    assert response.status_code == 201, response.text
    document = response.json()
    cid = document["id"]
    base = f"http://{site.tenant.primary_host}:{server.live.port}"
    assert document["redirect_uri"] == f"{base}/sso/oidc/{cid}/callback"
    assert (document["issuer"], document["client_id"]) == (peer.issuer, "wl-client")
    assert document["scopes"] == ["openid", "email", "profile"]
    assert (document["has_client_secret"], document["preset"]) == (True, None)
    row = connection_row(server.runtime, site.tenant, cid)
    where = secret_context(site.tenant.id, row.id, "client_secret")
    assert SecretBox(server.runtime.settings).open(row.client_secret, context=where) == SECRET
    assert SECRET not in row.client_secret

    answers = [response]
    answers.append(site.call("PATCH", f"/{cid}", {"client_secret": "another-" + SECRET}))
    assert answers[-1].json()["config_version"] == 2
    answers.append(site.call("PATCH", f"/{cid}", {"scopes": ["openid", "email", "groups"]}))
    assert answers[-1].json()["scopes"] == ["openid", "email", "groups"]
    answers.append(site.call("PATCH", f"/{cid}", {"client_secret": None}))
    assert answers[-1].json()["has_client_secret"] is False
    assert connection_row(server.runtime, site.tenant, cid).client_secret is None
    answers += [site.call("GET"), site.call("GET", f"/{cid}")]
    generic = oidc_body(preset="generic", preset_values={"issuer": peer.issuer})
    del generic["issuer"]
    answers.append(site.call("POST", "", {**generic, "name": "Generic"}))
    assert answers[-1].status_code == 201, answers[-1].text
    assert (answers[-1].json()["preset"], answers[-1].json()["issuer"]) == ("generic", peer.issuer)
    test = site.call("POST", f"/{cid}/test")
    assert test.json() == {"url": f"/sso/oidc/{cid}/login?test=1"}
    for answer in answers:
        assert SECRET not in answer.text
    audit = json.dumps(audit_rows(server.runtime, site.tenant))
    assert SECRET not in audit
    updated = [d["fields"] for a, _, d in audit_rows(server.runtime, site.tenant)
               if a == "sso.connection_updated"]  # fmt: skip
    assert updated == [["client_secret"], ["scopes"], ["client_secret"]]
    for path in ("/keys/rollover", "/keys/rollover/finish", "/metadata/refresh"):
        refused = site.call("POST", f"/{cid}{path}")
        assert (refused.status_code, refused.json()["code"]) == (409, "sso_saml_only")
    untouched(server, other)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"issuer": "{peer}/"}, "oidc_discovery_issuer_mismatch"),
        ({"issuer": "ftp://idp.example.test"}, "url_not_https"),
        ({"issuer": "http://169.254.169.254"}, "url_host_refused"),
        ({"issuer": "https://10.1.2.3"}, "url_host_refused"),
        ({"issuer": "{peer}/nothing-here"}, "fetch_bad_status"),
        ({"issuer": 7}, "validation_failed"),
        ({"allow_idp_initiated": True}, "validation_failed"),
        ({"client_id": ""}, "validation_failed"),
        ({"client_secret": 12345}, "validation_failed"),
        ({"client_secret": "line\nbreak"}, "validation_failed"),
        ({"scopes": ["email"]}, "validation_failed"),
        ({"scopes": ["open id"]}, "validation_failed"),
        ({"scopes": "openid"}, "validation_failed"),
        ({"preset": "facebook", "preset_values": {}}, "validation_failed"),
        ({"preset": "google"}, "validation_failed"),
        ({"preset_values": {"domain": "x.example"}}, "validation_failed"),
        ({"fetch_userinfo": "yes"}, "validation_failed"),
        ({"required_claims": {"hd": 5}}, "validation_failed"),
        ({"idp_metadata_xml": "<a/>"}, "unknown_field"),
    ],
)
def test_bad_oidc_input_is_refused(
    fields: dict[str, Any],
    code: str,
    server: Server,
    sites: tuple[Site, Site],
    peer: OidcPeer,
    oidc_body: Callable[..., Any],
) -> None:
    site, other = sites
    fields = {k: v.replace("{peer}", peer.issuer) if isinstance(v, str) else v
              for k, v in fields.items()}  # fmt: skip
    answer = site.call("POST", "", oidc_body(**fields))
    assert (answer.status_code, answer.json()["code"]) == (422, code), answer.text
    assert SECRET not in answer.text
    document = created(site, oidc_body())
    refused = site.call("PATCH", f"/{document['id']}", fields)
    assert (refused.status_code, refused.json()["code"]) == (422, code), refused.text
    assert site.call("GET", f"/{document['id']}").json() == document
    assert [d for a, _, d in audit_rows(server.runtime, site.tenant)
            if a == "sso.connection_updated"] == []  # fmt: skip
    untouched(server, other)


def test_the_api_exists_on_tenant_hosts_only(server: Server) -> None:
    with host_client(server.live.url, server.runtime.settings.platform_host) as console:
        answer = console.get(API)
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
        assert console.post(API, json=saml()).status_code == 404
