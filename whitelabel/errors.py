"""The one error hierarchy of whitelabel.

Client errors carry a stable machine-readable ``code`` (part of the public contract: clients branch
on it), a human ``message`` and optional ``detail`` data. Programming and configuration errors are
separate subclasses so that they are never shown to a client as if they were the client's fault.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClientError",
    "Conflict",
    "Forbidden",
    "NotFound",
    "SettingsError",
    "TenantNotBoundError",
    "ValidationFailed",
    "WhitelabelError",
]


class WhitelabelError(Exception):
    """Root of every error raised by whitelabel itself."""


class SettingsError(WhitelabelError):
    """A setting is missing or malformed; ``variable`` names the environment variable."""

    def __init__(self, variable: str, expected: str) -> None:
        self.variable = variable
        self.expected = expected
        super().__init__(f"{variable}: expected {expected}")


class TenantNotBoundError(WhitelabelError):
    """Tenant-owned data was touched with no tenant bound to the current context.

    This is the fail-closed guard: code outside a request must enter a tenant explicitly with
    :func:`whitelabel.context.tenant_scope`.
    """

    def __init__(self, what: str = "tenant data") -> None:
        super().__init__(
            f"{what} needs a tenant, and none is bound to this context; "
            "enter one with whitelabel.context.tenant_scope(tenant)"
        )


class ClientError(WhitelabelError):
    """An error the caller can fix: maps to a 4xx response with a stable code."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})
        """Response headers the error asks for, such as ``Retry-After`` of a rate limit."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the error response: ``{"code", "message", "detail"}``."""
        return {"code": self.code, "message": self.message, "detail": self.detail}


class ValidationFailed(ClientError):
    """Input failed validation; ``detail`` names the field(s)."""

    status_code = 422
    code = "validation_failed"


class Forbidden(ClientError):
    """The caller is signed in but may not do this (e.g. lacks the role)."""

    status_code = 403
    code = "forbidden"


class NotFound(ClientError):
    """The named thing does not exist (or is not visible to the caller)."""

    status_code = 404
    code = "not_found"


class Conflict(ClientError):
    """The request conflicts with the current state, e.g. a hostname already taken."""

    status_code = 409
    code = "conflict"
