"""Tenant lifecycle: create, suspend, resume, delete, purge, and their hosts.

Every operation is one transaction, so a crash at any point leaves either the old state or the new
one, never half of each, and every operation is idempotent: running it again after a crash (or
twice) finishes it or finds it already done. Each change that affects routing sends the routing
signal inside its transaction, and each is written to the tenant's own audit log.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from migrations import runner
from tenants import schema_manager
from tenants.blueprint import FORMAT_MARKER
from tenants.hosts import (
    InvalidHost,
    normalise_host,
    parse_hostname,
    validate_custom_hostname,
    validate_slug,
)
from tenants.models import Domain, DomainKind, SchemaState, SchemaStatus, Tenant
from tenants.resolver import notify_routing_change, publish_redis
from tenants.schemas import DomainView, TenantView
from themes.brand import DEFAULT_THEME
from themes.registry import resolve_theme_name
from whitelabel.context import SCHEMA_PREFIX, TenantStatus, schema_name_for
from whitelabel.db.base import utcnow
from whitelabel.db.engine import Database, WhitelabelSession
from whitelabel.db.switching import SCHEMA_INFO_KEY, translate_map
from whitelabel.errors import Conflict, NotFound, ValidationFailed
from whitelabel.settings import Settings
from whitelabel.tenant_data import record_event

__all__ = ["TenantService"]

log = logging.getLogger("whitelabel.tenants")

_NAME_MAX = 200


def _validate_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > _NAME_MAX or not name.isprintable():
        raise ValidationFailed(
            f"A tenant name is 1-{_NAME_MAX} printable characters.",
            code="invalid_name",
            detail={"field": "name"},
        )
    return name


class TenantService:
    """The one place that changes the tenant registry (platform staff, CLI, test kit)."""

    def __init__(
        self, db: Database, settings: Settings, *, script: ScriptDirectory | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.script = script  # tenant revisions other than the stream's own (benchmarks)
        self._refilling = threading.Lock()
        self._refill_thread: threading.Thread | None = None

    # -- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _locked(self, slug: str) -> Iterator[tuple[Connection, Session, Tenant]]:
        """One transaction holding the tenant's row lock; its session writes platform rows and,
        bound to the tenant's schema once the row is read, that tenant's rows (audit events).

        Raises:
            NotFound: no live tenant ``slug``.
        """
        with (
            self.db.sync_engine.begin() as conn,
            WhitelabelSession(bind=conn, expire_on_commit=False) as session,
        ):
            tenant = self._load(session, slug, lock=True)
            # Connection.execution_options changes this connection in place, for this
            # transaction's remaining statements only.
            conn.execution_options(schema_translate_map=translate_map(tenant.schema_name))
            session.info[SCHEMA_INFO_KEY] = tenant.schema_name
            yield conn, session, tenant
            session.flush()

    def _signal(self, tenant_id: uuid.UUID) -> None:
        if self.settings.redis_url:
            publish_redis(self.settings.redis_url, tenant_id)

    @staticmethod
    def _load(session: Session, slug: str, *, lock: bool = False) -> Tenant:
        stmt = (
            select(Tenant)
            .where(Tenant.slug == slug, Tenant.purged_at.is_(None))
            .options(selectinload(Tenant.domains), selectinload(Tenant.schema_state))
        )
        if lock:
            stmt = stmt.with_for_update(of=Tenant)
        tenant = session.scalars(stmt).first()
        if tenant is None:
            raise NotFound(f"There is no tenant {slug!r}.", code="tenant_not_found")
        return tenant

    def _refill_pool_soon(self) -> None:
        """Top the schema pool up in a background thread (one at a time per service)."""
        if self.settings.schema_pool <= 0 or not self._refilling.acquire(blocking=False):
            return

        def refill() -> None:
            try:
                schema_manager.fill_pool(
                    self.db.sync_engine, self.settings.schema_pool, self.script
                )
            except Exception:
                log.exception("refilling the tenant schema pool failed")
            finally:
                self._refilling.release()

        # Not a daemon: a command that created a tenant finishes the refill before it exits.
        self._refill_thread = threading.Thread(target=refill, name="schema-pool-refill")
        self._refill_thread.start()

    def wait_for_background_work(self, timeout: float | None = None) -> None:
        """Wait for a pool refill in progress (before disposing of the engine)."""
        thread = self._refill_thread
        if thread is not None:
            thread.join(timeout)

    def subdomain_host(self, slug: str) -> str:
        """The managed hostname of a slug: ``{slug}.{base domain}``."""
        return f"{slug}.{self.settings.base_domain}"

    # -- reads ---------------------------------------------------------------------------

    def get(self, slug: str) -> TenantView:
        """One tenant by slug (deleted but not purged ones too).

        Raises:
            NotFound: no such tenant.
        """
        with self.db.platform_sync_session() as session:
            return TenantView.of(self._load(session, slug))

    def list(self, *, include_deleted: bool = False) -> list[TenantView]:
        """All tenants not purged, by slug."""
        stmt = (
            select(Tenant)
            .where(Tenant.purged_at.is_(None))
            .options(selectinload(Tenant.domains), selectinload(Tenant.schema_state))
            .order_by(Tenant.slug)
        )
        if not include_deleted:
            stmt = stmt.where(Tenant.status != TenantStatus.DELETED.value)
        with self.db.platform_sync_session() as session:
            return [TenantView.of(t) for t in session.scalars(stmt)]

    # -- create --------------------------------------------------------------------------

    def create(
        self,
        slug: str,
        name: str,
        *,
        domains: Iterable[str] = (),
        theme: str = DEFAULT_THEME,
        actor: str = "platform",
    ) -> tuple[TenantView, bool]:
        """Create a tenant with its schema (cloned from the template) and hosts, in one transaction.

        Returns the tenant and whether it was created now (``False``: it already existed with the
        same name, so the call was a no-op).

        ``theme`` names a built-in base theme (an alias such as ``default`` is stored as the theme
        it stands for).

        Raises:
            ValidationFailed: bad slug, name or hostname; ``unknown_theme``.
            Conflict: the slug or a hostname belongs to another tenant.
        """
        validate_slug(slug)
        if self.subdomain_host(slug) == self.settings.platform_host:
            raise ValidationFailed(
                f"The slug {slug!r} would take the platform console's host.",
                code="invalid_slug",
                detail={"field": "slug", "reason": "reserved"},
            )
        name = _validate_name(name)
        theme = resolve_theme_name(theme)
        hosts = [
            validate_custom_hostname(
                h, base_domain=self.settings.base_domain, platform_host=self.settings.platform_host
            )
            for h in domains
        ]
        revision = runner.head("tenant", self.script)
        try:
            view = self._insert(slug, name, hosts, theme, actor, revision)
            if view is None:  # no stored blueprint for this head yet: make it, then again
                schema_manager.ensure_template(self.db.sync_engine, self.script)
                view = self._insert(slug, name, hosts, theme, actor, revision)
            if view is None:
                raise Conflict("The tenant template changed; try again.", code="template_changed")
        except IntegrityError as exc:
            # The slug or a host is taken: the same request again is a no-op (idempotent).
            with self.db.platform_sync_session() as session:
                existing = session.scalars(
                    select(Tenant).where(Tenant.slug == slug, Tenant.purged_at.is_(None))
                ).first()
                same = (
                    existing is not None
                    and existing.name == name
                    and existing.status != TenantStatus.DELETED.value
                )
            if same:
                for host in hosts:
                    self.add_domain(slug, host, actor=actor)
                return self.get(slug), False
            if existing is not None:
                raise Conflict(f"The slug {slug!r} is taken.", code="slug_taken") from exc
            raise Conflict(
                "One of the hostnames belongs to another tenant.", code="host_taken"
            ) from exc
        self._signal(view.id)
        self._refill_pool_soon()
        return view, True

    def _insert(
        self, slug: str, name: str, hosts: Sequence[str], theme: str, actor: str, revision: str
    ) -> TenantView | None:
        """One transaction: a pooled schema (or one built from the blueprint), the tenant's rows,
        its audit event and the routing signal. ``None`` (nothing done) when neither a pooled
        schema nor a current blueprint is there."""
        with self.db.sync_engine.begin() as conn:
            pooled = schema_manager.claim_pooled_schema(conn, revision)
            statements: Sequence[str] | None = None
            if pooled is None:
                statements = schema_manager.load_blueprint(conn, revision)
                if statements is None or statements[:1] != [FORMAT_MARKER]:
                    return None
            schema = pooled or schema_name_for(uuid.uuid4())
            tenant_id = uuid.UUID(hex=schema.removeprefix(SCHEMA_PREFIX))
            bind = conn.execution_options(schema_translate_map=translate_map(schema))
            with WhitelabelSession(
                bind=bind, info={SCHEMA_INFO_KEY: schema}, expire_on_commit=False
            ) as session:
                tenant = Tenant(
                    id=tenant_id,
                    slug=slug,
                    name=name,
                    status=TenantStatus.ACTIVE.value,
                    schema_name=schema,
                    theme=theme,
                )
                session.add(tenant)
                session.flush()  # the slug is checked before any DDL runs
                if statements is not None:
                    schema_manager.create_schema_from_blueprint(conn, schema, statements)
                domains = [
                    Domain(
                        tenant_id=tenant_id,
                        hostname=self.subdomain_host(slug),
                        kind=DomainKind.SUBDOMAIN.value,
                        is_primary=True,
                        verified=True,
                    ),
                    *(
                        Domain(
                            tenant_id=tenant_id,
                            hostname=host,
                            kind=DomainKind.CUSTOM.value,
                            is_primary=False,
                            verified=False,
                        )
                        for host in hosts
                    ),
                ]
                session.add_all(domains)
                session.add(
                    SchemaState(
                        tenant_id=tenant_id,
                        schema_name=schema,
                        revision=revision,
                        status=SchemaStatus.READY.value,
                        migrated_at=utcnow(),
                    )
                )
                record_event(
                    session,
                    "tenant.created",
                    actor=actor,
                    target=slug,
                    detail={"name": name, "hosts": [self.subdomain_host(slug), *hosts]},
                )
                session.flush()
                # The view from what was just written: no read-back queries.
                view = TenantView(
                    id=tenant_id,
                    slug=slug,
                    name=name,
                    status=tenant.status,
                    schema_name=schema,
                    theme=theme,
                    created_at=tenant.created_at,
                    deleted_at=None,
                    purged_at=None,
                    domains=tuple(
                        DomainView(d.hostname, d.kind, d.is_primary, d.verified)
                        for d in sorted(domains, key=lambda d: d.hostname)
                    ),
                    schema_revision=revision,
                    schema_status=SchemaStatus.READY.value,
                    schema_error=None,
                )
            notify_routing_change(conn, tenant_id)
        return view

    # -- status changes --------------------------------------------------------------------

    def _set_status(self, slug: str, status: TenantStatus, action: str, actor: str) -> TenantView:
        with self._locked(slug) as (conn, session, tenant):
            if tenant.status == status.value:
                return TenantView.of(tenant)
            if tenant.status == TenantStatus.DELETED.value:
                raise Conflict(f"The tenant {slug!r} is deleted.", code="tenant_deleted")
            tenant.status = status.value
            if status is TenantStatus.DELETED:
                tenant.deleted_at = utcnow()
            record_event(session, action, actor=actor, target=slug)
            session.flush()
            notify_routing_change(conn, tenant.id)
            view = TenantView.of(tenant)
        self._signal(view.id)
        return view

    def suspend(self, slug: str, *, actor: str = "platform") -> TenantView:
        """Stop serving a tenant: its hosts answer 503 until resumed. Idempotent."""
        return self._set_status(slug, TenantStatus.SUSPENDED, "tenant.suspended", actor)

    def resume(self, slug: str, *, actor: str = "platform") -> TenantView:
        """Serve a suspended tenant again. Idempotent."""
        return self._set_status(slug, TenantStatus.ACTIVE, "tenant.resumed", actor)

    def delete(self, slug: str, *, actor: str = "platform") -> TenantView:
        """Soft-delete: hosts answer the uniform 404 at once; data stays until purge. Idempotent."""
        return self._set_status(slug, TenantStatus.DELETED, "tenant.deleted", actor)

    def purge(self, slug: str, *, actor: str = "platform") -> TenantView:
        """Drop a deleted tenant's schema and free its slug and hosts, in one transaction.

        Idempotent: purging a tenant that is already purged returns it unchanged.

        Raises:
            NotFound: no tenant ever had that slug.
            Conflict: the tenant is not deleted yet.
        """
        with self.db.platform_sync_session() as probe:
            live = probe.scalars(
                select(Tenant.id).where(Tenant.slug == slug, Tenant.purged_at.is_(None))
            ).first()
            if live is None:
                purged = probe.scalars(
                    select(Tenant)
                    .where(Tenant.slug == slug)
                    .options(selectinload(Tenant.domains), selectinload(Tenant.schema_state))
                    .order_by(Tenant.purged_at.desc())
                ).first()
                if purged is not None:
                    return TenantView.of(purged)
        with self._locked(slug) as (conn, session, tenant):
            if tenant.status != TenantStatus.DELETED.value:
                raise Conflict(
                    f"Delete the tenant {slug!r} before purging it.", code="tenant_not_deleted"
                )
            schema_manager.drop_schema(conn, tenant.schema_name)
            tenant.domains.clear()  # delete-orphan: frees the hostnames
            if tenant.schema_state is not None:
                tenant.schema_state.status = SchemaStatus.DROPPED.value
                tenant.schema_state.updated_at = utcnow()
            tenant.purged_at = utcnow()
            session.flush()
            notify_routing_change(conn, tenant.id)
            view = TenantView.of(tenant)
        self._signal(view.id)
        return view

    # -- domains -----------------------------------------------------------------------------

    def add_domain(
        self, slug: str, hostname: str, *, primary: bool = False, actor: str = "platform"
    ) -> TenantView:
        """Route a custom hostname to a tenant. Idempotent for the same tenant.

        The tenant's own managed subdomain is accepted too, to make it primary again.

        Raises:
            ValidationFailed: not a valid custom hostname.
            Conflict: the hostname routes to another tenant.
        """
        managed = self.subdomain_host(slug)
        try:
            is_managed = normalise_host(hostname) == managed
        except InvalidHost:
            is_managed = False
        host = (
            managed
            if is_managed
            else validate_custom_hostname(
                hostname,
                base_domain=self.settings.base_domain,
                platform_host=self.settings.platform_host,
            )
        )
        try:
            with self._locked(slug) as (conn, session, tenant):
                owner = session.scalars(select(Domain).where(Domain.hostname == host)).first()
                if owner is not None and owner.tenant_id != tenant.id:
                    raise Conflict(
                        f"The host {host!r} belongs to another tenant.", code="host_taken"
                    )
                if owner is None:
                    owner = Domain(
                        tenant_id=tenant.id,
                        hostname=host,
                        kind=DomainKind.CUSTOM.value,
                        is_primary=False,
                        verified=False,
                    )
                    session.add(owner)
                    record_event(session, "domain.added", actor=actor, target=host)
                if primary and not owner.is_primary:
                    for domain in tenant.domains:
                        domain.is_primary = False
                    session.flush()
                    owner.is_primary = True
                    record_event(session, "domain.primary", actor=actor, target=host)
                session.flush()
                notify_routing_change(conn, tenant.id)
        except IntegrityError as exc:
            raise Conflict(f"The host {host!r} is taken.", code="host_taken") from exc
        self._signal(tenant.id)
        return self.get(slug)

    def remove_domain(self, slug: str, hostname: str, *, actor: str = "platform") -> TenantView:
        """Stop routing a custom hostname. Idempotent; the managed subdomain cannot be removed.

        Raises:
            Conflict: the hostname is the tenant's managed subdomain or its primary host.
        """
        host = parse_hostname(hostname)
        with self._locked(slug) as (conn, session, tenant):
            domain = next((d for d in tenant.domains if d.hostname == host), None)
            if domain is None:
                return TenantView.of(tenant)
            if domain.kind == DomainKind.SUBDOMAIN.value:
                raise Conflict("The managed subdomain cannot be removed.", code="managed_host")
            if domain.is_primary:
                raise Conflict(
                    "Make another host primary before removing this one.", code="primary_host"
                )
            tenant.domains.remove(domain)
            record_event(session, "domain.removed", actor=actor, target=host)
            session.flush()
            notify_routing_change(conn, tenant.id)
        self._signal(tenant.id)
        return self.get(slug)
