"""SSRF-safe outbound HTTP for URLs an administrator typed in (OIDC discovery, JWKS, SAML metadata).

An identity provider's URL comes from a tenant administrator, so it is hostile input: it may name
``169.254.169.254`` (cloud metadata), ``localhost``, a private network, or a DNS name that resolves
to one of those, first harmlessly and then, on a second lookup, not (DNS rebinding). So
:class:`VettedTransport` resolves each host once itself, refuses any non-public address, and
connects to the very address it vetted, keeping the name in the ``Host`` header and in TLS
(``sni_hostname``: certificates are still checked against the name). Every redirect goes through
the same transport, so each hop is vetted again. Plain ``http`` is only for loopback, and only
when the caller allows loopback (development and the test peers).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import anyio
import httpx

from sso.errors import SsoRejected

__all__ = [
    "MAX_REDIRECTS",
    "FetchedDocument",
    "VettedTransport",
    "address_refusal",
    "check_url",
    "fetch",
    "vetted_addresses",
]

MAX_REDIRECTS = 3
"""Redirects :func:`fetch` follows, each re-vetted; more is ``fetch_failed``."""

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
# Not covered by ``is_global``/``is_private`` on every Python version (RFC 6598 shared space).
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
# NAT64 well-known and local-use prefixes (RFC 6052, RFC 8215): on an IPv6-only network with DNS64
# every IPv4 server is reached this way, so the embedded IPv4 address is what gets vetted.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    """A document fetched by :func:`fetch`."""

    body: bytes
    url: str
    """The final URL, after any redirects."""
    content_type: str | None
    fetched_at: datetime
    """When the response was complete (UTC)."""


def address_refusal(ip: _IP, *, allow_loopback: bool) -> str | None:
    """Why ``ip`` may not be contacted (``"private"``, ``"link-local"``...), or None if it may.

    IPv4-mapped (``::ffff:a.b.c.d``), 6to4 and NAT64 addresses are judged by the IPv4 address
    they carry. Loopback is allowed only with ``allow_loopback``.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and any(ip in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(embedded, allow_loopback=allow_loopback)
        if ip.teredo is not None:
            return "teredo"
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "shared (CGNAT)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not global"),
    )
    return next((why for refused, why in checks if refused), None)


def _ip_literal(host: str) -> _IP | None:
    """``host`` as an IP address, also in legacy forms libc accepts (``0x7f.1``, ``2130706433``)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if all(_NUMERIC_LABEL.fullmatch(label) for label in host.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(url: str | httpx.URL, *, allow_loopback: bool) -> httpx.URL:
    """Parse ``url`` and refuse what is wrong before any network traffic.

    Raises:
        SsoRejected: ``url_invalid`` (unparsable, no host, user:password@, fragment),
            ``url_not_https`` (not https, and not http with loopback allowed).
    """
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise SsoRejected("url_invalid", "The URL is not a valid URL.") from exc
    if parsed.scheme not in ("https", "http"):
        raise SsoRejected("url_not_https", "The URL must start with https://.")
    if not parsed.host:
        raise SsoRejected("url_invalid", "The URL has no host name.")
    if parsed.scheme == "http" and not allow_loopback:
        raise SsoRejected("url_not_https", "The URL must start with https://, not http://.")
    if parsed.userinfo:
        raise SsoRejected("url_invalid", "The URL must not contain a user name or password.")
    if parsed.fragment:
        raise SsoRejected("url_invalid", "The URL must not contain a #fragment.")
    return parsed


async def _resolve(host: str, port: int) -> list[_IP]:
    """Every address ``host`` resolves to (one DNS lookup)."""
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise SsoRejected(
            "url_unresolvable", f"The host name {host!r} does not resolve.", {"host": host}
        ) from exc
    found: list[_IP] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    return found


async def vetted_addresses(url: httpx.URL, *, allow_loopback: bool) -> list[_IP]:
    """The addresses ``url`` may be fetched from, after one resolution.

    Raises:
        SsoRejected: as :func:`check_url`, plus ``url_unresolvable`` and ``url_host_refused``
            (any resolved address is non-public: a name pointing at both is refused as a whole).
    """
    url = check_url(url, allow_loopback=allow_loopback)
    host = url.raw_host.decode("ascii")
    literal = _ip_literal(host)
    addresses = [literal] if literal is not None else await _resolve(host, url.port or 0)
    if not addresses:
        raise SsoRejected("url_unresolvable", f"The host name {host!r} does not resolve.")
    for ip in addresses:
        why = address_refusal(ip, allow_loopback=allow_loopback)
        if why is not None:
            raise SsoRejected(
                "url_host_refused",
                f"The host {host!r} is at {ip}, a {why} address; only public hosts are allowed.",
                {"host": host, "address": str(ip), "reason": why},
            )
    if url.scheme == "http" and not all(ip.is_loopback for ip in addresses):
        raise SsoRejected("url_not_https", "The URL must start with https://, not http://.")
    return addresses


class _CappedStream(httpx.AsyncByteStream):
    """A response body that raises ``fetch_too_large`` once it passes ``limit`` bytes."""

    def __init__(self, inner: httpx.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise _too_large(self._limit)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def _too_large(limit: int) -> SsoRejected:
    return SsoRejected(
        "fetch_too_large", f"The response is larger than {limit} bytes.", {"limit": limit}
    )


class VettedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that only talks to vetted public addresses (see the module docstring).

    Use it for every request to an identity provider (``httpx.AsyncClient(transport=...)``,
    also under Authlib's client). Connections are pooled per host name, never per address,
    so a TLS connection verified for one name is never reused for another name on the same IP.

    Args:
        allow_loopback: Allow loopback addresses, and plain http to them (development, tests).
        max_response_bytes: Refuse a response body (as sent on the wire) past this size.
        ssl_context: Trust store for https; the system default (certifi) when None.
    """

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        max_response_bytes: int = 1_048_576,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._limit = max_response_bytes
        self._verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._pools: dict[tuple[str, str, int | None], httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Vet the request's host, then send it to the first vetted address that connects.

        Raises:
            SsoRejected: as :func:`vetted_addresses`; ``fetch_too_large`` while reading.
            httpx.HTTPError: the connection failed on every address.
        """
        url = request.url
        addresses = await vetted_addresses(url, allow_loopback=self._allow_loopback)
        host = url.raw_host.decode("ascii")
        key = (url.scheme, host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            # trust_env=False: a proxy from the environment would make the vetting meaningless.
            pool = httpx.AsyncHTTPTransport(verify=self._verify, trust_env=False)
            self._pools[key] = pool
        extensions = dict(request.extensions)
        if url.scheme == "https" and _ip_literal(host) is None:
            extensions["sni_hostname"] = host
        headers = request.headers.copy()
        # Bodies are capped as sent; ask for them uncompressed so the cap is the real size.
        headers["Accept-Encoding"] = "identity"
        for attempt, ip in enumerate(addresses, start=1):
            # The same headers (Host: the name), sent to the vetted address itself.
            direct = httpx.Request(
                request.method,
                url.copy_with(host=str(ip)),
                headers=headers,
                stream=request.stream,
                extensions=extensions,
            )
            try:
                response = await pool.handle_async_request(direct)
                break
            except httpx.ConnectError:
                if attempt == len(addresses):
                    raise
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self._limit:
            await response.aclose()
            raise _too_large(self._limit)
        stream = cast(httpx.AsyncByteStream, response.stream)  # what AsyncHTTPTransport returns
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_CappedStream(stream, self._limit),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()


async def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 (the whole fetch runs under anyio.fail_after(timeout))
    allow_loopback: bool = False,
    accept: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchedDocument:
    """GET ``url`` from a public host, with a total time and size limit.

    Up to :data:`MAX_REDIRECTS` redirects are followed, each vetted like the first URL.

    Args:
        url: An https URL (http only to loopback, with ``allow_loopback``).
        max_bytes: Largest body accepted (decoded); larger is refused while streaming.
        timeout: Seconds for everything: resolution, connection, redirects and body.
        allow_loopback: Allow loopback hosts (development and tests only).
        accept: The ``Accept`` header to send, if any.
        ssl_context: Trust store for https; the system default when None.

    Raises:
        SsoRejected: ``url_invalid``, ``url_not_https``, ``url_host_refused``,
            ``url_unresolvable``, ``fetch_timeout``, ``fetch_too_large``, ``fetch_bad_status``
            (anything but 200) or ``fetch_failed`` (connection, TLS, too many redirects).
    """
    target = check_url(url, allow_loopback=allow_loopback)
    transport = VettedTransport(
        allow_loopback=allow_loopback, max_response_bytes=max_bytes, ssl_context=ssl_context
    )
    headers = {"Accept": accept} if accept else {}
    client = httpx.AsyncClient(
        transport=transport,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=timeout,
        trust_env=False,
    )
    try:
        with anyio.fail_after(timeout):
            async with client, client.stream("GET", target, headers=headers) as response:
                if response.status_code != 200:
                    raise SsoRejected(
                        "fetch_bad_status",
                        f"The server answered HTTP {response.status_code} instead of 200.",
                        {"status": response.status_code, "url": str(response.url)},
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > max_bytes:
                        raise _too_large(max_bytes)
                return FetchedDocument(
                    body=bytes(body),
                    url=str(response.url),
                    content_type=response.headers.get("Content-Type"),
                    fetched_at=datetime.now(UTC),
                )
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise SsoRejected(
            "fetch_timeout", f"The server did not answer within {timeout:g} seconds."
        ) from exc
    except httpx.TooManyRedirects as exc:
        raise SsoRejected(
            "fetch_failed", f"The server redirected more than {MAX_REDIRECTS} times."
        ) from exc
    except httpx.HTTPError as exc:
        raise SsoRejected(
            "fetch_failed",
            f"The request failed ({type(exc).__name__}): {exc}",
            {"url": str(target)},
        ) from exc
