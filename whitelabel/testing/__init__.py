"""Test kit for whitelabel and for framework users' own modules.

Installed as a pytest plugin (entry point ``whitelabel``), it provides fixtures:

* ``whitelabel_settings`` / ``whitelabel_runtime`` (session): real PostgreSQL - ``DATABASE_URL``
  when set, else the embedded server with its own ``whitelabel_test`` database - migrated once.
* ``make_tenant`` (function): a factory creating tenants from the template (tens of milliseconds
  each), purged when the test ends. ``tenant_pair``: two fresh tenants, for leak assertions.
* ``whitelabel_app`` (session): the app under test; override it to add your plugins.
* ``live_server`` (session): that app served by uvicorn on 127.0.0.1 in a background thread.
* ``tenant_client`` (function): ``tenant_client(tenant)`` gives an ``httpx.Client`` that talks to
  the live server with the tenant's Host header and its own cookie jar.
"""

from whitelabel.testing.kit import (
    LiveServer,
    TenantFactory,
    host_client,
    settings_for_tests,
    start_test_runtime,
    wait_for_route,
)

__all__ = [
    "LiveServer",
    "TenantFactory",
    "host_client",
    "settings_for_tests",
    "start_test_runtime",
    "wait_for_route",
]
