"""The SSO plugin: the tenant admin API and pages, the browser routes of each protocol, the
refusal handler, the enforce-SSO rule of password sign-in, the metadata refresher and the CLI
group."""

from __future__ import annotations

from click import Group
from litestar.config.app import AppConfig
from litestar.plugins import CLIPlugin, InitPlugin
from litestar.types import ControllerRouterHandler

from sso.controllers import SsoConnectionsController, sso_rejected_response
from sso.errors import SsoRejected
from sso.oidc.controllers import OIDC_CONTROLLERS
from sso.pages import register_pages
from sso.refresh import MetadataRefresher
from sso.saml.controllers import SAML_CONTROLLERS
from sso.service import password_sign_in_policy
from whitelabel.accounts.service import register_password_policy
from whitelabel.runtime import Runtime

__all__ = ["PROTOCOL_CONTROLLERS", "SsoPlugin"]

PROTOCOL_CONTROLLERS: list[ControllerRouterHandler] = [*SAML_CONTROLLERS, *OIDC_CONTROLLERS]
"""The browser routes of the protocols: ``/sso/saml/{connection}/metadata|login|acs|sls`` and
``/sso/oidc/{connection}/login|callback`` (``sso.saml.controllers``, ``sso.oidc.controllers``)."""


class SsoPlugin(InitPlugin, CLIPlugin):
    """Adds ``/api/v1/admin/sso/connections``, the ``/admin/sso`` pages (``sso.pages``) and the
    protocol routes, answers
    :class:`~sso.errors.SsoRejected` with 422 and its code, refuses password sign-in where a
    connection enforces SSO (``sso_required``; owners keep the break-glass path), and runs the
    SAML metadata refresher where background work runs (``WHITELABEL_MAIL_DISPATCH``).

    Args:
        runtime: The process's runtime; may be omitted when only the commands are wanted.
    """

    def __init__(self, runtime: Runtime | None = None) -> None:
        self._runtime = runtime
        self.refresher: MetadataRefresher | None = None
        """The metadata refresher of this app, when it runs one."""

    def on_cli_init(self, cli: Group) -> None:
        from sso.cli import sso_group

        cli.add_command(sso_group)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        runtime = self._runtime
        if runtime is None:
            raise RuntimeError("SsoPlugin needs a Runtime to serve requests")
        app_config.route_handlers.extend([SsoConnectionsController, *PROTOCOL_CONTROLLERS])
        register_pages(app_config)  # /admin/sso pages and the sign-in page's SSO offer
        app_config.exception_handlers[SsoRejected] = sso_rejected_response
        # At app start, not at import: accounts asks registered policies (it cannot import sso).
        register_password_policy(password_sign_in_policy)
        if runtime.settings.mail_dispatch:
            self.refresher = MetadataRefresher(runtime.db, runtime.settings, runtime.tenants.list)
            app_config.on_startup.append(self.refresher.start)
            # before the core plugin disposes of the database
            app_config.on_shutdown.insert(0, self.refresher.stop)
        return app_config
