"""The mail plugin: a dispatcher in the background of each server process, and the CLI group.

The dispatcher drains the outbox in a worker thread, then waits up to ``poll_interval`` seconds
or until a ``NOTIFY wl_mail`` arrives (sent by :func:`whitelabel.mail.enqueue` on commit), so new
mail leaves at once and retries leave when due. Every process may run one: claims never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

import psycopg
from click import Group
from litestar.config.app import AppConfig
from litestar.plugins import CLIPlugin, InitPlugin
from sqlalchemy.engine import make_url

from whitelabel.mail.dispatcher import Dispatcher
from whitelabel.mail.senders import Sender
from whitelabel.mail.service import CHANNEL
from whitelabel.runtime import Runtime

__all__ = ["MailPlugin"]

log = logging.getLogger("whitelabel.mail")

_STOP_GRACE = 60.0  # a send in progress finishes first (bounded by the SMTP timeout)


class MailPlugin(InitPlugin, CLIPlugin):
    """Runs the mail dispatcher while the app runs (unless ``WHITELABEL_MAIL_DISPATCH=off``)
    and adds the ``whitelabel mail`` commands.

    Args:
        runtime: the process's runtime; may be omitted when only the commands are wanted.
        sender: replaces the sender ``WHITELABEL_MAIL_URL`` names (embedding, tests).
        poll_interval: the longest wait between two drains, in seconds.
    """

    def __init__(
        self,
        runtime: Runtime | None = None,
        *,
        sender: Sender | None = None,
        poll_interval: float = 2.0,
    ) -> None:
        self._runtime = runtime
        self._sender = sender
        self.poll_interval = poll_interval
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._wake: asyncio.Event | None = None
        self.listening = False
        """Whether the ``LISTEN wl_mail`` connection is up (else new mail waits for the poll)."""

    def on_cli_init(self, cli: Group) -> None:
        from whitelabel.mail.cli import mail_group

        cli.add_command(mail_group)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if self._runtime is None:
            raise RuntimeError("MailPlugin needs a Runtime to dispatch mail")
        if self._runtime.settings.mail_dispatch:
            app_config.on_startup.append(self.start)
            # before the core plugin disposes of the database
            app_config.on_shutdown.insert(0, self.stop)
        return app_config

    async def start(self) -> None:
        """Start the dispatcher task on the running loop."""
        if self._runtime is None or self._task is not None:
            return
        self._stop.clear()
        self._wake = asyncio.Event()
        dispatcher = Dispatcher.from_settings(
            self._runtime.db.sync_engine, self._runtime.settings, sender=self._sender
        )
        self._task = asyncio.create_task(
            self._run(dispatcher, self._runtime, self._wake), name="mail-dispatch"
        )

    async def stop(self) -> None:
        """Stop after the message being sent, if any (waiting at most a minute)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        if self._wake is not None:
            self._wake.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, _STOP_GRACE)

    async def _run(self, dispatcher: Dispatcher, runtime: Runtime, wake: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(runtime, wake), name="mail-listen")
        failures = 0
        try:
            while not self._stop.is_set():
                wake.clear()
                try:
                    await asyncio.to_thread(dispatcher.drain, stop=self._stop)
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("mail dispatch failed; trying again")
                wait = self.poll_interval * min(2**failures, 30)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def _listen(self, runtime: Runtime, wake: asyncio.Event) -> None:
        """Wake the dispatcher on ``NOTIFY wl_mail``; reconnects, and polling covers the gaps."""
        settings = runtime.settings
        url = make_url(settings.listen_database_url or settings.sqlalchemy_url)
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening = True
                    backoff = 0.5
                    wake.set()  # whatever was queued while not listening
                    async for _ in conn.notifies():
                        wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("mail listener lost its connection; reconnecting", exc_info=True)
            finally:
                self.listening = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
