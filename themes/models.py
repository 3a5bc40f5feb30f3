"""The tenant's theme data (tenant schema): brand versions and uploaded image assets.

``theme_versions`` holds at most one **draft** (``version`` NULL) and every **published**
version (``version`` 1, 2, ...), never rewritten: a restore publishes a copy as a new version.
The tenant's current version is ``platform.tenants.theme_version`` (in the routing table), so a
publish is one transaction over both schemas. ``theme_assets`` holds images by content hash:
an asset is never changed, so its URL can be cached forever.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from whitelabel.db.base import TenantBase, new_id, utcnow

__all__ = ["DRAFT", "PUBLISHED", "ThemeAsset", "ThemeVersion"]

DRAFT = "draft"
PUBLISHED = "published"


class ThemeVersion(TenantBase):
    """One brand version: the draft, or a published (immutable) version."""

    __tablename__ = "theme_versions"
    __table_args__ = (
        CheckConstraint("status::text IN ('draft', 'published')", name="status"),
        CheckConstraint(
            "status::text = 'draft' AND version IS NULL"
            " OR status::text = 'published' AND version IS NOT NULL AND version > 0"
            " AND css IS NOT NULL AND css_hash IS NOT NULL AND published_at IS NOT NULL",
            name="published_fields",
        ),
        Index("ix_theme_versions_version", "version", unique=True),
        # At most one draft per tenant.
        Index(
            "ix_theme_versions_one_draft",
            "status",
            unique=True,
            postgresql_where=text("status::text = 'draft'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    base: Mapped[str] = mapped_column(String(63))
    """The built-in base theme the brand applies to."""
    brand: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """The :class:`~themes.brand.Brand` as JSON (see ``themes.service``)."""
    icons: Mapped[dict[str, str]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    """Icon size (``"32"``, ``"180"``, ...) → asset sha256 of icons generated from the logo."""
    css: Mapped[str | None] = mapped_column(Text)
    css_hash: Mapped[str | None] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ThemeAsset(TenantBase):
    """An uploaded (and re-encoded or sanitised) image, addressed by its SHA-256."""

    __tablename__ = "theme_assets"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(100))
    ext: Mapped[str] = mapped_column(String(10))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
