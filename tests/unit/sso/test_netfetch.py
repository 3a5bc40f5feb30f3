"""sso.netfetch against hostile URLs, and against real servers on 127.0.0.1 that misbehave."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import sso.netfetch
from sso.errors import SsoRejected
from sso.netfetch import FetchedDocument, address_refusal, fetch

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 running ``handler`` per connection; yields its port."""

    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up first: that is what several tests make it do
        finally:
            writer.close()

    server = await asyncio.start_server(closing, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> str:
    return (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")


def answer(status: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    """A handler answering every request with one fixed response."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        fields = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
        head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        writer.write(f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body)
        await writer.drain()
        writer.close()

    return handle


def fetch_local(url: str, handler: Handler, **kwargs: Any) -> FetchedDocument:
    """``fetch`` of ``url`` (with ``{port}``) against ``handler`` served on loopback."""

    async def scenario() -> FetchedDocument:
        async with serve(handler) as port:
            options: dict[str, Any] = {"max_bytes": 1000, "timeout": 2.0, "allow_loopback": True}
            return await fetch(url.format(port=port), **(options | kwargs))

    return asyncio.run(scenario())


def refusal(url: str, handler: Handler | None = None, **kwargs: Any) -> str:
    """The code ``fetch`` refuses ``url`` with."""
    options: dict[str, Any] = {"max_bytes": 1000, "timeout": 2.0}

    def attempt() -> object:
        if handler is None:
            return asyncio.run(fetch(url, **(options | kwargs)))
        return fetch_local(url, handler, **kwargs)

    with pytest.raises(SsoRejected) as caught:
        attempt()
    return caught.value.code


REFUSED_HOSTS = [
    "10.0.0.1",  # RFC 1918
    "172.16.5.4",
    "192.168.1.1",
    "127.0.0.1",  # loopback
    "127.9.9.9",
    "169.254.169.254",  # link-local: cloud metadata
    "100.64.0.1",  # CGNAT
    "0.0.0.0",
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "[::1]",
    "[::]",
    "[fd00::1]",  # ULA
    "[fc00::1]",
    "[fe80::1]",  # link-local
    "[ff02::1]",  # multicast
    "[::ffff:127.0.0.1]",  # IPv4-mapped forms
    "[::ffff:10.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[::ffff:7f00:1]",
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "[2002:a00:1::]",  # 6to4 of 10.0.0.1
    "[2001:db8::1]",  # documentation
    "2130706433",  # 127.0.0.1 as one decimal number
    "0x7f000001",
    "0x7f.1",
    "127.1",
    "017700000001",  # octal
    "0xa9.0xfe.0xa9.0xfe",  # 169.254.169.254 in hex
]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_non_public_addresses_are_refused_before_any_connection(host: str) -> None:
    assert refusal(f"https://{host}/.well-known/openid-configuration") == "url_host_refused"


@pytest.mark.parametrize(
    ("address", "loopback_allowed", "expected"),
    [
        ("8.8.8.8", False, None),
        ("2606:4700:4700::1111", False, None),
        ("::ffff:8.8.8.8", False, None),
        ("64:ff9b::808:808", False, None),  # NAT64 of a public address: DNS64 networks
        ("127.0.0.1", False, "loopback"),
        ("127.0.0.1", True, None),
        ("::1", True, None),
        ("::ffff:127.0.0.1", True, None),
        ("10.0.0.1", True, "private"),
        ("169.254.169.254", True, "link-local"),
        ("100.64.0.1", True, "shared (CGNAT)"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False, "teredo"),
    ],
)
def test_address_refusal(address: str, loopback_allowed: bool, expected: str | None) -> None:
    ip = ipaddress.ip_address(address)
    assert address_refusal(ip, allow_loopback=loopback_allowed) == expected


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://example.com/", "url_not_https"),
        ("http://127.0.0.1/", "url_not_https"),  # loopback over http only when allowed
        ("ftp://example.com/", "url_not_https"),
        ("file:///etc/passwd", "url_not_https"),
        ("https://user:password@example.com/", "url_invalid"),
        ("https://example.com@127.0.0.1/", "url_invalid"),
        ("https://example.com/#fragment", "url_invalid"),
        ("https:///no-host", "url_invalid"),
        ("https://0177.0.0.1/", "url_invalid"),  # octal with dots: httpx refuses to parse it
    ],
)
def test_urls_refused_without_network(url: str, code: str) -> None:
    assert refusal(url) == code


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://10.0.0.1/", "url_host_refused"),
        ("http://8.8.8.8/", "url_not_https"),  # public, but plain http
    ],
)
def test_loopback_allowance_opens_only_loopback(url: str, code: str) -> None:
    assert refusal(url, allow_loopback=True) == code


def test_a_document_is_fetched_with_the_name_in_host_and_accept_sent() -> None:
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        body = b'{"ok": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    # localhost resolves to ::1 and 127.0.0.1; the server listens on the latter only.
    document = fetch_local("http://localhost:{port}/doc", handle, accept="application/json")
    assert document.body == b'{"ok": true}'
    assert document.content_type == "application/json"
    assert document.url.endswith("/doc")
    assert document.fetched_at.tzinfo is datetime.UTC
    request = seen[0].lower()
    assert "\r\nhost: localhost:" in request
    assert "\r\naccept: application/json\r\n" in request
    assert "\r\naccept-encoding: identity\r\n" in request


def test_one_resolution_and_the_connection_goes_to_the_vetted_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: a second lookup would answer 10.0.0.1; there must be no second lookup."""
    answers = [["127.0.0.1"], ["10.0.0.1"]]
    lookups: list[str] = []

    async def rebinding_resolver(host: str, port: int) -> list[Any]:
        lookups.append(host)
        return [ipaddress.ip_address(a) for a in answers[min(len(lookups) - 1, 1)]]

    monkeypatch.setattr(sso.netfetch, "_resolve", rebinding_resolver)
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfine")
        await writer.drain()

    document = fetch_local("http://idp.rebind.test:{port}/", handle)
    assert document.body == b"fine"
    assert lookups == ["idp.rebind.test"]
    assert "\r\nHost: idp.rebind.test:" in seen[0]


def test_a_name_resolving_to_public_and_private_addresses_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def mixed(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.1.2.3")]

    monkeypatch.setattr(sso.netfetch, "_resolve", mixed)
    assert refusal("https://mixed.test/") == "url_host_refused"


def test_an_unresolvable_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup fails as getaddrinfo fails for a name that does not exist (no DNS query)."""

    async def no_such_name(host: str, port: int, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(anyio, "getaddrinfo", no_such_name)
    assert refusal("https://no-such-host.invalid/") == "url_unresolvable"


GZIP_BOMB = gzip.compress(b"x" * 50_000)  # small on the wire, 50 kB decoded


def redirect(location: str) -> Handler:
    return answer("302 Found", headers={"Location": location})


@pytest.mark.parametrize(
    ("handler", "code"),
    [
        (answer("404 Not Found", b"nope"), "fetch_bad_status"),
        (answer("500 Internal Server Error"), "fetch_bad_status"),
        (answer("200 OK", b"x" * 5000), "fetch_too_large"),  # refused on Content-Length
        (answer("200 OK", GZIP_BOMB, {"Content-Encoding": "gzip"}), "fetch_too_large"),
        (redirect("https://169.254.169.254/latest"), "url_host_refused"),
        (redirect("http://10.0.0.1/"), "url_host_refused"),
        (redirect("http://8.8.8.8/"), "url_not_https"),
        (redirect("/again"), "fetch_failed"),  # a loop
    ],
)
def test_bad_answers_are_refused(handler: Handler, code: str) -> None:
    assert refusal("http://127.0.0.1:{port}/", handler) == code


def test_an_oversized_body_without_length_is_cut_off_while_streaming() -> None:
    sent: list[int] = []

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        try:
            for _ in range(10_000):
                writer.write(b"y" * 1000)
                await writer.drain()
                sent.append(1000)
        except ConnectionError:
            pass
        writer.close()

    assert refusal("http://127.0.0.1:{port}/", endless, max_bytes=5000) == "fetch_too_large"
    assert sum(sent) < 10_000_000


def test_a_redirect_to_an_allowed_place_is_followed() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        reply = answer("200 OK", b"moved") if b"GET /new " in request else None
        if reply is None:
            writer.write(b"HTTP/1.1 301 Moved\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nmoved")
        await writer.drain()
        writer.close()

    document = fetch_local("http://127.0.0.1:{port}/old", handle)
    assert (document.body, document.url.endswith("/new")) == (b"moved", True)


def test_a_trickling_body_hits_the_total_time_limit() -> None:
    """Each byte comes quickly enough for a per-read timeout; the whole takes too long."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        try:
            for _ in range(100):
                writer.write(b"z")
                await writer.drain()
                await asyncio.sleep(0.1)
        except ConnectionError:
            pass
        writer.close()

    assert refusal("http://127.0.0.1:{port}/", trickle, timeout=0.8) == "fetch_timeout"


def test_a_silent_server_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    assert refusal("http://127.0.0.1:{port}/", silent, timeout=0.5) == "fetch_timeout"


def test_a_closed_port_fails() -> None:
    async def closed() -> str:
        async with serve(answer("200 OK")) as port:
            pass  # closed again: nothing listens on the port any more
        with pytest.raises(SsoRejected) as caught:
            await fetch(f"http://127.0.0.1:{port}/", max_bytes=10, timeout=2.0, allow_loopback=True)
        return caught.value.code

    assert asyncio.run(closed()) == "fetch_failed"


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _tls_fetch(tmp_path: Path, cert_name: str) -> tuple[FetchedDocument | str, list[str | None]]:
    """Fetch https://localhost from a TLS server whose certificate names ``cert_name``."""
    cert_file, key_file = _certificate(tmp_path, cert_name)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    sni: list[str | None] = []

    def record_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        sni.append(name)

    server_tls.sni_callback = record_sni
    client_tls = ssl.create_default_context(cafile=str(cert_file))

    async def scenario() -> FetchedDocument | str:
        async with serve(answer("200 OK", b"secret-free"), server_tls) as port:
            try:
                return await fetch(
                    f"https://localhost:{port}/",
                    max_bytes=100,
                    timeout=3.0,
                    allow_loopback=True,
                    ssl_context=client_tls,
                )
            except SsoRejected as exc:
                return exc.code

    return asyncio.run(scenario()), sni


def test_tls_is_verified_against_the_name_not_the_address(tmp_path: Path) -> None:
    document, sni = _tls_fetch(tmp_path, "localhost")
    assert isinstance(document, FetchedDocument)
    assert document.body == b"secret-free"
    assert sni == ["localhost"]


def test_a_certificate_for_another_name_fails(tmp_path: Path) -> None:
    outcome, sni = _tls_fetch(tmp_path, "other.test")
    assert outcome == "fetch_failed"
    assert sni == ["localhost"]
