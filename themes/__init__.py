"""Theme engine and built-in themes (design tokens, CSS, per-theme Jinja environments).

The tenancy kernel records each tenant's base theme (``platform.tenants.theme``); the engine that
renders it is built on top of the kernel (see docs/ and the issue tracker).
"""
