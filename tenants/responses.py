"""The answers given from the Host header alone, before any handler runs.

The unknown-host 404 is one constant per path kind (API or page) and never depends on why the host
is unknown (no such host, a deleted tenant, a tenant being provisioned, an IP literal): same status,
same bytes, same headers, reached through the same dict miss. The middleware sends these as raw
ASGI messages; the router's 404/405 handler (for paths no route matches) sends the same bytes as a
Litestar response, so a path cannot tell an unknown host apart either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape

from litestar import Response
from litestar.enums import ScopeType
from litestar.types import HTTPResponseStartEvent, Scope, Send

__all__ = ["Answer", "as_response", "invalid_host", "send_answer", "suspended", "unknown_host"]


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete, fixed HTTP answer."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


def wants_json(path: str) -> bool:
    """API paths get JSON errors; pages get HTML."""
    return path.startswith(("/api/", "/schema"))


def _answer(
    path: str, status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> Answer:
    if wants_json(path):
        body = json.dumps({"code": code, "message": message, "detail": None}).encode()
        return Answer(status, body, "application/json", headers)
    html = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{status}</title>"
        f"<h1>{escape(message)}</h1></html>"
    )
    return Answer(status, html.encode(), "text/html; charset=utf-8", headers)


_UNKNOWN_JSON = _answer("/api/", 404, "not_found", "There is nothing at this address.")
_UNKNOWN_HTML = _answer("/", 404, "not_found", "There is nothing at this address.")


def unknown_host(path: str) -> Answer:
    """The uniform 404 for any host that is not a routable tenant."""
    return _UNKNOWN_JSON if wants_json(path) else _UNKNOWN_HTML


def invalid_host(path: str, message: str) -> Answer:
    """400 for a missing, duplicated, malformed or oversized Host header."""
    return _answer(path, 400, "invalid_host", message)


def suspended(path: str, name: str, page: str | None = None) -> Answer:
    """503 for a suspended tenant; names the app so its users know it is theirs, and paused.

    ``page``: the tenant's branded 503 page (``themes.error_pages``), sent instead of the short
    page on page paths.
    """
    headers = (("retry-after", "3600"),)
    if page is not None and not wants_json(path):
        return Answer(503, page.encode(), "text/html; charset=utf-8", headers)
    return _answer(path, 503, "tenant_suspended", f"{name} is temporarily unavailable.", headers)


def _headers(answer: Answer) -> list[tuple[str, str]]:
    # One list, one order, for both ways of sending an answer: a difference (even in header
    # order) would tell an unknown host's routes apart from its unmatched paths.
    return [
        ("content-type", answer.content_type),
        ("content-length", str(len(answer.body))),
        ("cache-control", "no-store"),
        *answer.headers,
    ]


async def send_answer(scope: Scope, send: Send, answer: Answer) -> None:
    """Send ``answer`` as raw ASGI; a websocket handshake is refused instead (HTTP 403)."""
    if scope["type"] == ScopeType.WEBSOCKET:
        await send({"type": "websocket.close", "code": 1008, "reason": ""})
        return
    headers = [(k.encode(), v.encode()) for k, v in _headers(answer)]
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": answer.status,
        "headers": headers,
    }
    await send(start)
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})


def as_response(answer: Answer, request_id: str) -> Response[bytes]:
    """The same answer as a Litestar response (for exception handlers, where no middleware runs:
    ``request_id`` is the ``x-request-id`` the request middleware would have added last)."""
    return Response(
        content=answer.body,
        status_code=answer.status,
        media_type=answer.content_type.split(";")[0],
        headers=dict([*_headers(answer), ("x-request-id", request_id)]),
    )
