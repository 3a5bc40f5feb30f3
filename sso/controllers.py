"""The tenant admin SSO API: ``/api/v1/admin/sso/connections`` (tenant hosts only).

Every route needs an ``admin`` or ``owner`` (``require_admin``: 401 ``not_authenticated``, 403
``forbidden``); another tenant's connection id is 404 ``sso_connection_not_found`` like an
unknown one. Every change goes through :mod:`sso.service` (or the protocol services), which
audits it. Refusals of the protocol layers (:class:`~sso.errors.SsoRejected`: metadata,
URLs, discovery) answer 422 with their own code (:func:`sso_rejected_response`).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from sso import service
from sso.errors import SsoRejected
from sso.flows import recent_failures
from sso.saml import service as saml_service
from sso.secrets import SecretBox
from whitelabel.accounts.deps import CurrentUser
from whitelabel.accounts.guards import ADMIN_ROLES, require_admin
from whitelabel.accounts.models import User
from whitelabel.accounts.service import Client
from whitelabel.deps import CurrentTenant, DbSession, RuntimeDep
from whitelabel.errors import Forbidden
from whitelabel.http_errors import error_response
from whitelabel.runtime import Runtime

__all__ = ["SsoConnectionsController", "sso_rejected_response"]

AnyRequest = Request[Any, Any, Any]
Document = dict[str, Any]


def sso_rejected_response(request: AnyRequest, exc: SsoRejected) -> Response[Any]:
    """422 ``{"code", "message", "detail"}`` with the refusal's own code (a page off the API)."""
    return error_response(request, 422, exc.code, exc.message, exc.detail or None)


def _context(
    request: AnyRequest, tenant: CurrentTenant, runtime: Runtime, user: User
) -> service.ConnectionContext:
    if user.role not in ADMIN_ROLES:  # the guard's check, again in this transaction
        raise Forbidden("This needs an admin of this tenant.")
    return service.ConnectionContext(
        tenant=tenant,
        base_url=f"{request.url.scheme}://{request.url.netloc}",
        settings=runtime.settings,
        box=SecretBox(runtime.settings),
        actor=user.id,
        client=Client.of(request),
    )


class SsoConnectionsController(Controller):
    """Create, read, change, delete and test the tenant's SSO connections."""

    path = "/api/v1/admin/sso/connections"
    guards = [require_admin]

    @get("/")
    async def list_connections(self, db_session: DbSession) -> Document:
        """``{"items": [connection, ...]}``, by name."""
        connections = await service.list_connections(db_session)
        return {"items": [await service.connection_document(db_session, c) for c in connections]}

    @post("/", status_code=201)
    async def create(
        self,
        request: AnyRequest,
        data: JSONBody[dict[str, Any]],
        tenant: CurrentTenant,
        runtime: RuntimeDep,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> Document:
        """Create a connection (201 with it): ``{"type": "saml" | "oidc", "name", ...}``."""
        context = _context(request, tenant, runtime, current_user)
        connection = await service.create_connection(db_session, data, context)
        return await service.connection_document(db_session, connection)

    @get("/{connection_id:str}")
    async def read(self, connection_id: FromPath[str], db_session: DbSession) -> Document:
        """One connection."""
        connection = await service.get_connection(db_session, connection_id)
        return await service.connection_document(db_session, connection)

    @patch("/{connection_id:str}")
    async def update(
        self,
        request: AnyRequest,
        connection_id: FromPath[str],
        data: JSONBody[dict[str, Any]],
        tenant: CurrentTenant,
        runtime: RuntimeDep,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> Document:
        """Change the fields given (the same fields as creation, except ``type``)."""
        context = _context(request, tenant, runtime, current_user)
        connection = await service.update_connection(db_session, connection_id, data, context)
        return await service.connection_document(db_session, connection)

    @delete("/{connection_id:str}", status_code=204)
    async def remove(
        self,
        request: AnyRequest,
        connection_id: FromPath[str],
        tenant: CurrentTenant,
        runtime: RuntimeDep,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> None:
        """Delete the connection, its keys, linked identities and logs (users stay)."""
        context = _context(request, tenant, runtime, current_user)
        await service.delete_connection(db_session, connection_id, context)

    @get("/{connection_id:str}/failures")
    async def failures(self, connection_id: FromPath[str], db_session: DbSession) -> Document:
        """The connection's last failed sign-ins, newest first: ``{"items": [{"at", "code",
        "message", "detail", "test"}]}``."""
        connection = await service.get_connection(db_session, connection_id)
        rows = await recent_failures(db_session, connection.id)
        return {
            "items": [
                {
                    "at": row.at.isoformat(),
                    "code": row.code,
                    "message": row.message,
                    "detail": row.detail,
                    "test": row.test,
                }
                for row in rows
            ]
        }

    @post("/{connection_id:str}/test", status_code=200)
    async def test(
        self,
        request: AnyRequest,
        connection_id: FromPath[str],
        tenant: CurrentTenant,
        runtime: RuntimeDep,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> Document:
        """``{"url": "/sso/<type>/<id>/login?test=1"}``: the sign-in to open in the admin's
        browser; it shows what the IdP sent and starts no session."""
        context = _context(request, tenant, runtime, current_user)
        return {"url": await service.sign_in_test_url(db_session, connection_id, context)}

    @post("/{connection_id:str}/metadata/refresh", status_code=200)
    async def refresh(
        self,
        request: AnyRequest,
        connection_id: FromPath[str],
        tenant: CurrentTenant,
        runtime: RuntimeDep,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> Document:
        """Fetch a SAML connection's metadata URL now (409 ``sso_no_metadata_url`` for pasted
        metadata; a failed fetch is 422 with its code and changes nothing)."""
        context = _context(request, tenant, runtime, current_user)
        connection = await service.get_connection(db_session, connection_id, lock=True)
        await saml_service.refresh_metadata(
            db_session, connection, settings=context.settings, actor=str(context.actor),
            ip=context.client.ip, keep_errors=False,
        )  # fmt: skip
        return await service.connection_document(db_session, connection)

    @post("/{connection_id:str}/keys/rollover", status_code=200)
    async def begin_rollover(
        self,
        request: AnyRequest,
        connection_id: FromPath[str],
        tenant: CurrentTenant,
        runtime: RuntimeDep,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> Document:
        """Add the next SP key; the SP metadata publishes both until the rollover finishes."""
        context = _context(request, tenant, runtime, current_user)
        connection = await service.get_connection(db_session, connection_id, lock=True)
        await saml_service.begin_rollover(db_session, connection, context)
        return await service.connection_document(db_session, connection)

    @post("/{connection_id:str}/keys/rollover/finish", status_code=200)
    async def finish_rollover(
        self,
        request: AnyRequest,
        connection_id: FromPath[str],
        tenant: CurrentTenant,
        runtime: RuntimeDep,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> Document:
        """Sign with the next SP key from now on; the old one is retired (unpublished)."""
        context = _context(request, tenant, runtime, current_user)
        connection = await service.get_connection(db_session, connection_id, lock=True)
        await saml_service.finish_rollover(db_session, connection, context)
        return await service.connection_document(db_session, connection)
