"""Every error response in one shape: ``{"code", "message", "detail"}`` or a short page.

API paths (``/api/...``, ``/schema``) get JSON; pages get a small HTML page, or on a tenant host,
for a browser (``Accept: text/html``), the error page in the tenant's theme
(``themes.error_pages``). Codes are stable and machine-readable; messages are for people.
"""

from __future__ import annotations

from html import escape
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from tenants.responses import wants_json
from themes.error_pages import render_error_page
from whitelabel.errors import ClientError, TenantNotBoundError
from whitelabel.logging import request_id_for

__all__ = [
    "client_error_response",
    "error_response",
    "http_exception_response",
    "internal_error_response",
]

log = structlog.get_logger("whitelabel.errors")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    message: str,
    detail: Any = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """The error response for ``request``: JSON on API paths, a short page elsewhere.

    Uses ``scope["path"]`` (not ``request.url``, which parses a possibly malformed Host header).
    Answers produced outside the middleware stack carry the request id like any other.
    """
    request_id = request_id_for(request.scope)
    headers = {"x-request-id": request_id, **(headers or {})}
    if wants_json(request.scope["path"]):
        body = {"code": code, "message": message, "detail": detail}
        return Response(body, status_code=status, headers=headers)
    branded = render_error_page(
        request.scope, status=status, code=code, message=message, request_id=request_id
    )
    if branded is not None:  # a browser on a tenant host: the page in the tenant's theme
        return Response(branded, status_code=status, media_type="text/html", headers=headers)
    page = f"<!doctype html><title>{status}</title><h1>{escape(message)}</h1>"
    return Response(page.encode(), status_code=status, media_type="text/html", headers=headers)


def client_error_response(request: Request[Any, Any, Any], exc: ClientError) -> Response[Any]:
    """A whitelabel client error with its own code (and the headers it asks for)."""
    return error_response(
        request, exc.status_code, exc.code, exc.message, exc.detail, exc.headers or None
    )


def http_exception_response(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """A Litestar HTTP exception (routing, validation, limits) in the whitelabel shape."""
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return error_response(
            request, 400, "validation_failed", "The request is not valid.", exc.extra
        )
    if status >= 500 and status != 503:
        return internal_error_response(request, exc)
    code = _CODES.get(status, "error")
    return error_response(request, status, code, exc.detail, None, exc.headers)


def internal_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """500: logged with its traceback; the client learns nothing but a request id to quote."""
    if isinstance(exc, TenantNotBoundError):
        log.error(
            "tenant data touched without a tenant", path=request.scope["path"], error=str(exc)
        )
    else:
        log.error("unhandled error", path=request.scope["path"], exc_info=exc)
    return error_response(request, 500, "internal_error", "Something went wrong on our side.")
