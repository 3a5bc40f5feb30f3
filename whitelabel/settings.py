"""Settings read once from the environment and validated at start-up.

Every field is documented; a wrong or missing value raises :class:`SettingsError` naming the
variable and what is expected, and the command line turns that into one line on stderr and exit
code 2. Nothing here has import-time side effects, and no secret is ever invented outside
``demo`` and the test suite (which pass ``allow_insecure_secret=True`` explicitly).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from whitelabel.errors import SettingsError
from whitelabel.mail.config import is_mail_address, parse_mail_url

__all__ = ["Settings", "SettingsError"]

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_MIN_SECRET_LEN = 32
_POOL_SIZE = re.compile(r"[0-9]{1,9}")  # ASCII digits: isdigit() takes "²" (int() fails)


def _valid_domain(value: str) -> bool:
    if not value or len(value) > 253:
        return False
    return all(_HOST_LABEL.fullmatch(label) for label in value.split("."))  # not $: a final \n


@dataclass(frozen=True, slots=True)
class Settings:
    """The process-wide configuration of a whitelabel deployment."""

    database_url: str | None = None
    """``postgresql+psycopg://...``; ``None`` starts the embedded PostgreSQL in :attr:`data_dir`."""

    base_domain: str = "localhost"
    """Tenants live at ``{slug}.{base_domain}``."""

    platform_host: str = ""
    """Host of the platform console; empty means ``console.{base_domain}``."""

    secret_key: str | None = field(default=None, repr=False)
    """Signs sessions and encrypts secrets at rest. Required outside ``demo`` and tests."""

    previous_secret_keys: tuple[str, ...] = field(default=(), repr=False)
    """Secret keys used before the current one, newest first: secrets encrypted at rest under
    one of them still decrypt, until ``whitelabel sso rotate-secrets`` re-encrypts them under
    the current key (then drop them). Sessions, CSRF tokens and links are not carried over."""

    sso_allow_loopback: bool = False
    """Let SSO connections name identity providers on this machine over plain ``http``
    (``http://127.0.0.1:PORT``, ``http://localhost``): for the demo's local IdP and the tests.
    Off, metadata and discovery URLs must be ``https`` on a public address."""

    data_dir: Path = field(default_factory=lambda: Path(".whitelabel"))
    """Embedded database and local files; tenant files live under ``files/<tenant id>/``."""

    redis_url: str | None = None
    """Optional Redis: routing changes are also published there (PostgreSQL NOTIFY always is)."""

    listen_database_url: str | None = None
    """A direct PostgreSQL URL for the ``LISTEN`` connection when ``DATABASE_URL`` goes through
    PgBouncer in transaction mode (which delivers no notifications); default ``DATABASE_URL``."""

    prepare_threshold: int | None = None
    """psycopg's ``prepare_threshold``: executions before a statement is prepared server-side.
    ``None`` (the default) never prepares: each tenant's statements are different SQL text, so
    with many active tenants the driver's prepared-statement cache only churns (measured in
    docs/decisions/0001); it also suits PgBouncer in transaction mode older than 1.21."""

    schema_pool: int = 4
    """Tenant schemas kept ready ahead of time, so creating a tenant takes one (0: none)."""

    public_url_scheme: str = "https"
    """``http`` or ``https``: the scheme of the tenant URLs that whitelabel writes where no
    request gives it (links printed by the command line or mailed from it). ``demo`` uses
    ``http``."""

    public_port: int | None = None
    """The port of those URLs when it is not the scheme's default (``demo``: its own port)."""

    pool_size: int = 10
    """Connections per process in the request pool (SQLAlchemy ``pool_size``)."""

    mail_url: str = field(default="", repr=False)  # may hold the SMTP password
    """Where outgoing mail goes: ``smtp://user:password@host:587?starttls=1``,
    ``smtps://user:password@host:465`` or ``console`` (printed, never sent). Empty: ``console``
    when ``allow_insecure_secret`` is set (``demo``, tests), else ``smtp://localhost:25`` (the
    machine's own mail server, the classic Unix default). Resolved in ``__post_init__``."""

    mail_from: str = ""
    """The sender address of outgoing mail (envelope and ``From``); empty means
    ``no-reply@{base_domain}``. Tenants' mail carries the tenant's name as display name."""

    mail_dispatch: bool = True
    """Whether each server process runs a mail dispatcher in the background. Off: mail waits in
    the outbox for ``whitelabel mail send`` (or a server where it is on)."""

    rate_limits: str = ""
    """Changes to the default rate-limit budgets (``whitelabel.security.budgets``), as
    ``RULE.PER=LIMIT/PERIOD`` items separated by commas, e.g. ``login.ip=100/5m``; empty keeps
    the defaults. Budgets can be changed, not removed."""

    allow_insecure_secret: bool = False
    """Set only by ``demo`` and the test kit: permits a missing secret key (one is generated)."""

    def __post_init__(self) -> None:
        if self.database_url is not None:
            parts = urlsplit(self.database_url)
            if parts.scheme not in ("postgresql+psycopg", "postgresql"):
                raise SettingsError(
                    "DATABASE_URL",
                    "a PostgreSQL URL such as postgresql+psycopg://user@127.0.0.1:5432/dbname",
                )
        base = self.base_domain.lower().rstrip(".")
        if not _valid_domain(base):
            raise SettingsError("WHITELABEL_BASE_DOMAIN", "a DNS name such as example.com")
        object.__setattr__(self, "base_domain", base)
        platform = (self.platform_host or f"console.{base}").lower().rstrip(".")
        if not _valid_domain(platform):
            raise SettingsError(
                "WHITELABEL_PLATFORM_HOST", "a DNS name such as console.example.com"
            )
        object.__setattr__(self, "platform_host", platform)
        if self.secret_key is None:
            if not self.allow_insecure_secret:
                raise SettingsError(
                    "WHITELABEL_SECRET_KEY",
                    f"a random string of at least {_MIN_SECRET_LEN} characters "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')",
                )
        elif len(self.secret_key) < _MIN_SECRET_LEN:
            raise SettingsError("WHITELABEL_SECRET_KEY", f"at least {_MIN_SECRET_LEN} characters")
        if any(len(key) < _MIN_SECRET_LEN for key in self.previous_secret_keys):
            raise SettingsError(
                "WHITELABEL_PREVIOUS_SECRET_KEYS",
                f"comma-separated keys of at least {_MIN_SECRET_LEN} characters each",
            )
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in (
            "redis",
            "rediss",
            "unix",
        ):
            raise SettingsError("REDIS_URL", "a Redis URL such as redis://127.0.0.1:6379/0")
        if self.listen_database_url is not None and urlsplit(
            self.listen_database_url
        ).scheme not in ("postgresql+psycopg", "postgresql"):
            raise SettingsError(
                "WHITELABEL_LISTEN_DATABASE_URL", "a PostgreSQL URL, like DATABASE_URL"
            )
        if not 0 <= self.schema_pool <= 1000:
            raise SettingsError("WHITELABEL_SCHEMA_POOL", "a whole number from 0 to 1000")
        if self.public_url_scheme not in ("http", "https"):
            raise SettingsError("WHITELABEL_PUBLIC_URL_SCHEME", "http or https")
        if self.public_port is not None and not 1 <= self.public_port <= 65535:
            raise SettingsError("WHITELABEL_PUBLIC_PORT", "a port number from 1 to 65535")
        if not 1 <= self.pool_size <= 1000:
            raise SettingsError("WHITELABEL_POOL_SIZE", "a whole number from 1 to 1000")
        if self.rate_limits:
            from whitelabel.security.budgets import SYNTAX, parse_overrides

            try:
                parse_overrides(self.rate_limits)
            except ValueError as exc:
                raise SettingsError("WHITELABEL_RATE_LIMITS", f"{SYNTAX}; {exc}") from None
        default_mail = "console" if self.allow_insecure_secret else "smtp://localhost:25"
        object.__setattr__(self, "mail_url", self.mail_url or default_mail)
        parse_mail_url(self.mail_url)  # raises SettingsError naming WHITELABEL_MAIL_URL
        mail_from = self.mail_from or f"no-reply@{base}"
        if not is_mail_address(mail_from):
            raise SettingsError(
                "WHITELABEL_MAIL_FROM", "one email address such as no-reply@example.com"
            )
        object.__setattr__(self, "mail_from", mail_from)

    @property
    def sqlalchemy_url(self) -> str:
        """The configured URL with the psycopg 3 dialect made explicit."""
        if self.database_url is None:
            raise SettingsError("DATABASE_URL", "set, or the embedded database started first")
        if self.database_url.startswith("postgresql://"):
            return "postgresql+psycopg://" + self.database_url.removeprefix("postgresql://")
        return self.database_url

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, allow_insecure_secret: bool = False
    ) -> Settings:
        """Read the settings from ``environ`` (default: the process environment).

        Raises:
            SettingsError: a variable is malformed or a required one is missing.
        """
        env = os.environ if environ is None else environ
        pool = env.get("WHITELABEL_POOL_SIZE", "10")
        if not _POOL_SIZE.fullmatch(pool):
            raise SettingsError("WHITELABEL_POOL_SIZE", "a whole number from 1 to 1000")
        prepare = env.get("WHITELABEL_DB_PREPARE_THRESHOLD", "off")
        public_port = env.get("WHITELABEL_PUBLIC_PORT") or None
        if public_port is not None and not _POOL_SIZE.fullmatch(public_port):
            raise SettingsError("WHITELABEL_PUBLIC_PORT", "a port number from 1 to 65535")
        pool_of_schemas = env.get("WHITELABEL_SCHEMA_POOL", "4")
        if not _POOL_SIZE.fullmatch(pool_of_schemas) or int(pool_of_schemas) > 1000:
            raise SettingsError("WHITELABEL_SCHEMA_POOL", "a whole number from 0 to 1000")
        sso_loopback = env.get("WHITELABEL_SSO_ALLOW_LOOPBACK", "off")
        if sso_loopback not in ("on", "off"):
            raise SettingsError("WHITELABEL_SSO_ALLOW_LOOPBACK", "on or off")
        previous = env.get("WHITELABEL_PREVIOUS_SECRET_KEYS", "")
        mail_dispatch = env.get("WHITELABEL_MAIL_DISPATCH", "on")
        if mail_dispatch not in ("on", "off"):
            raise SettingsError("WHITELABEL_MAIL_DISPATCH", "on or off")
        if prepare != "off" and not _POOL_SIZE.fullmatch(prepare):
            raise SettingsError(
                "WHITELABEL_DB_PREPARE_THRESHOLD", "a whole number, or off to never prepare"
            )
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            listen_database_url=env.get("WHITELABEL_LISTEN_DATABASE_URL") or None,
            prepare_threshold=None if prepare == "off" else int(prepare),
            schema_pool=int(pool_of_schemas),
            public_url_scheme=env.get("WHITELABEL_PUBLIC_URL_SCHEME") or "https",
            public_port=int(public_port) if public_port is not None else None,
            base_domain=env.get("WHITELABEL_BASE_DOMAIN", "localhost"),
            platform_host=env.get("WHITELABEL_PLATFORM_HOST", ""),
            secret_key=env.get("WHITELABEL_SECRET_KEY") or None,
            previous_secret_keys=tuple(k.strip() for k in previous.split(",") if k.strip()),
            sso_allow_loopback=sso_loopback == "on",
            data_dir=Path(env.get("WHITELABEL_DATA_DIR") or ".whitelabel"),
            redis_url=env.get("REDIS_URL") or None,
            pool_size=int(pool),
            rate_limits=env.get("WHITELABEL_RATE_LIMITS", ""),
            mail_url=env.get("WHITELABEL_MAIL_URL", ""),
            mail_from=env.get("WHITELABEL_MAIL_FROM", ""),
            mail_dispatch=mail_dispatch == "on",
            allow_insecure_secret=allow_insecure_secret,
        )
