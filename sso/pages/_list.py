"""``/admin/sso``: the tenant's SSO connections and the form that creates one (tenant admins).

Nobody signed in: 303 to ``/login?next=/admin/sso``. A member: the 403 page. Creating posts
``type`` and ``name`` to ``POST /admin/sso``; success goes to the new connection's page (303)
with a flash message, a refusal shows the list again with the message next to its field.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from sso import service
from sso.errors import SsoRejected
from sso.models import CONNECTION_TYPES
from sso.oidc.presets import PRESETS
from sso.pages._common import (
    LIST,
    FormErrors,
    change_context,
    connection_page,
    only_admins,
    render_page,
)
from sso.pages._form import FORM_LIMITS, creation_oidc_body, oidc_error_fields, preset_input
from sso.pages._view import preset_views
from whitelabel.accounts.models import User
from whitelabel.accounts.pages._common import (
    PAGE_HEADERS,
    AnyRequest,
    Flash,
    flash_cookie,
    forget_flash,
    read_flash,
    read_form,
)
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant, DbSession
from whitelabel.errors import ClientError

__all__ = ["TYPE_LABELS", "SsoListPageController"]

#: The protocols, as the pages name them.
TYPE_LABELS = {"saml": "SAML 2.0", "oidc": "OpenID Connect"}
_OIDC_INPUTS = (
    "preset",
    "client_id",
    "client_secret",
    *(preset_input(key, spec.name) for key, preset in PRESETS.items() for spec in preset.fields),
)
_CREATE_FIELDS = {"type": 20, **{name: FORM_LIMITS[name] for name in ("name", *_OIDC_INPUTS)}}
_BLANK = {"type": "saml", "name": "", "preset": "generic", "client_id": ""}


async def _rows(db: AsyncSession) -> list[dict[str, Any]]:
    rows = []
    for connection in await service.list_connections(db):
        document = await service.connection_document(db, connection)
        rows.append(
            {
                "id": str(connection.id),
                "name": connection.name,
                "type": TYPE_LABELS.get(connection.type, connection.type),
                "enabled": connection.enabled,
                "email_domains": list(connection.email_domains),
                "warnings": len(document.get("warnings") or ()),
            }
        )
    return rows


async def _list_page(
    request: AnyRequest,
    tenant: TenantContext,
    db: AsyncSession,
    viewer: User,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    flash: Flash | None = None,
) -> Response[Any]:
    response = render_page(
        request,
        "admin/sso/list.html",
        status=status,
        tenant=tenant,
        viewer=viewer,
        connections=await _rows(db),
        types=TYPE_LABELS,
        values={**_BLANK, **(values or {})},
        errors=errors or FormErrors(),
        presets=preset_views(),
        flash=flash,
        max_connections=service.MAX_CONNECTIONS,
    )
    if flash is not None:
        forget_flash(response)
    return response


class SsoListPageController(Controller):
    """The list of connections and the creation form."""

    path = LIST
    response_headers = PAGE_HEADERS
    include_in_schema = False

    @get("/")
    async def connections_page(
        self, request: AnyRequest, tenant: CurrentTenant, db_session: DbSession
    ) -> Response[Any]:
        """The connections, by name, with their state and warnings."""
        viewer = await only_admins(request, tenant, db_session)
        if isinstance(viewer, Response):
            return viewer
        flash = read_flash(request, tenant)
        return await _list_page(request, tenant, db_session, viewer, flash=flash)

    @post("/", status_code=303)
    async def create(
        self, request: AnyRequest, tenant: CurrentTenant, db_session: DbSession
    ) -> Response[Any]:
        """Create a connection (disabled) of the posted type and name; 303 to its page."""
        viewer = await only_admins(request, tenant, db_session, target=LIST)
        if isinstance(viewer, Response):
            return viewer
        values, form_errors = await read_form(request, _CREATE_FIELDS)
        errors = FormErrors()
        for name, message in form_errors.items():
            errors.add(name, message)
        if "type" not in errors.fields and values.get("type") not in CONNECTION_TYPES:
            errors.add("type", "Choose SAML 2.0 or OpenID Connect.")
        if "name" not in errors.fields and not values.get("name", "").strip():
            errors.add("name", "Enter a name: people see it on the sign-in button.")
        body: dict[str, Any] = {"type": values.get("type"), "name": values.get("name")}
        if values.get("type") == "oidc":
            body.update(creation_oidc_body(values, errors))
        if not errors:
            try:
                connection = await service.create_connection(
                    db_session, body, change_context(request, tenant, viewer)
                )
            except (ClientError, SsoRejected) as exc:
                fields, issuer_input = oidc_error_fields(values)
                fields.update(type="type", name="name")
                default = issuer_input if isinstance(exc, SsoRejected) else ""
                errors.refused(exc, fields, default)
                status = exc.status_code if isinstance(exc, ClientError) else 422
            else:
                flash = Flash("ok", f"Created {connection.name}. Give its values to your IdP.")
                return Redirect(
                    connection_page(connection.id),
                    status_code=303,
                    cookies=[flash_cookie(request, tenant, flash)],
                )
        else:
            status = 400
        await db_session.rollback()  # a refused creation keeps nothing
        await db_session.refresh(viewer)
        kept = {name: value for name, value in values.items() if name != "client_secret"}
        return await _list_page(
            request, tenant, db_session, viewer, status=status, values=kept, errors=errors
        )
