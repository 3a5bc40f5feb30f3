"""Page handlers on tenant hosts."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from whitelabel.deps import CurrentTenant, DbSession
from whitelabel.pages.service import landing_facts

__all__ = ["PagesController"]


class PagesController(Controller):
    """The tenant's landing page."""

    @get("/", include_in_schema=False)
    async def landing(self, tenant: CurrentTenant, db_session: DbSession) -> Template:
        """The branded landing page; shows which schema served it."""
        facts = await landing_facts(db_session)
        return Template("landing.html", context={"tenant": tenant, "facts": facts})
