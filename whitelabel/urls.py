"""Absolute URLs of a tenant's app where no request gives them (command line, demo, mail).

Inside a request, links use the request's own scheme and host. Outside one, the scheme and the
port come from the settings (``WHITELABEL_PUBLIC_URL_SCHEME``, ``WHITELABEL_PUBLIC_PORT``) and the
host is the tenant's primary host.
"""

from __future__ import annotations

from typing import Protocol

from whitelabel.settings import Settings

__all__ = ["HasPrimaryHost", "tenant_base_url"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class HasPrimaryHost(Protocol):
    """A tenant as the registry (``TenantView``) or a request (``TenantContext``) knows it."""

    @property
    def slug(self) -> str:
        """The tenant's slug."""

    @property
    def primary_host(self) -> str | None:
        """The tenant's primary hostname (``None`` or empty when it has none)."""


def tenant_base_url(settings: Settings, tenant: HasPrimaryHost) -> str:
    """``scheme://host[:port]`` of the tenant's app, without a trailing slash.

    The host is the tenant's primary host, else ``{slug}.{base_domain}``; the port is left out
    when it is the scheme's default.
    """
    host = tenant.primary_host or f"{tenant.slug}.{settings.base_domain}"
    port = settings.public_port
    scheme = settings.public_url_scheme
    suffix = f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{host}{suffix}"
