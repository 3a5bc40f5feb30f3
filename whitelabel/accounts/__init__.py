"""Accounts inside the tenant: users, server-side sessions, local sign-up and sign-in.

Everything lives in the request's tenant schema (``users``, ``sessions``), so the same email in
two tenants is two users and a session cookie is only ever valid on its own tenant's host.
"""

from whitelabel.accounts.plugin import AccountsPlugin

__all__ = ["AccountsPlugin"]
