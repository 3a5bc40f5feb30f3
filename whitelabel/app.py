"""``create_app(settings)``: the application is its list of plugins."""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.plugins import PluginProtocol

from sso.plugin import SsoPlugin
from tenants.plugin import TenancyPlugin
from themes.plugin import ThemesPlugin
from whitelabel.accounts import AccountsPlugin
from whitelabel.mail.plugin import MailPlugin
from whitelabel.pages import PagesPlugin
from whitelabel.plugin import CorePlugin
from whitelabel.runtime import Runtime
from whitelabel.security.plugin import SecurityPlugin
from whitelabel.settings import Settings

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    plugins: Sequence[PluginProtocol] = (),
    access_log: bool = True,
) -> Litestar:
    """Build the ASGI application.

    Args:
        settings: the deployment's settings (ignored when ``runtime`` is given).
        runtime: an already started runtime (tests share one across apps).
        plugins: extra plugins, e.g. a framework user's own modules; they run in tenant context.
        access_log: write one log line per request.

    Raises:
        SettingsError: settings are missing and ``runtime`` is not given.
    """
    if runtime is None:
        runtime = Runtime.start(settings or Settings.from_env())
    return Litestar(
        plugins=[
            CorePlugin(runtime, access_log=access_log),
            TenancyPlugin(runtime),
            SecurityPlugin(runtime),
            ThemesPlugin(runtime),
            MailPlugin(runtime),
            PagesPlugin(),
            AccountsPlugin(),
            SsoPlugin(runtime),
            *plugins,
        ],
        openapi_config=OpenAPIConfig(title="whitelabel", version="0.1.0", path="/schema"),
        debug=False,
        logging_config=None,  # whitelabel.logging configures structured logs
    )
