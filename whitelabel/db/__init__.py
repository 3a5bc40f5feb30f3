"""Database access: declarative bases, engines, tenant-bound sessions and schema switching."""

from whitelabel.db.base import PLATFORM_SCHEMA, TENANT_SCHEMA, PlatformBase, TenantBase
from whitelabel.db.engine import Database, WhitelabelSession

__all__ = [
    "PLATFORM_SCHEMA",
    "TENANT_SCHEMA",
    "Database",
    "PlatformBase",
    "TenantBase",
    "WhitelabelSession",
]
