"""A real SMTP server on loopback (aiosmtpd) that records what it accepts and refuses on cue,
plus helpers shared by the mail tests."""

from __future__ import annotations

import asyncio
import contextlib
import email
import socket
import ssl
import subprocess
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import Engine, select

from whitelabel.mail.config import parse_mail_url
from whitelabel.mail.dispatcher import Dispatcher
from whitelabel.mail.models import MailOutbox
from whitelabel.mail.senders import Sender, SmtpSender

__all__ = [
    "MAIL_FROM",
    "Received",
    "SmtpRecorder",
    "TlsFiles",
    "authenticator",
    "dispatcher",
    "free_port",
    "make_tls_files",
    "outbox_row",
    "smtp_server",
    "unique_address",
]

MAIL_FROM = "no-reply@mail-tests.example"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unique_address(prefix: str = "user") -> str:
    """A recipient address no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


@dataclass
class Received:
    """One accepted message: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpRecorder:
    """aiosmtpd handler: records accepted messages; refuses on cue, per recipient.

    ``data_replies[rcpt]`` holds replies given to that recipient's next DATA commands instead
    of accepting them; ``rcpt_replies[rcpt]`` is the reply to RCPT TO (e.g. a 550). With
    ``rendezvous = n``, the first DATA commands wait until n of them are in progress at once
    (``met`` is then true): proof that n senders were sending at the same time.
    """

    data_replies: dict[str, deque[str]] = field(default_factory=dict)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    rendezvous: int = 0
    met: bool = False
    received: list[Received] = field(default_factory=list)
    attempts: list[tuple[list[str], str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _waiting: int = 0
    _all_here: asyncio.Event | None = None

    def fail_data(self, rcpt: str, *replies: str) -> None:
        """Answer the next DATA commands for ``rcpt`` with ``replies``, in order."""
        self.data_replies.setdefault(rcpt, deque()).extend(replies)

    def to(self, rcpt: str) -> list[Received]:
        """Messages accepted for ``rcpt``."""
        with self._lock:
            return [r for r in self.received if rcpt in r.rcpt_tos]

    def with_message_id(self, message_id: str) -> list[Received]:
        """Messages accepted with this ``Message-ID``."""
        with self._lock:
            return [r for r in self.received if r.message["Message-ID"] == message_id]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def _meet(self) -> None:
        if self._all_here is None:
            self._all_here = asyncio.Event()
        self._waiting += 1
        if self._waiting >= self.rendezvous:
            self.met = True
            self._all_here.set()
        with contextlib.suppress(TimeoutError):  # the test then sees met == False
            await asyncio.wait_for(self._all_here.wait(), 15)

    def attempts_to(self, rcpt: str) -> list[str]:
        """The ``Message-ID`` of every DATA command for ``rcpt``, accepted or not."""
        with self._lock:
            return [mid for rcpts, mid in self.attempts if rcpt in rcpts]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.attempts.append((list(envelope.rcpt_tos), str(message["Message-ID"])))
        if self.rendezvous and not self.met:
            await self._meet()
        for rcpt in envelope.rcpt_tos:
            replies = self.data_replies.get(rcpt)
            if replies:
                return replies.popleft()
        with self._lock:
            self.received.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), message)
            )
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(handler: SmtpRecorder, **smtp_options: Any) -> Iterator[int]:
    """Serve ``handler`` on 127.0.0.1; yields the port. ``smtp_options`` go to aiosmtpd's
    ``SMTP`` (``tls_context``, ``authenticator``, ...) or ``Controller`` (``ssl_context``)."""
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, server_hostname="mail.test", **smtp_options
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def dispatcher(
    engine: Engine,
    port: int | None = None,
    *,
    sender: Sender | None = None,
    **options: Any,
) -> Dispatcher:
    """A dispatcher on the test database sending to 127.0.0.1:``port``; retries are due at once
    unless ``retry_base`` says otherwise."""
    options.setdefault("retry_base", 0.0)
    options.setdefault("retry_cap", max(options["retry_base"], 0.0))
    if sender is None:
        sender = SmtpSender(parse_mail_url(f"smtp://127.0.0.1:{port}?timeout=10"))
    return Dispatcher(
        engine, sender, mail_from=MAIL_FROM, id_domain="mail-tests.example", **options
    )


def outbox_row(engine: Engine, mail_id: uuid.UUID) -> Any:
    """The outbox row ``mail_id`` (``None`` when absent)."""
    with engine.connect() as conn:
        return conn.execute(select(MailOutbox.__table__).where(MailOutbox.id == mail_id)).first()


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate for ``localhost`` and 127.0.0.1, and its key."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """What the test server presents."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_tls_files(openssl: str, folder: Path) -> TlsFiles:
    """Make the pair with the ``openssl`` program."""
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(files.key),
            "-out",
            str(files.cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return files


def authenticator(user: str, password: str) -> Any:
    """An aiosmtpd authenticator accepting exactly this user and password."""

    def check(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return check
