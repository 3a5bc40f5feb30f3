"""The emails of links, rendered in the tenant's theme and queued in the mail outbox.

:func:`render_email` turns a kind of email and its values into a subject, a plain-text body and
an HTML body through the theme engine (:func:`themes.mail.render_email`): the templates are
``email/{kind}.subject.txt``, ``email/{kind}.txt`` and ``email/{kind}.html``, a theme's own
first, then the shared ones in ``whitelabel/pages/templates/email/``. The HTML part carries the
brand's logo (as an absolute URL on the link's host), colours inline and app name; the sender
name is the brand's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from themes.brand import ThemeSnapshot
from themes.engine import tenant_theme
from themes.mail import RenderedEmail, sender_name_of
from themes.mail import render_email as render_themed
from whitelabel.context import TenantContext
from whitelabel.mail import enqueue

__all__ = ["RenderedEmail", "render_email", "send_email"]


def _theme_of(tenant: TenantContext, theme: ThemeSnapshot | None) -> ThemeSnapshot:
    """``theme``, else the tenant's published snapshot as this process has it cached (always
    so inside the tenant's requests), else its base theme."""
    return theme if theme is not None else tenant_theme(tenant)


def render_email(
    kind: str, *, tenant: TenantContext, theme: ThemeSnapshot | None = None, **values: Any
) -> RenderedEmail:
    """The subject, text and HTML of an email of ``kind`` for ``tenant`` in its theme.

    Templates see ``app_name`` (the brand's, else the tenant's name), the theme and ``values``.

    Raises:
        litestar.exceptions.TemplateNotFoundException: no template for ``kind``.
    """
    return render_themed(_theme_of(tenant, theme), tenant, kind, values)


async def send_email(
    db: AsyncSession,
    *,
    tenant: TenantContext,
    to: str,
    kind: str,
    theme: ThemeSnapshot | None = None,
    **values: Any,
) -> None:
    """Render an email of ``kind`` and queue it in the caller's transaction (sent on commit),
    from the brand's sender name."""
    snapshot = _theme_of(tenant, theme)
    email = render_themed(snapshot, tenant, kind, values)
    await enqueue(
        db,
        tenant=tenant,
        to=to,
        subject=email.subject,
        text=email.text,
        html=email.html,
        kind=kind,
        from_name=sender_name_of(snapshot, tenant),
    )
