"""The security plugin: CSRF enforcement on tenant hosts and the app's rate limiter."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin

from whitelabel.runtime import Runtime
from whitelabel.security.csrf import CsrfMiddleware
from whitelabel.security.keys import derive_key
from whitelabel.security.ratelimit import STATE_LIMITER, RateLimiter

__all__ = ["SecurityPlugin"]


class SecurityPlugin(InitPlugin):
    """Adds :class:`~whitelabel.security.csrf.CsrfMiddleware` and the app's
    :class:`~whitelabel.security.ratelimit.RateLimiter` (closed at shutdown).

    List it after ``TenancyPlugin``: its middleware must run after the tenancy middleware, which
    tells it the tenant.

    Raises:
        SettingsError: (at app creation) no secret key is configured.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        settings = self.runtime.settings
        app_config.middleware.append(CsrfMiddleware(derive_key(settings, "csrf")))
        limiter = RateLimiter.from_settings(settings)
        app_config.state[STATE_LIMITER] = limiter
        app_config.on_shutdown.append(limiter.aclose)
        return app_config
