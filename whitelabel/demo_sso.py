"""The demo's identity provider: SSO end to end on loopback, for the first demo tenant.

``whitelabel demo`` runs a real OpenID Provider (the npm ``oidc-provider`` package, the same peer
the SSO tests run: ``tests/sso_support/oidc_provider.mjs``) on ``127.0.0.1:<demo port + 1>`` and
gives the first demo tenant an enabled OIDC connection to it, with JIT on for the domain
``example.test``. Its sign-in page accepts any login and password: the login ``ada`` signs in as
``ada@example.test`` (a new member, created at the first sign-in).

The provider needs Node.js and the peers' npm packages (``python3 dev.py demo`` installs them
when npm is present). Without them the demo runs without SSO and says why. The provider's key,
client secret and cookie key are kept in ``<data dir>/demo-idp.json`` so that a second run keeps
the connection working.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import RSAKey
from sqlalchemy import select

from sso.models import SsoConnection
from sso.secrets import SecretBox
from sso.service import ConnectionContext, create_connection, update_connection
from whitelabel.accounts.models import User
from whitelabel.accounts.service import Client
from whitelabel.runtime import Runtime
from whitelabel.urls import tenant_base_url

__all__ = ["NAME", "DemoIdp", "start_demo_idp"]

_ROOT = Path(__file__).resolve().parents[1]
_PEERS = _ROOT / "tests" / "peers"
_SCRIPT = _ROOT / "tests" / "sso_support" / "oidc_provider.mjs"
CLIENT_ID = "whitelabel-demo"
DOMAIN = "example.test"
NAME = "Northfield Login (demo identity provider)"


@dataclass
class DemoIdp:
    """The running provider process and what the demo prints about it."""

    process: subprocess.Popen[bytes]
    issuer: str
    tenant_slug: str

    def stop(self) -> None:
        """Stop the provider by its PID."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _state(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "demo-idp.json"
    if path.exists():
        stored: dict[str, Any] = json.loads(path.read_text())
        return stored
    key = RSAKey.generate_key(2048, parameters={"kid": "demo", "use": "sig", "alg": "RS256"})
    state = {
        "client_secret": secrets.token_urlsafe(32),
        "cookie_key": secrets.token_hex(16),
        "jwk": key.as_dict(private=True),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))
    path.chmod(0o600)
    return state


def _start(node: str, data_dir: Path, port: int, state: dict[str, Any], redirect: str) -> Any:
    config = {
        "port": port,
        "issuer": f"http://127.0.0.1:{port}",
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": state["client_secret"],
                "redirect_uris": [redirect],
            }
        ],
        "jwks": {"keys": [state["jwk"]]},
        "cookie_key": state["cookie_key"],
    }
    config_file = data_dir / "demo-idp-config.json"
    config_file.write_text(json.dumps(config))
    config_file.chmod(0o600)
    with (data_dir / "demo-idp.log").open("wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(  # noqa: S603 - node from PATH, our own script and file
            [node, str(_SCRIPT), str(config_file)],
            cwd=_PEERS,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"{config['issuer']}/.well-known/openid-configuration"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    process.wait(timeout=5)
    raise RuntimeError(f"the demo identity provider did not start (see {data_dir}/demo-idp.log)")


async def _connection(runtime: Runtime, slug: str, issuer: str, secret: str) -> str:
    """The id of the tenant's demo connection, created (or repointed) to ``issuer``."""
    view = runtime.tenants.get(slug)
    tenant = view.context()
    body = {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": secret,
        "enabled": True,
        "jit": True,
        "email_domains": [DOMAIN],
        "default_role": "member",
    }
    try:
        async with runtime.db.tenant_session(tenant) as db:
            owner = await db.scalar(select(User.id).where(User.role == "owner").limit(1))
            context = ConnectionContext(
                tenant=tenant,
                base_url=tenant_base_url(runtime.settings, view),
                settings=runtime.settings,
                box=SecretBox(runtime.settings),
                actor=owner or uuid.UUID(int=0),
                client=Client(ip="127.0.0.1", user_agent="whitelabel demo"),
            )
            found = await db.scalar(select(SsoConnection).where(SsoConnection.name == NAME))
            if found is None:
                connection = await create_connection(
                    db, {"type": "oidc", "name": NAME, **body}, context
                )
            else:
                connection = await update_connection(db, str(found.id), body, context)
            await db.commit()
            return str(connection.id)
    finally:
        await runtime.db.async_engine.dispose()


def start_demo_idp(runtime: Runtime, slug: str, port: int) -> DemoIdp | str:
    """Start the provider and connect tenant ``slug`` to it; answers why not, when it cannot."""
    node = shutil.which("node")
    if node is None:
        return "Node.js is not installed"
    if not (_PEERS / "node_modules" / "oidc-provider").is_dir() or not _SCRIPT.exists():
        return "the peers' npm packages are missing (run: python3 dev.py demo, with npm installed)"
    data_dir = runtime.settings.data_dir.resolve()  # the provider runs in tests/peers
    state = _state(data_dir)
    issuer = f"http://127.0.0.1:{port}"
    base = tenant_base_url(runtime.settings, runtime.tenants.get(slug))
    # The client's redirect URI names the connection's id, and the connection is checked
    # against the running provider when it is saved: start, connect, then restart knowing it.
    process = _start(node, data_dir, port, state, f"{base}/sso/oidc/pending/callback")
    try:
        connection_id = asyncio.run(_connection(runtime, slug, issuer, state["client_secret"]))
    finally:
        process.terminate()
        process.wait(timeout=5)
    redirect = f"{base}/sso/oidc/{connection_id}/callback"
    return DemoIdp(_start(node, data_dir, port, state, redirect), issuer, slug)
