"""What the notes API reads and returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Note", "NoteIn", "NotesPage"]


@dataclass(frozen=True, slots=True)
class NoteIn:
    """``POST /api/v1/notes`` body."""

    text: str


@dataclass(frozen=True, slots=True)
class Note:
    """One note of the request's tenant."""

    id: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NotesPage:
    """``GET /api/v1/notes``: the tenant's notes, oldest first, and their count."""

    tenant: str
    count: int
    notes: list[Note]
