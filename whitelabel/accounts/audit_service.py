"""Reading and exporting the tenant's audit log (``audit_log`` in the tenant schema).

The log is append-only in the database (a trigger refuses ``UPDATE``, ``DELETE`` and
``TRUNCATE``; only GDPR erasure may rewrite rows, see :mod:`whitelabel.accounts.gdpr`). Reading is
newest first, by keyset on ``(at, id)`` descending, so pages never shift when events are added.
An export reads every matching row in batches, each in a short transaction of its own, so it
holds neither the whole result in memory nor a connection for the length of the download.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.errors import ValidationFailed
from whitelabel.tenant_data import AuditEvent

__all__ = [
    "CHUNK_BYTES",
    "CSV_COLUMNS",
    "DEFAULT_LIMIT",
    "EXPORT_BATCH",
    "FORMATS",
    "MAX_LIMIT",
    "AuditFilter",
    "AuditPage",
    "csv_cell",
    "event_dict",
    "export_lines",
    "iter_events",
    "list_events",
    "parse_filter",
    "parse_limit",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
EXPORT_BATCH = 500
CHUNK_BYTES = 64 * 1024
FORMATS = ("json", "csv", "jsonl")
CSV_COLUMNS = ("at", "action", "actor", "target", "ip", "detail", "id")
_MAX_TEXT = 320  # the width of the actor and target columns
# Action names are dotted lower-case words (``user.login_failed``); a prefix may end in a dot.
_ACTION = re.compile(r"[a-z0-9_.-]{1,100}")
# Spreadsheets run a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events to read; every field is optional and they combine with AND.

    ``since`` is inclusive, ``until`` exclusive.
    """

    action: str | None = None
    action_prefix: str | None = None
    actor: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` with this filter's conditions added."""
        if self.action is not None:
            stmt = stmt.where(AuditEvent.action == self.action)
        if self.action_prefix is not None:
            stmt = stmt.where(AuditEvent.action.startswith(self.action_prefix, autoescape=True))
        if self.actor is not None:
            stmt = stmt.where(AuditEvent.actor == self.actor)
        if self.target is not None:
            stmt = stmt.where(AuditEvent.target == self.target)
        if self.since is not None:
            stmt = stmt.where(AuditEvent.at >= self.since)
        if self.until is not None:
            stmt = stmt.where(AuditEvent.at < self.until)
        return stmt

    def describe(self) -> dict[str, str]:
        """The filter as given, for the ``audit.exported`` record (times in ISO 8601)."""
        out: dict[str, str] = {}
        for name in ("action", "action_prefix", "actor", "target", "since", "until"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of events, newest first, and the cursor of the next page (``None`` on the last)."""

    items: list[AuditEvent]
    next: str | None


def _invalid(code: str, message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, detail={"field": field})


def _timestamp(raw: str | None, field: str) -> datetime | None:
    """An ISO 8601 date or date-time; without an offset it is taken as UTC."""
    if raw is None:
        return None
    bad = _invalid(
        "invalid_timestamp",
        f"The {field} is an ISO 8601 date or date-time, such as 2026-11-27T09:30:00Z.",
        field,
    )
    if not raw or len(raw) > 40 or not raw.isascii():
        raise bad
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise bad from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _text(raw: str | None, field: str) -> str | None:
    if raw is None:
        return None
    if not raw or len(raw) > _MAX_TEXT or not raw.isprintable():
        raise _invalid(
            f"invalid_{field}", f"The {field} is 1-{_MAX_TEXT} printable characters.", field
        )
    return raw


def _action(raw: str | None, field: str) -> str | None:
    if raw is None:
        return None
    if not _ACTION.fullmatch(raw):
        raise _invalid(
            "invalid_action",
            "An action is 1-100 characters: lower-case letters, digits, '.', '_' and '-'.",
            field,
        )
    return raw


def parse_filter(
    *,
    action: str | None = None,
    action_prefix: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> AuditFilter:
    """Validate the query parameters of ``/api/v1/admin/audit`` into a filter.

    Raises:
        ValidationFailed: ``invalid_action`` (``action``, ``action_prefix``), ``invalid_actor``,
            ``invalid_target``, ``invalid_timestamp`` (``since``, ``until``), ``invalid_range``
            (``since`` is not before ``until``).
    """
    start, end = _timestamp(since, "since"), _timestamp(until, "until")
    if start is not None and end is not None and start >= end:
        raise _invalid("invalid_range", "The since time is before the until time.", "since")
    return AuditFilter(
        action=_action(action, "action"),
        action_prefix=_action(action_prefix, "action_prefix"),
        actor=_text(actor, "actor"),
        target=_text(target, "target"),
        since=start,
        until=end,
    )


def parse_limit(raw: str | None) -> int:
    """The page size: 1-:data:`MAX_LIMIT`, default :data:`DEFAULT_LIMIT`.

    Raises:
        ValidationFailed: ``invalid_limit``.
    """
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4 or not 1 <= int(raw) <= MAX_LIMIT:
        raise _invalid("invalid_limit", f"The limit is 1-{MAX_LIMIT}.", "limit")
    return int(raw)


def _encode_cursor(event: AuditEvent) -> str:
    raw = json.dumps([event.at.isoformat(), str(event.id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    bad = _invalid("invalid_cursor", "The cursor is not valid.", "after")
    if len(cursor) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, event_id = json.loads(raw)
        if not isinstance(at, str) or not isinstance(event_id, str):
            raise bad
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise bad
        return when, uuid.UUID(event_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise bad from exc


def _page_query(flt: AuditFilter, after: tuple[datetime, uuid.UUID] | None) -> Select[Any]:
    stmt = flt.apply(select(AuditEvent))
    if after is not None:
        stmt = stmt.where(tuple_(AuditEvent.at, AuditEvent.id) < tuple_(*after))
    return stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


async def list_events(
    db: AsyncSession, flt: AuditFilter, *, after: str | None = None, limit: int = DEFAULT_LIMIT
) -> AuditPage:
    """A page of the tenant's audit events matching ``flt``, newest first, after the cursor.

    Raises:
        ValidationFailed: ``invalid_cursor``, ``invalid_limit``.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise _invalid("invalid_limit", f"The limit is 1-{MAX_LIMIT}.", "limit")
    position = _decode_cursor(after) if after else None
    rows = list(await db.scalars(_page_query(flt, position).limit(limit + 1)))
    items = rows[:limit]
    return AuditPage(items=items, next=_encode_cursor(items[-1]) if len(rows) > limit else None)


async def iter_events(
    open_session: Callable[[], AsyncSession], flt: AuditFilter, *, batch: int = EXPORT_BATCH
) -> AsyncIterator[AuditEvent]:
    """Every event matching ``flt``, newest first, read :data:`EXPORT_BATCH` at a time.

    Each batch is read in its own short session from ``open_session`` (a tenant-bound session
    factory such as ``lambda: runtime.db.tenant_session(tenant)``), so a slow reader holds no
    connection between batches. Events added while the export runs are newer than the keyset
    position and are not included.
    """
    position: tuple[datetime, uuid.UUID] | None = None
    while True:
        async with open_session() as session:
            rows = list(await session.scalars(_page_query(flt, position).limit(batch)))
        for event in rows:
            yield event
        if len(rows) < batch:
            return
        position = (rows[-1].at, rows[-1].id)


def event_dict(event: AuditEvent) -> dict[str, Any]:
    """The JSON form of one event (also each line of the JSON Lines export)."""
    return {
        "id": str(event.id),
        "at": event.at.isoformat(),
        "action": event.action,
        "actor": event.actor,
        "target": event.target,
        "ip": event.ip,
        "detail": event.detail,
    }


def csv_cell(value: str | None) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading ``= + - @``, tab or carriage return
    (a formula to Excel, LibreOffice and Google Sheets) gets a ``'`` in front."""
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


async def export_lines(events: AsyncIterator[AuditEvent], fmt: str) -> AsyncIterator[bytes]:
    """The export body (CSV with a header row, or JSON Lines), in chunks of about
    :data:`CHUNK_BYTES` so that a large export is not one ASGI message per event."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "csv":
        writer.writerow(CSV_COLUMNS)
    async for event in events:
        row = event_dict(event)
        if fmt == "csv":
            row["detail"] = json.dumps(event.detail, ensure_ascii=False, sort_keys=True)
            writer.writerow([csv_cell(row[column]) for column in CSV_COLUMNS])
        else:
            buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
