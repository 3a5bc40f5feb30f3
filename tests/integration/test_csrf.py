"""CSRF protection on a real server, on two tenants: session-bound and anonymous tokens, JSON
without cookies, Origin and Sec-Fetch-Site, forms whose body the handler still reads, the
route opt-out, the platform host, the token for forms, and hostile values.

The server is the ordinary application plus a few probe routes (``/api/v1/_echo`` answers the
body and form it read, ``/api/v1/_form_token`` the token of ``form_csrf_token``,
``/api/v1/_exempt`` opts out); the accounts routes are the real ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Request, Response, get, post
from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin
from sqlalchemy import select

from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, csrf_cookie, session_token
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.app import create_app
from whitelabel.runtime import Runtime
from whitelabel.security.csrf import form_csrf_token
from whitelabel.security.csrf_tokens import CSRF_COOKIE, anonymous_token, is_anonymous_token
from whitelabel.security.csrf_tokens import session_token as bound_token
from whitelabel.security.keys import derive_key
from whitelabel.tenant_data import AuditEvent
from whitelabel.testing.kit import LiveServer, TenantFactory, host_client, wait_for_route

AnyRequest = Request[Any, Any, Any]
FORM = "application/x-www-form-urlencoded"


@post("/api/v1/_echo", status_code=200)
async def echo(request: AnyRequest) -> dict[str, Any]:
    """What the handler can still read: the raw body, then the parsed form."""
    body = await request.body()
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return {"body": body.decode("latin-1"), "form": fields}


@get("/api/v1/_form_token")
async def form_token(request: AnyRequest) -> Response[dict[str, str]]:
    """The token a page would put in its forms, with the cookie it would set."""
    token, cookie = form_csrf_token(request)
    return Response({"token": token}, cookies=[cookie] if cookie else [])


@post("/api/v1/_exempt", status_code=200, opt={"csrf": False})
async def exempt() -> dict[str, bool]:
    """A route that opts out (as a SAML ACS will)."""
    return {"ok": True}


class CsrfProbePlugin(InitPlugin):
    """Adds the three probe routes."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([echo, form_token, exempt])
        return app_config


@pytest.fixture(scope="module")
def server(whitelabel_runtime: Runtime) -> Iterator[tuple[Runtime, LiveServer]]:
    """The application (its own runtime and routing table) plus the probe routes."""
    runtime = Runtime.start(whitelabel_runtime.settings)
    live = LiveServer(create_app(runtime=runtime, plugins=[CsrfProbePlugin()], access_log=False))
    live.start()
    yield runtime, live
    live.stop()
    runtime.db.sync_engine.dispose()


@pytest.fixture
def tenants(
    server: tuple[Runtime, LiveServer], make_tenant: TenantFactory
) -> tuple[TenantView, TenantView]:
    runtime, _ = server
    pair = make_tenant(), make_tenant()
    for tenant in pair:
        wait_for_route(runtime, tenant.primary_host or "")
    return pair


@pytest.fixture
def key(whitelabel_runtime: Runtime) -> bytes:
    return derive_key(whitelabel_runtime.settings, "csrf")


@pytest.fixture
def client_of(server: tuple[Runtime, LiveServer]) -> Iterator[Any]:
    """``client_of(tenant_or_host)``: a fresh client with an empty cookie jar."""
    _, live = server
    clients: list[httpx.Client] = []

    def make(target: TenantView | str) -> httpx.Client:
        host = target if isinstance(target, str) else target.primary_host or ""
        client = host_client(live.url, host)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _origin(client: httpx.Client) -> str:
    return f"http://{client.headers['host']}"


def _signup(client: httpx.Client, email: str) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "display_name": "Someone"}
    response = client.post("/api/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    client.cookies.clear()
    return response


def _refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == {"code": code, "message": response.json()["message"], "detail": None}
    assert response.headers["x-request-id"]


def _logouts(runtime: Runtime, tenant: TenantView) -> int:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.scalars(select(AuditEvent.id).where(AuditEvent.action == "user.logout"))
        return len(list(rows))


def test_a_session_cookie_needs_that_sessions_token(
    tenants: tuple[TenantView, TenantView],
    client_of: Any,
    key: bytes,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenants
    client = client_of(first)
    ada = _signup(client, "ada@example.org")
    bob = _signup(client, "bob@example.org")
    token = session_token(ada)
    assert csrf_cookie(ada) == bound_token(key, str(first.id), token)
    cookie = {"cookie": f"{SESSION_COOKIE}={token}"}
    anonymous = anonymous_token(key, str(first.id))
    refused = [
        ({}, "csrf_token_missing"),
        ({"x-csrf-token": ""}, "csrf_token_missing"),
        ({"x-csrf-token": "nope"}, "csrf_token_invalid"),
        ({"x-csrf-token": csrf_cookie(bob)}, "csrf_token_invalid"),  # another session's
        ({"x-csrf-token": bound_token(key, str(second.id), token)}, "csrf_token_invalid"),
        ({"x-csrf-token": csrf_cookie(ada) + "x"}, "csrf_token_invalid"),
        ({"x-csrf-token": csrf_cookie(ada)[:-1]}, "csrf_token_invalid"),
        # An anonymous token, even with its cookie, is no token for a session.
        (
            {"x-csrf-token": anonymous, "cookie": f"{cookie['cookie']}; {CSRF_COOKIE}={anonymous}"},
            "csrf_token_invalid",
        ),
    ]
    for headers, code in refused:
        _refused(client.post("/api/v1/auth/logout", headers={**cookie, **headers}), code)
    # Nothing happened: the session lives on and no sign-out was recorded.
    me = client.get("/api/v1/me", headers=cookie)
    assert me.status_code == 200
    assert _logouts(whitelabel_runtime, first) == 0

    # The session's own token, in a header or in a form field.
    form = client.post(
        "/api/v1/_echo",
        headers={**cookie, "content-type": FORM},
        content=f"csrf_token={csrf_cookie(ada)}&a=1",
    )
    assert form.status_code == 200, form.text
    assert form.json()["form"]["a"] == "1"
    done = client.post("/api/v1/auth/logout", headers={**cookie, "x-csrf-token": csrf_cookie(ada)})
    assert done.status_code == 204
    assert client.get("/api/v1/me", headers=cookie).status_code == 401
    assert _logouts(whitelabel_runtime, first) == 1
    assert _logouts(whitelabel_runtime, second) == 0


def test_a_cookie_and_token_copied_to_another_tenant_are_refused(
    tenants: tuple[TenantView, TenantView], client_of: Any
) -> None:
    first, second = tenants
    ada = _signup(client_of(first), "ada@example.org")
    headers = {
        "cookie": f"{SESSION_COOKIE}={session_token(ada)}",
        "x-csrf-token": csrf_cookie(ada),
    }
    _refused(client_of(second).post("/api/v1/auth/logout", headers=headers), "csrf_token_invalid")


def test_an_unknown_session_cookie_still_needs_its_token(
    tenants: tuple[TenantView, TenantView], client_of: Any, key: bytes
) -> None:
    first, _ = tenants
    client = client_of(first)
    stale = "x" * 5000  # the token check comes before any session lookup
    cookie = {"cookie": f"{SESSION_COOKIE}={stale}"}
    _refused(client.post("/api/v1/auth/logout", headers=cookie), "csrf_token_missing")
    token = bound_token(key, str(first.id), stale)
    ok = client.post("/api/v1/auth/logout", headers={**cookie, "x-csrf-token": token})
    assert ok.status_code == 204


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_without_cookies_needs_no_token(
    tenants: tuple[TenantView, TenantView], client_of: Any, content_type: str
) -> None:
    first, _ = tenants
    client = client_of(first)
    _signup(client, "ada@example.org")
    body = b'{"email": "ada@example.org", "password": "' + PASSWORD.encode() + b'"}'
    response = client.post(
        "/api/v1/auth/login", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text
    assert session_token(response)


def _anonymous(client: httpx.Client) -> str:
    """A valid anonymous token from the form-token route (its cookie stays in the jar)."""
    response = client.get("/api/v1/_form_token")
    assert response.status_code == 200
    token: str = response.json()["token"]
    assert client.cookies.get(CSRF_COOKIE) == token
    return token


LOGIN_JSON = b'{"email": "ada@example.org", "password": "' + PASSWORD.encode() + b'"}'


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (FORM, b"email=ada%40example.org&password=x"),
        ("text/plain", LOGIN_JSON),  # the classic cross-site "JSON" login
        ("text/plain; application/json", LOGIN_JSON),
        (
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--XyZ--\r\n',
        ),
        (None, b""),
        ("application/jsonx", LOGIN_JSON),
    ],
)
def test_anonymous_requests_other_than_json_need_a_token(
    tenants: tuple[TenantView, TenantView],
    client_of: Any,
    whitelabel_runtime: Runtime,
    content_type: str | None,
    body: bytes,
) -> None:
    first, _ = tenants
    _signup(client_of(first), "ada@example.org")
    headers = {"content-type": content_type} if content_type else {}
    response = client_of(first).post("/api/v1/auth/login", content=body, headers=headers)
    _refused(response, "csrf_token_missing")
    with whitelabel_runtime.db.tenant_sync_session(first.context()) as session:
        logins = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("user.login%"))
        )
        assert list(logins) == []  # the handler never ran


def test_two_content_type_headers_are_not_json(
    tenants: tuple[TenantView, TenantView], client_of: Any
) -> None:
    first, _ = tenants
    client = client_of(first)
    request = client.build_request("POST", "/api/v1/auth/login", content=LOGIN_JSON)
    raw = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-type"]
    extra = [(b"content-type", b"application/json"), (b"content-type", b"text/plain")]
    request.headers = httpx.Headers([*raw, *extra])
    _refused(client.send(request), "csrf_token_missing")


def test_anonymous_tokens_must_be_this_tenants_and_match_the_cookie(
    tenants: tuple[TenantView, TenantView], client_of: Any, key: bytes
) -> None:
    first, second = tenants
    client = client_of(first)
    mine = _anonymous(client)
    other_valid = anonymous_token(key, str(first.id))
    theirs = anonymous_token(key, str(second.id))
    nonce = mine.partition(".")[0]
    cases = [
        (None, "forged.token"),  # no cookie at all
        ("forged.token", "forged.token"),
        (f"{nonce}.AAAA", f"{nonce}.AAAA"),  # a real nonce, a bad signature
        (mine, other_valid),  # two valid tokens that differ
        (theirs, theirs),  # another tenant's valid token
        (mine, mine.upper()),
        ("x" * 300, "x" * 300),
    ]
    for cookie, sent in cases:
        headers = {"content-type": FORM}
        if cookie is not None:
            headers["cookie"] = f"{CSRF_COOKIE}={cookie}"
        client.cookies.clear()
        response = client.post("/api/v1/_echo", headers=headers, content=f"csrf_token={sent}")
        _refused(response, "csrf_token_invalid")


def test_a_valid_anonymous_token_passes_and_the_handler_reads_the_body(
    tenants: tuple[TenantView, TenantView], client_of: Any
) -> None:
    first, _ = tenants
    client = client_of(first)
    token = _anonymous(client)
    form = client.post(
        "/api/v1/_echo",
        content=f"name=Ada+L%C3%B6we&csrf_token={token}&n=2",
        headers={"content-type": FORM},
    )
    assert form.status_code == 200, form.text
    assert form.json() == {
        "body": f"name=Ada+L%C3%B6we&csrf_token={token}&n=2",
        "form": {"name": "Ada Löwe", "csrf_token": token, "n": "2"},
    }
    multipart = client.post(
        "/api/v1/_echo", data={"csrf_token": token, "note": "hello"}, files={"f": b"x"}
    )
    assert multipart.status_code == 200, multipart.text
    assert multipart.json()["form"] == {"csrf_token": token, "note": "hello"}
    assert "hello" in multipart.json()["body"]
    header = client.post(
        "/api/v1/_echo",
        content=b"just text",
        headers={"content-type": "text/plain", "x-csrf-token": token},
    )
    assert header.status_code == 200
    assert header.json() == {"body": "just text", "form": {}}
    empty = client.post("/api/v1/_echo", headers={"x-csrf-token": token})
    assert empty.status_code == 200


@pytest.mark.parametrize("site", ["cross-site", "same-site", "CROSS-SITE"])
def test_cross_site_and_same_site_requests_are_refused(
    tenants: tuple[TenantView, TenantView], client_of: Any, site: str
) -> None:
    first, _ = tenants
    client = client_of(first)
    ada = _signup(client, "ada@example.org")
    headers = {
        "cookie": f"{SESSION_COOKIE}={session_token(ada)}",
        "x-csrf-token": csrf_cookie(ada),
        "sec-fetch-site": site,
    }
    _refused(client.post("/api/v1/auth/logout", headers=headers), "csrf_origin_mismatch")
    # Without cookies too: a sibling tenant's page cannot sign someone in here.
    login = client.post(
        "/api/v1/auth/login",
        json={"email": "ada@example.org", "password": PASSWORD},
        headers={"sec-fetch-site": site},
    )
    _refused(login, "csrf_origin_mismatch")
    # Safe methods are not checked.
    me = client.get("/api/v1/me", headers={**headers})
    assert me.status_code == 200


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_same_origin_and_user_initiated_requests_pass(
    tenants: tuple[TenantView, TenantView], client_of: Any, site: str
) -> None:
    first, _ = tenants
    client = client_of(first)
    _signup(client, "ada@example.org")
    response = client.post(
        "/api/v1/auth/login",
        json={"email": "ada@example.org", "password": PASSWORD},
        headers={"sec-fetch-site": site, "origin": _origin(client)},
    )
    assert response.status_code == 200, response.text


def test_a_foreign_origin_is_refused(
    tenants: tuple[TenantView, TenantView], client_of: Any
) -> None:
    first, second = tenants
    client = client_of(first)
    token = _anonymous(client)
    port = client.headers["host"].rsplit(":", 1)[1]
    own = _origin(client)
    foreign = [
        "http://evil.example",
        _origin(client_of(second)),  # a sibling tenant
        own.replace("http://", "https://"),
        own.rsplit(":", 1)[0],  # no port
        f"{own}.evil.example",
        f"http://{first.primary_host}:{int(port) + 1}",
        own + "/",
        "http://évil.example",
        "",
    ]
    for origin in foreign:
        response = client.post(
            "/api/v1/_echo",
            headers={"origin": origin.encode(), "x-csrf-token": token},
        )
        _refused(response, "csrf_origin_mismatch")
    for origin in (own, own.upper(), "null"):
        response = client.post("/api/v1/_echo", headers={"origin": origin, "x-csrf-token": token})
        assert response.status_code == 200, (origin, response.text)
    # Two Origin headers: refused, whatever they say.
    request = client.build_request("POST", "/api/v1/_echo", headers={"x-csrf-token": token})
    request.headers = httpx.Headers(
        [*request.headers.raw, (b"origin", own.encode()), (b"origin", own.encode())]
    )
    _refused(client.send(request), "csrf_origin_mismatch")


def test_a_route_can_opt_out_and_the_platform_host_is_not_checked(
    tenants: tuple[TenantView, TenantView],
    client_of: Any,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenants
    hostile = {"content-type": FORM, "origin": "http://idp.example", "sec-fetch-site": "cross-site"}
    exempt = client_of(first).post("/api/v1/_exempt", headers=hostile, content=b"SAMLResponse=x")
    assert exempt.status_code == 200
    assert exempt.json() == {"ok": True}
    platform = client_of(whitelabel_runtime.settings.platform_host)
    assert platform.post(
        "/api/v1/_echo", content=b"a=1", headers={"content-type": FORM}
    ).json() == {
        "body": "a=1",
        "form": {"a": "1"},
    }


def test_the_form_token_helper(
    tenants: tuple[TenantView, TenantView], client_of: Any, key: bytes
) -> None:
    first, second = tenants
    client = client_of(first)
    fresh = client.get("/api/v1/_form_token")
    token = fresh.json()["token"]
    assert is_anonymous_token(key, str(first.id), token)
    assert not is_anonymous_token(key, str(second.id), token)
    (set_cookie,) = fresh.headers.get_list("set-cookie")
    attributes = [part.strip().lower() for part in set_cookie.split(";")]
    assert attributes[0] == f"{CSRF_COOKIE}={token}".lower()
    assert "path=/" in attributes
    assert "samesite=lax" in attributes
    assert not {"httponly", "secure"} & set(attributes)  # scripts read it; plain http here
    assert not [a for a in attributes if a.startswith(("domain", "max-age", "expires"))]

    again = client.get("/api/v1/_form_token")  # the cookie is in the jar: reused
    assert again.json()["token"] == token
    assert "set-cookie" not in again.headers

    for planted in ("forged.token", anonymous_token(key, str(second.id)), "x" * 1000):
        client.cookies.clear()
        response = client.get("/api/v1/_form_token", headers={"cookie": f"{CSRF_COOKIE}={planted}"})
        replaced = response.json()["token"]
        assert replaced != planted
        assert is_anonymous_token(key, str(first.id), replaced)
        assert csrf_cookie(response) == replaced

    ada = _signup(client, "ada@example.org")
    signed_in = client.get(
        "/api/v1/_form_token", headers={"cookie": f"{SESSION_COOKIE}={session_token(ada)}"}
    )
    assert signed_in.json()["token"] == csrf_cookie(ada)
    assert "set-cookie" not in signed_in.headers


def test_hostile_values(tenants: tuple[TenantView, TenantView], client_of: Any) -> None:
    first, _ = tenants
    client = client_of(first)
    ada = _signup(client, "ada@example.org")
    session = f"{SESSION_COOKIE}={session_token(ada)}"
    good = csrf_cookie(ada)
    junk = "; ".join(f"c{i}={uuid.uuid4().hex}" for i in range(300))
    cases: list[tuple[dict[str, Any], bytes, str]] = [
        ({"x-csrf-token": "A" * 8000}, b"", "csrf_token_invalid"),
        ({"x-csrf-token": b"\xff\xfetoken"}, b"", "csrf_token_invalid"),
        ({"x-csrf-token": good.encode() + b"\xe9"}, b"", "csrf_token_invalid"),
        ({"content-type": FORM}, "csrf_token=t\u00f6k\u00e9n".encode(), "csrf_token_invalid"),
        ({"content-type": FORM}, b"csrf_token=%FF%FE", "csrf_token_invalid"),
        ({"content-type": FORM}, b"csrf_token=" + b"A" * 100_000, "csrf_token_invalid"),
        ({"content-type": FORM}, b"csrf_token=", "csrf_token_missing"),
        ({"content-type": FORM}, b"&&&==&", "csrf_token_missing"),
        ({"cookie": f"{junk}; {session}"}, b"", "csrf_token_missing"),
    ]
    for headers, body, code in cases:
        merged = {"cookie": session, **headers}
        _refused(client.post("/api/v1/_echo", headers=merged, content=body), code)
    # A file named like the field is not a token.
    upload = client.post(
        "/api/v1/_echo", headers={"cookie": session}, files={"csrf_token": ("t.txt", good.encode())}
    )
    _refused(upload, "csrf_token_missing")
    # A multipart type without its boundary: a clean 400 from the form parser.
    broken = client.post(
        "/api/v1/_echo",
        headers={"cookie": session, "content-type": "multipart/form-data"},
        content=b"csrf_token=x",
    )
    assert broken.status_code == 400
    assert broken.json()["code"] == "validation_failed"
    # Many cookies and the right token: fine.
    many = client.post(
        "/api/v1/_echo", headers={"cookie": f"{junk}; {session}", "x-csrf-token": good}
    )
    assert many.status_code == 200
