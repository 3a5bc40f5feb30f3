"""Request security shared by every module: derived keys, CSRF protection, rate limits.

- :mod:`~whitelabel.security.keys`: purpose-bound keys from ``WHITELABEL_SECRET_KEY``.
- :mod:`~whitelabel.security.csrf_tokens` and :mod:`~whitelabel.security.csrf`: CSRF tokens, the
  middleware that enforces them on tenant hosts, and ``form_csrf_token`` for pages.
- :mod:`~whitelabel.security.ratelimit` (with :mod:`~whitelabel.security.budgets` and
  :mod:`~whitelabel.security.limiter`): ``enforce``/``forgive`` per client address and account.
- :mod:`~whitelabel.security.plugin`: ``SecurityPlugin``, which ``create_app`` lists after tenancy.

Nothing is imported here: ``whitelabel.settings`` reads :mod:`~whitelabel.security.budgets` while
it is itself being imported, and the accounts package imports this one.
"""

__all__: list[str] = []
