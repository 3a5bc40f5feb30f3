"""``/admin/sso/{id}``: one connection's page and its forms (tenant admins).

The page shows what to give the identity provider (read-only inputs to copy, the SP metadata to
download), the IdP's values, one configuration form (SAML metadata pasted, uploaded or fetched
from a URL, or the OIDC provider, client and scopes; the settings; the attribute mapping: saved
together, so that nothing typed in one part is lost by saving another), the test link, the SP
keys (SAML rollover) and the last failed sign-ins.

Every form posts to ``POST /admin/sso/{id}`` with its ``action`` (see :data:`ACTIONS`) and goes
through :mod:`sso.service` (or the SAML service for refresh and rollover), which checks and
audits. Success redirects back (post/redirect/get) with a flash message; a refusal stores
nothing and shows the page again with the form as typed and each error next to its field.
"Test connection" is a link to the connection's sign-in in test mode (``?test=1``), not a form:
the CSP's ``form-action 'self'`` also covers the redirects after a form post, and the test goes
on to the identity provider. Deleting has its own confirmation page, ``/admin/sso/{id}/delete``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from sso import service
from sso.errors import SsoRejected
from sso.flows import recent_failures
from sso.models import SsoConnection
from sso.pages._common import (
    LIST,
    FormErrors,
    change_context,
    connection_page,
    only_admins,
    render_page,
)
from sso.pages._form import FORM_LIMITS, connection_body, error_fields
from sso.pages._list import TYPE_LABELS
from sso.pages._view import PageState, connection_view
from sso.saml import service as saml_service
from sso.saml.metadata import MAX_METADATA_BYTES
from sso.service import ConnectionContext
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

__all__ = ["ACTIONS", "SsoConnectionPageController"]

#: A pasted document and an uploaded one at their limit, plus the rest of the form.
BODY_LIMIT = 3 * MAX_METADATA_BYTES + 1024 * 1024
_FILE = "idp_metadata_file"


@dataclass(frozen=True, slots=True)
class _Posted:
    """One form post: who, where, what."""

    request: AnyRequest
    db: AsyncSession
    context: ConnectionContext
    connection: SsoConnection
    values: Mapping[str, str]
    errors: FormErrors
    sent: dict[str, Any] = field(default_factory=dict)
    """The body sent to the service (where its refusals show depends on it)."""


async def _update(posted: _Posted, body: dict[str, Any], message: str) -> str:
    if posted.errors:
        return ""
    before = posted.connection.config_version
    connection = await service.update_connection(
        posted.db, str(posted.connection.id), body, posted.context
    )
    return message if connection.config_version != before else "Nothing changed."


async def _uploaded(request: AnyRequest, errors: FormErrors) -> str | None:
    """The text of the chosen metadata file (a file input left empty sends no file)."""
    form = await request.form()
    chosen: list[bytes] = []
    for item in form.getall(_FILE, []):
        if not isinstance(item, UploadFile):
            if item:
                errors.add(_FILE, "Choose a metadata file.")
            continue
        data = await item.read()
        if data or item.filename:
            chosen.append(data)
    if len(chosen) > 1:
        errors.add(_FILE, "Choose one metadata file.")
    if len(chosen) != 1 or _FILE in errors.fields:
        return None
    if len(chosen[0]) > MAX_METADATA_BYTES:
        errors.add(_FILE, f"The file is larger than {MAX_METADATA_BYTES // 1024 // 1024} MiB.")
        return None
    try:
        return chosen[0].decode("utf-8-sig")
    except UnicodeDecodeError:
        errors.add(_FILE, "The file is not UTF-8 text: open it and paste its text instead.")
        return None


async def _save(posted: _Posted) -> str:
    uploaded = None
    if posted.connection.type == "saml":
        uploaded = await _uploaded(posted.request, posted.errors)
    body = connection_body(
        posted.connection.type, posted.values, uploaded, posted.errors,
        config=posted.connection.config,
    )  # fmt: skip
    posted.sent.update(body)
    return await _update(posted, body, "Saved.")


async def _enable(posted: _Posted) -> str:
    name = posted.connection.name
    return await _update(posted, {"enabled": True}, f"{name} is enabled: people can use it.")


async def _disable(posted: _Posted) -> str:
    name = posted.connection.name
    return await _update(posted, {"enabled": False}, f"{name} is disabled.")


async def _refresh(posted: _Posted) -> str:
    connection = await service.get_connection(posted.db, posted.connection.id, lock=True)
    outcome = await saml_service.refresh_metadata(
        posted.db, connection, settings=posted.context.settings,
        actor=str(posted.context.actor), ip=posted.context.client.ip, keep_errors=False,
    )  # fmt: skip
    if outcome.status == "changed":
        return "Refreshed: the identity provider's metadata has changed."
    return "Refreshed: the identity provider's metadata is unchanged."


async def _rollover_begin(posted: _Posted) -> str:
    connection = await service.get_connection(posted.db, posted.connection.id, lock=True)
    await saml_service.begin_rollover(posted.db, connection, posted.context)
    return (
        "Key rollover started: the SP metadata now has a second certificate. Give your "
        "identity provider the new metadata, then finish the rollover."
    )


async def _rollover_finish(posted: _Posted) -> str:
    connection = await service.get_connection(posted.db, posted.connection.id, lock=True)
    await saml_service.finish_rollover(posted.db, connection, posted.context)
    return "Key rollover finished: requests are signed with the new key."


#: action -> (what it does, answering its flash message; the section its errors show in).
ACTIONS: dict[str, tuple[Callable[[_Posted], Awaitable[str]], str]] = {
    "save": (_save, "config"),
    "enable": (_enable, "top"),
    "disable": (_disable, "top"),
    "refresh": (_refresh, "refresh"),
    "rollover_begin": (_rollover_begin, "rollover"),
    "rollover_finish": (_rollover_finish, "rollover"),
}


async def _page(
    request: AnyRequest,
    tenant: TenantContext,
    db: AsyncSession,
    viewer: User,
    connection: SsoConnection,
    *,
    state: PageState | None = None,
    status: int = 200,
    flash: Flash | None = None,
) -> Response[Any]:
    doc = await service.connection_document(db, connection)
    failures = await recent_failures(db, connection.id)
    response = render_page(
        request,
        "admin/sso/connection.html",
        status=status,
        tenant=tenant,
        viewer=viewer,
        flash=flash,
        type_label=TYPE_LABELS.get(connection.type, connection.type),
        complete=service.protocol(connection.type).is_complete(connection),
        test_url=f"{service.login_path(connection)}?test=1",
        **connection_view(doc, failures, state or PageState()),
    )
    if flash is not None:
        forget_flash(response)
    return response


class SsoConnectionPageController(Controller):
    """One connection's page, its forms, and its deletion."""

    path = LIST
    response_headers = PAGE_HEADERS
    include_in_schema = False

    @get("/{connection_id:str}")
    async def connection(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        connection_id: FromPath[str],
    ) -> Response[Any]:
        """The connection's values, configuration, settings, test and failures."""
        viewer = await only_admins(request, tenant, db_session)
        if isinstance(viewer, Response):
            return viewer
        connection = await service.get_connection(db_session, connection_id)
        flash = read_flash(request, tenant)
        return await _page(request, tenant, db_session, viewer, connection, flash=flash)

    @post("/{connection_id:str}", status_code=303, request_max_body_size=BODY_LIMIT)
    async def change(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        connection_id: FromPath[str],
    ) -> Response[Any]:
        """Apply one form of the page (its ``action``); 303 back to the page."""
        page = connection_page(connection_id)
        viewer = await only_admins(request, tenant, db_session, target=page)
        if isinstance(viewer, Response):
            return viewer
        connection = await service.get_connection(db_session, connection_id)
        key = connection.id  # the row expires if a refusal rolls back
        values, form_errors = await read_form(request, FORM_LIMITS)
        errors = FormErrors()
        for name, message in form_errors.items():
            errors.add(name, message)
        action, section = values.get("action", ""), "top"
        status, done = 400, ""
        if action not in ACTIONS:
            errors.add(None, "Send this form from the connection's page.")
        elif not errors:
            apply, section = ACTIONS[action]
            context = change_context(request, tenant, viewer)
            posted = _Posted(request, db_session, context, connection, values, errors)
            try:
                done = await apply(posted)
            except (ClientError, SsoRejected) as exc:
                fields: dict[str, str] = {}
                default = ""
                if section == "config":
                    fields, default = error_fields(connection.type, values, posted.sent)
                errors.refused(exc, fields, default)
                status = exc.status_code if isinstance(exc, ClientError) else 422
        else:
            section = ACTIONS[action][1]
        if not errors:
            flash = Flash("ok", done)
            return Redirect(
                connection_page(key),
                status_code=303,
                cookies=[flash_cookie(request, tenant, flash)],
            )
        await db_session.rollback()  # a refused form changes and records nothing
        await db_session.refresh(viewer)
        connection = await service.get_connection(db_session, key)
        state = PageState(section=section, posted=values, errors=errors)
        return await _page(
            request, tenant, db_session, viewer, connection, state=state, status=status
        )

    @get("/{connection_id:str}/delete")
    async def delete_page(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        connection_id: FromPath[str],
    ) -> Response[Any]:
        """The confirmation step before deleting."""
        viewer = await only_admins(request, tenant, db_session)
        if isinstance(viewer, Response):
            return viewer
        connection = await service.get_connection(db_session, connection_id)
        return render_page(
            request,
            "admin/sso/delete.html",
            tenant=tenant,
            viewer=viewer,
            connection=connection,
            type_label=TYPE_LABELS.get(connection.type, connection.type),
        )

    @post("/{connection_id:str}/delete", status_code=303)
    async def delete(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        connection_id: FromPath[str],
    ) -> Response[Any]:
        """Delete the connection (its keys, identities, flows and failures; users stay)."""
        viewer = await only_admins(
            request, tenant, db_session, target=f"{connection_page(connection_id)}/delete"
        )
        if isinstance(viewer, Response):
            return viewer
        connection = await service.get_connection(db_session, connection_id)
        name = connection.name
        await service.delete_connection(
            db_session, str(connection.id), change_context(request, tenant, viewer)
        )
        flash = Flash("ok", f"Deleted {name}. Its people keep their accounts.")
        return Redirect(LIST, status_code=303, cookies=[flash_cookie(request, tenant, flash)])
