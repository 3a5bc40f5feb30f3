"""An example custom module: per-tenant notes kept in the tenant's own ``settings`` table.

Mount it with ``create_app(settings, plugins=[NotesPlugin()])``. It needs no table of its own:
every note is one row of :class:`whitelabel.tenant_data.TenantSetting` under the key
``notes.<id>``, so it runs on any tenant schema the kernel's migrations created.
"""

from examples.notes_module.plugin import NotesPlugin

__all__ = ["NotesPlugin"]
