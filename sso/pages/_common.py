"""What the SSO admin pages share: rendering, the admin check, the change context, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Response
from litestar.datastructures import Cookie
from litestar.response import Template

from sso.errors import SsoRejected
from sso.secrets import SecretBox
from sso.service import ConnectionContext
from whitelabel.accounts.models import User
from whitelabel.accounts.pages._common import AnyRequest, admin_or_refusal, client_of
from whitelabel.context import TenantContext
from whitelabel.errors import ClientError
from whitelabel.runtime import Runtime
from whitelabel.security.csrf import form_csrf_token

__all__ = [
    "DOING",
    "LIST",
    "FormErrors",
    "change_context",
    "connection_page",
    "only_admins",
    "render_page",
]

LIST = "/admin/sso"
DOING = "Setting up single sign-on"


def connection_page(connection_id: object) -> str:
    """The path of a connection's page."""
    return f"{LIST}/{connection_id}"


async def only_admins(
    request: AnyRequest, tenant: TenantContext, db: Any, *, target: str | None = None
) -> User | Response[Any]:
    """The signed-in admin or owner, else the sign-in redirect (back to ``target``, default
    this page) or the 403 page."""
    return await admin_or_refusal(request, tenant, db, doing=DOING, target=target)


def change_context(request: AnyRequest, tenant: TenantContext, viewer: User) -> ConnectionContext:
    """Who changes a connection, from which host (new connections' URLs are on this host)."""
    runtime: Runtime = request.app.state["runtime"]
    return ConnectionContext(
        tenant=tenant,
        base_url=f"{request.url.scheme}://{request.url.netloc}",
        settings=runtime.settings,
        box=SecretBox(runtime.settings),
        actor=viewer.id,
        client=client_of(request),
    )


def render_page(
    request: AnyRequest,
    template: str,
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Template:
    """Render ``template`` with a CSRF token for its forms and ``context``; sets the anonymous
    CSRF cookie when a new one was issued."""
    csrf, csrf_cookie = form_csrf_token(request)
    return Template(
        template,
        context={"csrf": csrf, **context},
        status_code=status,
        cookies=[*(cookies or []), *([csrf_cookie] if csrf_cookie else [])],
    )


@dataclass(slots=True)
class FormErrors:
    """The errors of a refused form: one message per field, and the others for the top."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def add(self, name: str | None, message: str) -> None:
        """Put ``message`` next to field ``name`` (the top of the form when ``None``); a
        field keeps its first message."""
        if name is None:
            self.general.append(message)
        else:
            self.fields.setdefault(name, message)

    def refused(self, exc: ClientError | SsoRejected, fields: dict[str, str], default: str) -> None:
        """Add a refusal of the service next to its field.

        ``fields`` maps the service's field names (``detail["field"]``) to the form's; a
        refusal naming no field of this form goes next to ``default`` (``""``: the top).
        An :class:`SsoRejected` (metadata, discovery) says its code too: it is what the
        troubleshooting table of the docs lists.
        """
        detail = exc.detail if isinstance(exc.detail, dict) else {}
        named = detail.get("field")
        target = fields.get(named, default) if isinstance(named, str) else default
        message = exc.message
        if isinstance(exc, SsoRejected):
            message = f"{exc.message} ({exc.code})"
        elif exc.code == "unknown_field" and isinstance(detail.get("fields"), list):
            message = f"{exc.message} ({', '.join(str(f) for f in detail['fields'])})"
        self.add(target or None, message)
