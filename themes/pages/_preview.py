"""``/admin/branding/preview/{page}``: a page rendered with the DRAFT brand, for admins only.

The editor frames these (``landing``, ``login``, ``signup``). The page is the real template,
rendered with :func:`themes.service.draft_snapshot` (``preview=True``: the layout shows a
preview banner, and the stylesheet is the draft's, from ``/api/v1/admin/theme/preview.css``)
instead of the published snapshot. Nothing is written (the landing page's visit counter is
read, not counted), nothing is cached (``no-store``), and only this host may frame the page
(``frame-ancestors 'self'``). Anonymous: 303 to sign-in; members: 403; then another page: 404.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.params import FromPath
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from themes import service
from themes.brand import ThemeSnapshot
from themes.pages._common import PREVIEW_HEADERS, admin_or_refusal, render_page
from whitelabel.accounts.models import User
from whitelabel.accounts.pages._common import AnyRequest
from whitelabel.accounts.settings_service import get_auth_settings
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant, DbSession
from whitelabel.errors import NotFound
from whitelabel.pages.service import VISITS_KEY, LandingFacts
from whitelabel.tenant_data import AuditEvent, TenantSetting

__all__ = ["PREVIEW_PAGES", "BrandingPreviewController"]

#: The pages an admin can preview.
PREVIEW_PAGES = ("landing", "login", "signup")


async def _facts(db: AsyncSession) -> LandingFacts:
    """The landing page's facts, read only (a preview is not a visit)."""
    schema = await db.scalar(text("SELECT current_schema()"))
    visits = await db.scalar(select(TenantSetting.value).where(TenantSetting.key == VISITS_KEY))
    events = await db.scalar(select(func.count()).select_from(AuditEvent))
    return LandingFacts(
        schema=str(schema),
        visits=int(visits) if isinstance(visits, int) else 0,
        audit_events=int(events or 0),
    )


async def _context(
    page: str, tenant: TenantContext, db: AsyncSession, viewer: User
) -> tuple[str, dict[str, Any]]:
    """The template of ``page`` and its context, as its own handler would give them to a
    visitor who is not signed in (the admin sees what everyone will see)."""
    if page == "landing":
        return "landing.html", {"facts": await _facts(db), "viewer": None}
    form = {"next": "/", "email": "", "errors": {}, "error": ""}
    if page == "login":
        options = await get_auth_settings(db)
        return "accounts/login.html", {**form, "options": options, "viewer": None}
    return "accounts/signup.html", {**form, "display_name": ""}


class BrandingPreviewController(Controller):
    """The draft previews the branding editor frames."""

    path = "/admin/branding/preview"
    response_headers = PREVIEW_HEADERS
    include_in_schema = False

    @get("/{page:str}")
    async def preview(
        self, page: FromPath[str], request: AnyRequest, tenant: CurrentTenant, db_session: DbSession
    ) -> Response[Any]:
        """``page`` (``landing``, ``login`` or ``signup``) with the draft brand."""
        viewer = await admin_or_refusal(request, tenant, db_session)
        if not isinstance(viewer, User):
            return viewer
        if page not in PREVIEW_PAGES:
            raise NotFound("There is nothing at this address.")
        snapshot: ThemeSnapshot = await service.draft_snapshot(db_session, tenant)
        template, context = await _context(page, tenant, db_session, viewer)
        return render_page(request, template, tenant=tenant, theme=snapshot, **context)
