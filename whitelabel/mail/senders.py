"""Senders hand one composed message to the outside world: the console, or an SMTP server.

Senders are synchronous (the dispatcher runs them in a worker thread) and keep at most one
connection open between :meth:`Sender.send` calls, until :meth:`Sender.close`. A failed send
raises :class:`SendError`, which says whether trying again could help.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
import threading
import unicodedata
from email.message import EmailMessage
from typing import Protocol, TextIO

from whitelabel.mail.config import MailTransport, parse_mail_url

__all__ = ["ConsoleSender", "SendError", "Sender", "SmtpSender", "sender_for"]

_MAX_REASON = 300


class SendError(Exception):
    """A message was not accepted.

    Attributes:
        reason: a short, printable description without secrets (stored as ``last_error``).
        permanent: trying the same message again cannot succeed (the server refused the
            recipient or the content with a 5xx reply); otherwise it is retried later.
    """

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = short_reason(reason)
        self.permanent = permanent


def short_reason(text: str) -> str:
    """``text`` on one line of printable characters, at most 300 of them."""
    clean = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(clean.split())[:_MAX_REASON]


class Sender(Protocol):
    """What the dispatcher needs from a sender."""

    def send(self, message: EmailMessage, *, envelope_from: str, recipient: str) -> None:
        """Deliver ``message`` to ``recipient`` (the envelope is given, never read from
        headers). Raises :class:`SendError`."""

    def close(self) -> None:
        """Release any connection; the sender stays usable."""


class ConsoleSender:
    """Writes each message, headers and decoded parts, to a text stream (default: standard
    output at the time of sending). For ``demo`` and development: nothing leaves the machine.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: EmailMessage, *, envelope_from: str, recipient: str) -> None:
        """Print the message (links stay clickable: bodies are printed decoded)."""
        lines = [f"----- mail from {envelope_from} to {recipient} -----"]
        lines += [f"{name}: {value}" for name, value in message.items()]
        for part in message.walk():
            if part.is_multipart():
                continue
            lines += ["", f"--- {part.get_content_type()} ---", str(part.get_content()).rstrip()]
        lines.append("----- end of mail -----")
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write("\n".join(lines) + "\n")
            stream.flush()

    def close(self) -> None:
        """Nothing to release."""


def _reply_text(resp: bytes | str) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else resp


class SmtpSender:
    """Sends through an SMTP server with the standard library's ``smtplib``.

    One connection (``smtps://``: TLS from the start; ``smtp://`` with ``starttls``: upgraded
    before authenticating) is opened on the first send and reused until :meth:`close` or an
    error. Certificates are verified against the system's trust store unless ``ssl_context``
    says otherwise.

    Errors: a 5xx reply to the recipient or to the message is permanent. Everything else is
    temporary: 4xx replies, timeouts, refused or dropped connections, TLS and authentication
    failures, and a sender address the server refuses (those are configuration problems that
    an operator can fix while the message waits).
    """

    def __init__(
        self,
        transport: MailTransport,
        *,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if transport.scheme == "console":
            raise ValueError("SmtpSender needs an smtp:// or smtps:// transport")
        self.transport = transport
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname
        self._client: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _connect(self) -> smtplib.SMTP:
        t = self.transport
        client: smtplib.SMTP | None = None
        try:
            if t.scheme == "smtps":
                client = smtplib.SMTP_SSL(
                    t.host,
                    t.port,
                    local_hostname=self._local_hostname,
                    timeout=t.timeout,
                    context=self._context(),
                )
            else:
                client = smtplib.SMTP(
                    t.host, t.port, local_hostname=self._local_hostname, timeout=t.timeout
                )
            client.ehlo()
            if t.starttls:
                client.starttls(context=self._context())
                client.ehlo()
            if t.username is not None and t.password is not None:
                client.login(t.username, t.password)
        except smtplib.SMTPResponseException as exc:
            _close_quietly(client)
            reason = f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"
            raise SendError(f"connecting to {t.host}:{t.port}: {reason}", permanent=False) from None
        except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError is an OSError
            _close_quietly(client)
            raise SendError(
                f"connecting to {t.host}:{t.port}: {type(exc).__name__}: {exc}", permanent=False
            ) from None
        return client

    def send(self, message: EmailMessage, *, envelope_from: str, recipient: str) -> None:
        """Send over the open connection (opened first if needed).

        Raises:
            SendError: see the class for which errors are permanent.
        """
        if self._client is None:
            self._client = self._connect()
        try:
            self._client.send_message(message, from_addr=envelope_from, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            code, resp = exc.recipients.get(recipient, (0, b""))
            raise SendError(
                f"recipient refused: {code} {_reply_text(resp)}", permanent=500 <= code < 600
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            self.close()
            raise SendError(
                f"sender refused: {exc.smtp_code} {_reply_text(exc.smtp_error)}", permanent=False
            ) from None
        except smtplib.SMTPResponseException as exc:  # SMTPDataError and other replies
            self.close()
            raise SendError(
                f"message refused: {exc.smtp_code} {_reply_text(exc.smtp_error)}",
                permanent=500 <= exc.smtp_code < 600,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise SendError(f"{type(exc).__name__}: {exc}", permanent=False) from None

    def close(self) -> None:
        """Say QUIT and close the connection, ignoring errors (it may be dead already)."""
        client, self._client = self._client, None
        _close_quietly(client)


def _close_quietly(client: smtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def sender_for(mail_url: str) -> Sender:
    """The sender ``WHITELABEL_MAIL_URL`` asks for (``Settings.mail_url``).

    Raises:
        SettingsError: the URL is malformed (already checked when the settings were read).
    """
    transport = parse_mail_url(mail_url)
    if transport.scheme == "console":
        return ConsoleSender()
    return SmtpSender(transport)
