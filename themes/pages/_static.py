"""The editor's own script and stylesheet (``themes/static/editor/``), served from this host.

Only the files named in :data:`FILES` are served, and only to the tenant's admins, like every
route under ``/admin`` (anonymous visitors: 303 to sign-in; members: 403). The page links them
with their content hash in the query (``?v=``), so a changed file is a new URL and each response
may be kept for a year by the admin's browser (``private``: no shared cache keeps a response
that needed a session). A request without the current hash still gets the file, revalidated by
its ``ETag``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import FromPath, QueryParameter

from themes.css import content_hash
from themes.pages._common import admin_or_refusal
from whitelabel.accounts.models import User
from whitelabel.deps import CurrentTenant, DbSession
from whitelabel.errors import NotFound

__all__ = ["EDITOR_STATIC", "FILES", "StaticFile", "editor_static", "static_file", "static_url"]

EDITOR_STATIC = Path(__file__).resolve().parents[1] / "static" / "editor"
#: File name → media type: everything this route serves.
FILES = {"editor.js": "text/javascript; charset=utf-8", "editor.css": "text/css; charset=utf-8"}
_PREFIX = "/admin/branding/static/"
_IMMUTABLE = "private, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One of the editor's files, read once per process."""

    body: bytes
    media_type: str
    hash: str


@cache
def static_file(name: str) -> StaticFile:
    """The file ``name`` of :data:`FILES` (read on first use).

    Raises:
        KeyError: ``name`` is not one of the editor's files.
    """
    media_type = FILES[name]
    body = (EDITOR_STATIC / name).read_bytes()
    return StaticFile(body=body, media_type=media_type, hash=content_hash(body))


def static_url(name: str) -> str:
    """The versioned URL of the editor's file ``name``."""
    return f"{_PREFIX}{name}?v={static_file(name).hash}"


Version = Annotated[str | None, QueryParameter(name="v", required=False)]


@get(_PREFIX + "{name:str}", include_in_schema=False, cache_control=None)
async def editor_static(
    name: FromPath[str],
    request: Request[Any, Any, Any],
    tenant: CurrentTenant,
    db_session: DbSession,
    v: Version = None,
) -> Response[Any]:
    """The editor's script or stylesheet (admins); 304 when ``If-None-Match`` has its ETag."""
    viewer = await admin_or_refusal(request, tenant, db_session)
    if not isinstance(viewer, User):
        return viewer
    if name not in FILES:
        raise NotFound("There is nothing at this address.")
    found = static_file(name)
    etag = f'"{found.hash}"'
    headers = {
        "etag": etag,
        "cache-control": _IMMUTABLE if v == found.hash else "private, no-cache",
        "x-content-type-options": "nosniff",
    }
    sent = request.headers.get("if-none-match", "")
    tags = {tag.strip().removeprefix("W/") for tag in sent.split(",")}
    if etag in tags or "*" in tags:
        return Response(b"", status_code=304, headers=headers, media_type=found.media_type)
    return Response(found.body, headers=headers, media_type=found.media_type)
