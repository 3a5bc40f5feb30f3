"""Notes stored as tenant settings; every function works on the session's tenant schema only.

The functions take a tenant-bound session (the handler's ``db_session``, or a session from
``Database.tenant_session``/``tenant_sync_session``) and never name a schema: the ORM statements
are translated to the tenant's schema by ``schema_translate_map``, and the one textual statement
runs after the ``SET LOCAL search_path`` that the engine issues for it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from examples.notes_module.schemas import Note
from whitelabel.db.base import utcnow
from whitelabel.errors import ValidationFailed
from whitelabel.tenant_data import TenantSetting, record_event, set_setting

__all__ = ["KEY_PREFIX", "MAX_TEXT", "add_note", "count_notes", "count_notes_sync", "list_notes"]

KEY_PREFIX = "notes."
MAX_TEXT = 500


async def add_note(session: AsyncSession, body: str, *, actor: str) -> Note:
    """Store a note and write ``note.added`` to the tenant's audit log (both on commit).

    Raises:
        ValidationFailed: the text is empty or longer than :data:`MAX_TEXT` characters.
    """
    body = body.strip()
    if not 1 <= len(body) <= MAX_TEXT:
        raise ValidationFailed(
            f"A note is 1-{MAX_TEXT} characters.", code="invalid_note", detail={"field": "text"}
        )
    note = Note(id=uuid.uuid4().hex, text=body, created_at=utcnow())
    value = {"text": note.text, "created_at": note.created_at.isoformat()}
    await set_setting(session, KEY_PREFIX + note.id, value)
    record_event(session, "note.added", actor=actor, target=note.id)
    return note


async def list_notes(session: AsyncSession) -> list[Note]:
    """The tenant's notes, oldest first (ORM: rendered for the tenant's schema)."""
    rows = await session.execute(
        select(TenantSetting.key, TenantSetting.value).where(
            TenantSetting.key.startswith(KEY_PREFIX, autoescape=True)
        )
    )
    notes = [
        Note(
            id=key.removeprefix(KEY_PREFIX),
            text=value["text"],
            created_at=datetime.fromisoformat(value["created_at"]),
        )
        for key, value in rows
    ]
    return sorted(notes, key=lambda note: (note.created_at, note.id))


async def count_notes(session: AsyncSession) -> int:
    """How many notes the tenant has (textual SQL: unqualified names, ``SET LOCAL search_path``)."""
    count = await session.scalar(
        text("SELECT count(*) FROM settings WHERE starts_with(key, :prefix)"),
        {"prefix": KEY_PREFIX},
    )
    return int(count or 0)


def count_notes_sync(session: Session) -> int:
    """:func:`count_notes` for sync sessions (commands, scripts, worker threads)."""
    count = session.scalar(
        select(func.count())
        .select_from(TenantSetting)
        .where(TenantSetting.key.startswith(KEY_PREFIX, autoescape=True))
    )
    return int(count or 0)
