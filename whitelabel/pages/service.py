"""What the landing page shows, read from (and written to) the tenant's own schema."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, Text, cast, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.tenant_data import AuditEvent, TenantSetting

__all__ = ["LandingFacts", "landing_facts"]

VISITS_KEY = "landing.visits"


@dataclass(frozen=True, slots=True)
class LandingFacts:
    """Proof that the request ran in its tenant's schema."""

    schema: str
    visits: int
    audit_events: int


async def landing_facts(session: AsyncSession) -> LandingFacts:
    """Count this visit in the tenant's settings and report the schema the database used."""
    schema = await session.scalar(text("SELECT current_schema()"))
    upsert = insert(TenantSetting).values(key=VISITS_KEY, value=1)
    stmt = upsert.on_conflict_do_update(
        index_elements=[TenantSetting.key],
        set_={"value": func.to_jsonb(cast(cast(TenantSetting.value, Text), Integer) + 1)},
    ).returning(TenantSetting.value)
    visits = (await session.execute(stmt)).scalar_one()
    events = await session.scalar(select(func.count()).select_from(AuditEvent))
    return LandingFacts(schema=str(schema), visits=int(visits), audit_events=int(events or 0))
