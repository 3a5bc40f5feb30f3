"""The emails of links: rendered from Jinja2 templates, queued in the mail outbox.

:func:`render_email` is the one place that turns a kind of email and its values into a subject,
a plain-text body and an HTML body; the theme engine (issue 4) can replace it without touching
the callers. Templates live in ``whitelabel/accounts/templates/email/`` as ``{kind}.txt`` and
``{kind}.html``; HTML is autoescaped, text is not (it is never interpreted as markup).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.context import TenantContext
from whitelabel.mail import enqueue

__all__ = ["SUBJECTS", "RenderedEmail", "render_email", "send_email"]

#: Subject lines by kind; ``{app}`` is the tenant's name.
SUBJECTS = {
    "password_reset": "Reset your {app} password",
    "email_verify": "Confirm your email address for {app}",
    "invitation": "You are invited to {app}",
}


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """One email ready for the outbox."""

    subject: str
    text: str
    html: str


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("whitelabel.accounts", "templates/email"),
        # HTML templates (and strings) escape every value; ``.txt`` bodies are plain text.
        autoescape=select_autoescape(("html",), default_for_string=True, default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _one_line(value: str) -> str:
    """``value`` without control characters (a subject is one header line)."""
    return "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in value)


def render_email(kind: str, *, tenant: TenantContext, **values: Any) -> RenderedEmail:
    """The subject, text and HTML of an email of ``kind`` for ``tenant``.

    Templates see ``app_name`` (the tenant's name) and ``values``.

    Raises:
        KeyError: ``kind`` has no subject; jinja2.TemplateNotFound: no template.
    """
    env = _environment()
    context = {"app_name": tenant.name, **values}
    return RenderedEmail(
        subject=_one_line(SUBJECTS[kind].format(app=tenant.name)),
        text=env.get_template(f"{kind}.txt").render(context),
        html=env.get_template(f"{kind}.html").render(context),
    )


async def send_email(
    db: AsyncSession, *, tenant: TenantContext, to: str, kind: str, **values: Any
) -> None:
    """Render an email of ``kind`` and queue it in the caller's transaction (sent on commit)."""
    email = render_email(kind, tenant=tenant, **values)
    await enqueue(
        db,
        tenant=tenant,
        to=to,
        subject=email.subject,
        text=email.text,
        html=email.html,
        kind=kind,
        from_name=_one_line(tenant.name),
    )
