"""HTTP handlers of the notes module; they exist on tenant hosts only."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import JSONBody

from examples.notes_module import service
from examples.notes_module.schemas import Note, NoteIn, NotesPage
from whitelabel.deps import CurrentTenant, DbSession

__all__ = ["NotesController"]


class NotesController(Controller):
    """``/api/v1/notes``: read and add the request's tenant's notes."""

    path = "/api/v1/notes"

    @get("/")
    async def list_notes(self, tenant: CurrentTenant, db_session: DbSession) -> NotesPage:
        """The tenant's notes, oldest first."""
        notes = await service.list_notes(db_session)
        count = await service.count_notes(db_session)
        return NotesPage(tenant=tenant.slug, count=count, notes=notes)

    @post("/")
    async def add_note(self, data: JSONBody[NoteIn], db_session: DbSession) -> Note:
        """Add a note; committed (with its audit record) before the response is sent."""
        return await service.add_note(db_session, data.text, actor="anonymous")
