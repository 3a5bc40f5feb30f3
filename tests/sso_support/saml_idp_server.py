"""The npm ``saml-idp`` (a real, independent SAML IdP) on loopback, with a scripted login.

One process serves one SP (its ``--audience`` and ``--acsUrl``), so a test runs one per
connection. :func:`saml_idp_server` starts ``node node_modules/saml-idp/app.js`` from
``tests/peers`` on a free ``127.0.0.1`` port, waits for its metadata, and stops the process by its
PID on exit. Login is scripted as a browser would do it: GET the SSO redirect, submit the
returned form to ``/signin``, read ``SAMLResponse`` from the auto-post form.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from sso.saml import SigningKeyPair
from tests.conftest import REQUIRE_PEERS, require_program

__all__ = ["PEERS", "NpmSamlIdp", "require_saml_idp", "saml_idp_server"]

PEERS = Path(__file__).resolve().parents[1] / "peers"
_APP = Path("node_modules") / "saml-idp" / "app.js"
_START_TIMEOUT = 15.0


def require_saml_idp() -> str:
    """The ``node`` program, once the npm peer is known to be installed; skips (fails in CI)."""
    node = require_program("node", "the SAML integration tests run the npm saml-idp")
    if not (PEERS / _APP).is_file():
        message = f"tests/peers/{_APP} is missing (run npm ci in tests/peers); CI installs it"
        if REQUIRE_PEERS:
            pytest.fail(message)
        pytest.skip(message)
    return node


class _Forms(HTMLParser):
    """Every form of a page: its action and its named inputs/selects (first option)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._select: str | None = None
        self._pending_option = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), {}))
        elif self.forms and tag == "input" and values.get("name"):
            self.forms[-1][1][values["name"]] = values.get("value", "")
        elif self.forms and tag == "select" and values.get("name"):
            self._select = values["name"]
        elif tag == "option" and self._select is not None:
            self._pending_option = True

    def handle_data(self, data: str) -> None:
        if self._pending_option and self._select is not None:
            self.forms[-1][1].setdefault(self._select, data.strip())
            self._pending_option = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def _form(html: str, action: str) -> dict[str, str]:
    parser = _Forms()
    parser.feed(html)
    for form_action, fields in parser.forms:
        if form_action.endswith(action):
            return fields
    raise AssertionError(f"no form posting to {action} in the page")


@dataclass(frozen=True)
class NpmSamlIdp:
    """A running saml-idp."""

    base_url: str
    issuer: str
    pid: int

    @property
    def sso_url(self) -> str:
        return f"{self.base_url}/saml/sso"

    def metadata(self) -> bytes:
        """The IdP's own metadata document."""
        return httpx.get(f"{self.base_url}/metadata", timeout=5).content

    def login(self, redirect_url: str | None, *, user: dict[str, str] | None = None) -> str:
        """Sign in at the IdP and return the ``SAMLResponse`` it posts to the SP.

        Args:
            redirect_url: The SP's AuthnRequest redirect URL, or None for an IdP-initiated
                (unsolicited) sign-in.
            user: Profile fields to submit instead of the defaults (e.g. ``userName``).
        """
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            # Without an AuthnRequest the IdP's home page shows the same form, with no
            # hidden _authnRequest: its answer is then unsolicited.
            page = client.get(redirect_url or "/")
            page.raise_for_status()
            fields = _form(page.text, "/signin")
            fields.update(user or {})
            posted = client.post("/signin", data=fields)
            posted.raise_for_status()
            return _form(posted.text, "")["SAMLResponse"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def saml_idp_server(
    key: SigningKeyPair, *, issuer: str, acs_url: str, audience: str
) -> Iterator[NpmSamlIdp]:
    """Run saml-idp for one SP on loopback; stop it (by PID) on exit.

    Skips the test when node or the npm package is missing (fails when
    ``WHITELABEL_REQUIRE_PEERS=1``).
    """
    node = require_saml_idp()
    with tempfile.TemporaryDirectory(prefix="wl-saml-idp-") as folder:
        cert, private = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert.write_text(key.cert_pem)
        private.write_text(key.key_pem)
        port = _free_port()
        log = (Path(folder) / "idp.log").open("wb")
        # HOST and PORT in the environment would override the arguments (saml-idp app.js).
        env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}
        process = subprocess.Popen(
            [
                node, str(_APP), "--host", "127.0.0.1", "--port", str(port),
                "--issuer", issuer, "--acsUrl", acs_url, "--audience", audience,
                "--cert", str(cert), "--key", str(private),
            ],
            cwd=PEERS,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            server = NpmSamlIdp(f"http://127.0.0.1:{port}", issuer, process.pid)
            _wait_until_up(server, process, Path(folder) / "idp.log")
            yield server
        finally:
            _stop(process.pid, process)
            log.close()


def _wait_until_up(server: NpmSamlIdp, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"saml-idp exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{server.base_url}/metadata", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"saml-idp did not answer within {_START_TIMEOUT} s")


def _stop(pid: int, process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.kill(pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        process.wait(timeout=5)
