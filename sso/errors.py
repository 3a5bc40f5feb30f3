"""The one error single sign-on raises when it refuses something (SAML and OpenID Connect alike).

A refusal is never a programming error: it is an identity provider, a metadata document or a
browser callback that did not pass a check. ``code`` is stable (callers and audit logs branch on
it), ``message`` is plain English an administrator can act on, and ``detail`` carries extra data
for logs. Neither may ever contain a secret, an authorization code, a token or a PKCE verifier.
"""

from __future__ import annotations

from typing import Any

from whitelabel.errors import WhitelabelError

__all__ = ["SsoRejected"]


class SsoRejected(WhitelabelError):
    """A sign-on step was refused: a bad response, an unsafe URL, a failed fetch.

    Attributes:
        code: Stable machine code, e.g. ``"oidc_nonce_mismatch"`` or ``"url_host_refused"``.
        message: What went wrong, in words an administrator can act on (no secrets, no tokens).
        detail: Extra non-secret data for logs (e.g. the host that was refused).
    """

    def __init__(self, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail: dict[str, Any] = dict(detail or {})
