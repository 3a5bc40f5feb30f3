"""Connection secrets encrypted at rest: OIDC client secrets, SAML SP private keys, PKCE verifiers.

AES-256-GCM with a key derived from ``WHITELABEL_SECRET_KEY`` for this one purpose
(``whitelabel.security.keys``). A sealed value reads ``wl1.<key id>.<nonce and ciphertext>``:

- the **key id** (8 hex digits of the key's own SHA-256) says which secret key sealed it, so a value
  sealed before a key rotation still opens with ``WHITELABEL_PREVIOUS_SECRET_KEYS``, and
  ``whitelabel sso rotate-secrets`` finds what to re-seal under the current key;
- the **context** (tenant, connection, field) is authenticated data: a value copied into another
  tenant's row, another connection or another field does not open.

A database dump alone therefore holds no usable secret.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from whitelabel.errors import SettingsError, WhitelabelError
from whitelabel.security.keys import derive_key_from
from whitelabel.settings import Settings

__all__ = ["SecretBox", "SecretUnreadable", "secret_context"]

_PURPOSE = "sso-secrets"
_PREFIX = "wl1"
_NONCE = 12


class SecretUnreadable(WhitelabelError):
    """A sealed secret does not open: tampered, moved to another row, or sealed under a key this
    process does not have (add it to ``WHITELABEL_PREVIOUS_SECRET_KEYS``)."""


def secret_context(tenant_id: uuid.UUID, connection_id: uuid.UUID, field: str) -> str:
    """The authenticated context of one secret field of one connection of one tenant."""
    return f"{tenant_id}\x1f{connection_id}\x1f{field}"


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class SecretBox:
    """Seals with the current secret key; opens with the current or any previous one."""

    def __init__(self, settings: Settings) -> None:
        if not settings.secret_key:
            raise SettingsError("WHITELABEL_SECRET_KEY", "set (it encrypts SSO secrets at rest)")
        keys = [derive_key_from(settings.secret_key, _PURPOSE)]
        keys += [derive_key_from(old, _PURPOSE) for old in settings.previous_secret_keys]
        self._current = _key_id(keys[0])
        self._keys = {_key_id(key): AESGCM(key) for key in reversed(keys)}

    @property
    def current_key_id(self) -> str:
        """The id of the key new values are sealed with."""
        return self._current

    def seal(self, plaintext: str, *, context: str) -> str:
        """``plaintext`` encrypted under the current key, bound to ``context``."""
        nonce = os.urandom(_NONCE)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_PREFIX}.{self._current}.{body}"

    def open(self, sealed: str, *, context: str) -> str:
        """The plaintext of a value :meth:`seal` made with the same ``context``.

        Raises:
            SecretUnreadable: malformed, tampered, another context, or an unknown key.
        """
        prefix, _, rest = sealed.partition(".")
        key_id, _, body = rest.partition(".")
        box = self._keys.get(key_id)
        if prefix != _PREFIX or box is None or not body:
            raise SecretUnreadable("a stored secret was sealed under a key this server lacks")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = box.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode())
        except (ValueError, InvalidTag) as exc:
            raise SecretUnreadable("a stored secret does not open (tampered or moved)") from exc
        return plain.decode()

    def is_current(self, sealed: str) -> bool:
        """Whether ``sealed`` was sealed under the current key (else it wants re-sealing)."""
        return sealed.startswith(f"{_PREFIX}.{self._current}.")
