"""A real OpenID Provider (npm ``oidc-provider``) on 127.0.0.1, and a scripted login.

:class:`OidcPeer` runs ``oidc_provider.mjs`` with Node from ``tests/peers`` (its
``node_modules``), one process per peer, with several clients (one per test tenant).
:meth:`OidcPeer.rotate` restarts it on the same issuer and port with another signing key: the
provider's key rotation as a relying party sees it. :func:`login` signs a user in through the
provider's development login and consent pages with a cookie-keeping HTTP client and returns
the callback's query parameters (``code``, ``state``, ``iss``), so no browser is needed.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests.conftest import REQUIRE_PEERS, require_program

__all__ = ["OidcPeer", "PeerClient", "login", "new_signing_key", "oidc_provider"]

PEERS = Path(__file__).resolve().parent.parent / "peers"
SCRIPT = Path(__file__).resolve().with_name("oidc_provider.mjs")


@dataclass(frozen=True, slots=True)
class PeerClient:
    """A client registered at the provider (one per test tenant)."""

    client_id: str
    client_secret: str
    redirect_uri: str


def new_signing_key(kid: str) -> RSAKey:
    """A fresh RS256 signing key named ``kid``."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def require_oidc_provider() -> str:
    """Node's path; skips (fails in CI) when Node or tests/peers/node_modules is missing."""
    node = require_program("node", "runs the OpenID Provider peer, npm oidc-provider")
    if not (PEERS / "node_modules" / "oidc-provider").is_dir():
        message = "npm oidc-provider is not installed (run npm ci in tests/peers); CI installs it"
        if REQUIRE_PEERS:
            pytest.fail(message)
        pytest.skip(message)
    return node


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OidcPeer:
    """One oidc-provider process; :attr:`issuer` stays the same across :meth:`rotate`."""

    def __init__(self, workdir: Path, clients: Sequence[PeerClient], key: RSAKey) -> None:
        self.node = require_oidc_provider()
        self.workdir = workdir
        self.clients = tuple(clients)
        self.key = key
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def kid(self) -> str:
        """The ``kid`` the provider signs with now."""
        return str(self.key.kid)

    def start(self) -> None:
        """Start the provider and wait until it serves its discovery document."""
        self._starts += 1
        config: dict[str, Any] = {
            "port": self.port,
            "issuer": self.issuer,
            "clients": [
                {
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                    "redirect_uris": [client.redirect_uri],
                }
                for client in self.clients
            ],
            "jwks": {"keys": [self.key.as_dict(private=True)]},
            "cookie_key": secrets.token_hex(16),
        }
        config_file = self.workdir / f"oidc-provider-{self._starts}.json"
        config_file.write_text(json.dumps(config))
        log_file = self.workdir / f"oidc-provider-{self._starts}.log"
        with log_file.open("wb") as log:
            self._process = subprocess.Popen(
                [self.node, str(SCRIPT), str(config_file)],
                cwd=PEERS,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        url = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {log_file.read_text()}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"oidc-provider did not start within 20 s: {log_file.read_text()}")

    def stop(self) -> None:
        """Stop the process by its PID (SIGTERM, then SIGKILL after 5 s)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def rotate(self, key: RSAKey) -> None:
        """Restart on the same issuer and port, publishing and signing with ``key`` only."""
        self.stop()
        self.key = key
        self.start()


@contextmanager
def oidc_provider(
    workdir: Path, clients: Sequence[PeerClient], *, key: RSAKey | None = None
) -> Iterator[OidcPeer]:
    """A running :class:`OidcPeer`, stopped on exit."""
    peer = OidcPeer(workdir, clients, key or new_signing_key("first-key"))
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


_PROMPT = re.compile(r'name="prompt" value="(\w+)"')


def login(authorization_url: str, username: str, *, redirect_uri: str) -> dict[str, str]:
    """Sign ``username`` in (any password) and consent; return the callback's query parameters.

    Follows the provider's redirects by hand until one leads to ``redirect_uri``, which is never
    requested: its query (``code``, ``state``, ``iss``, or ``error``) is returned instead.
    """
    url = authorization_url
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        for _ in range(12):
            response = browser.get(url)
            if response.status_code == 200 and (prompt := _PROMPT.search(response.text)):
                form = {"prompt": prompt.group(1)}
                if prompt.group(1) == "login":
                    form |= {"login": username, "password": "any password"}
                response = browser.post(url, data=form)
            if response.status_code not in (302, 303):
                raise AssertionError(f"unexpected HTTP {response.status_code} at {url}")
            url = urljoin(url, response.headers["Location"])
            if url.startswith(redirect_uri):
                return dict(parse_qsl(urlsplit(url).query))
    raise AssertionError("the login did not come back to the redirect URI")
