"""The full metadata of each schema kind, with every model module imported.

A shared module that adds tenant tables lists its models module in :data:`TENANT_MODEL_MODULES`;
migrations and the template catalog check then see its tables.
"""

from __future__ import annotations

import importlib
from functools import cache

from sqlalchemy import MetaData

from whitelabel.db.base import PlatformBase, TenantBase

__all__ = ["TENANT_MODEL_MODULES", "platform_metadata", "tenant_metadata_unqualified"]

PLATFORM_MODEL_MODULES = ("tenants.models", "whitelabel.mail.models")
TENANT_MODEL_MODULES = (
    "whitelabel.tenant_data",
    "whitelabel.accounts.models",
    "themes.models",
    "sso.models",
)


def platform_metadata() -> MetaData:
    """The platform schema's metadata with every platform model registered."""
    for name in PLATFORM_MODEL_MODULES:
        importlib.import_module(name)
    return PlatformBase.metadata


@cache
def tenant_metadata_unqualified() -> MetaData:
    """A copy of the tenant metadata with no schema, as tenant migrations see their tables."""
    for name in TENANT_MODEL_MODULES:
        importlib.import_module(name)
    copy = MetaData(naming_convention=TenantBase.metadata.naming_convention)
    for table in TenantBase.metadata.sorted_tables:
        # None drops the schema (typed as str in SQLAlchemy's stubs, documented to accept None)
        table.to_metadata(copy, schema=None)  # type: ignore[arg-type]
    return copy
