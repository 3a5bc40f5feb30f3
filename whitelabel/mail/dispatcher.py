"""The dispatcher: claims due messages, sends them, records the outcome.

Each message is claimed alone, in a short transaction of its own (``FOR UPDATE SKIP LOCKED``, so
concurrent dispatchers in any number of processes never claim the same row), which marks it
``sending`` with a lease (``locked_until``) and counts the attempt. The send happens outside any
transaction; its outcome is written right after, in another short transaction:

* accepted: ``sent``, with ``sent_at``; the bodies are emptied (they may hold live links);
* a temporary failure (4xx reply, connection or TLS trouble): back to ``pending``, due again after
  an exponential backoff with jitter, until ``max_attempts`` attempts, then ``failed``;
* a permanent failure (5xx reply to the recipient or the content): ``failed`` at once.

``failed`` messages are kept and can be queued again (``whitelabel mail retry``).

Exactly once, within what we control: while a lease runs, no other dispatcher touches the row,
and the outcome is recorded right after the send. A dispatcher that dies between the server's
acceptance and that record leaves the row ``sending``; when the lease ends another dispatcher
sends it again. Every attempt carries the same ``Message-ID``, so the receiving side can drop the
duplicate; nothing can rule out that window entirely (SMTP has no two-phase commit).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Text, cast, func, select, update

from whitelabel.mail.config import parse_mail_url
from whitelabel.mail.message import OutgoingMail, compose
from whitelabel.mail.models import MailStatus
from whitelabel.mail.senders import Sender, SendError, sender_for
from whitelabel.mail.service import OUTBOX

if TYPE_CHECKING:
    from whitelabel.settings import Settings

__all__ = [
    "LEASE",
    "MAX_ATTEMPTS",
    "RETRY_BASE",
    "RETRY_CAP",
    "Dispatcher",
    "DrainReport",
    "Outcome",
    "backoff_delay",
]

log = logging.getLogger("whitelabel.mail")

MAX_ATTEMPTS = 8
"""Attempts before a temporarily failing message is marked ``failed``."""
RETRY_BASE = 60.0
"""Seconds before the second attempt; each further wait doubles (1, 2, 4, ... minutes)."""
RETRY_CAP = 4 * 3600.0
"""The longest wait between two attempts. With the defaults the eighth and last attempt comes
about one to two hours after the first (jitter takes up to half of each wait off)."""
LEASE = 300.0
"""Seconds a claim keeps other dispatchers off a message (at least ten SMTP timeouts)."""

_ACTIVE = (MailStatus.PENDING.value, MailStatus.SENDING.value)


class Outcome(StrEnum):
    """What became of one claimed message."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(slots=True)
class DrainReport:
    """Counts of one :meth:`Dispatcher.drain`."""

    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        """Messages handled (claimed and settled)."""
        return self.sent + self.retried + self.failed

    def add(self, outcome: Outcome) -> None:
        """Count one outcome."""
        if outcome is Outcome.SENT:
            self.sent += 1
        elif outcome is Outcome.RETRY:
            self.retried += 1
        else:
            self.failed += 1


def backoff_delay(
    attempts: int,
    *,
    base: float = RETRY_BASE,
    cap: float = RETRY_CAP,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``attempts``-th attempt failed: ``base * 2**(attempts - 1)``,
    at most ``cap``, of which a random part of up to half is taken off ("equal jitter"), so
    messages that failed together do not all come back at the same moment."""
    full = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 32))
    return full / 2 + rand() * full / 2


class Dispatcher:
    """Sends due outbox messages through one sender. Not thread-safe: one drain at a time per
    instance; run several instances (threads, processes, machines) for parallel sending.

    Args:
        engine: a sync engine on the database that holds the platform schema.
        sender: where messages go (closed at the end of every drain).
        mail_from: the envelope sender and ``From`` address.
        id_domain: the right-hand side of ``Message-ID`` (the base domain).
        max_attempts: attempts before a temporarily failing message is ``failed``.
        retry_base: seconds before the second attempt (doubling after that).
        retry_cap: the longest wait between attempts.
        lease: seconds a claim keeps other dispatchers away; longer than any one send.
    """

    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        *,
        mail_from: str,
        id_domain: str,
        max_attempts: int = MAX_ATTEMPTS,
        retry_base: float = RETRY_BASE,
        retry_cap: float = RETRY_CAP,
        lease: float = LEASE,
    ) -> None:
        if max_attempts < 1 or lease <= 0 or retry_base < 0 or retry_cap < retry_base:
            raise ValueError("max_attempts >= 1, lease > 0 and 0 <= retry_base <= retry_cap")
        self.engine = engine
        self.sender = sender
        self.mail_from = mail_from
        self.id_domain = id_domain
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.lease = timedelta(seconds=lease)

    @classmethod
    def from_settings(
        cls, engine: Engine, settings: Settings, *, sender: Sender | None = None, **options: Any
    ) -> Dispatcher:
        """A dispatcher for the deployment: ``WHITELABEL_MAIL_URL``'s sender (unless ``sender``
        is given), ``WHITELABEL_MAIL_FROM``, the base domain in ``Message-ID``, and a lease of
        at least ten SMTP timeouts. ``options`` are passed on (``max_attempts``, ...)."""
        timeout = parse_mail_url(settings.mail_url).timeout
        options.setdefault("lease", max(LEASE, 10 * timeout))
        return cls(
            engine,
            sender or sender_for(settings.mail_url),
            mail_from=settings.mail_from,
            id_domain=settings.base_domain,
            **options,
        )

    # -- one message ---------------------------------------------------------------------------

    def claim(self) -> OutgoingMail | None:
        """Lease the earliest due message (pending and due, or ``sending`` with an expired
        lease) in its own transaction and count the attempt; ``None`` when nothing is due."""
        t = OUTBOX
        due = (
            select(t.c.id)
            .where(t.c.status.in_(_ACTIVE), t.c.next_attempt_at <= func.now())
            .order_by(t.c.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        lease_end = func.now() + self.lease
        message_id = func.coalesce(
            t.c.message_id, func.concat("<", cast(t.c.id, Text), "@", self.id_domain, ">")
        )
        stmt = (
            update(t)
            .where(t.c.id == due)
            .values(
                status=MailStatus.SENDING.value,
                attempts=t.c.attempts + 1,
                locked_until=lease_end,
                # an unfinished attempt is retried when its lease ends
                next_attempt_at=lease_end,
                message_id=message_id,
            )
            .returning(
                t.c.id,
                t.c.tenant_id,
                t.c.kind,
                t.c.to_address,
                t.c.from_name,
                t.c.subject,
                t.c.text_body,
                t.c.html_body,
                t.c.message_id,
                t.c.attempts,
                t.c.created_at,
            )
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else OutgoingMail(*row)

    def deliver(self, mail: OutgoingMail) -> Outcome:
        """Send one claimed message and record the outcome (each in its own transaction)."""
        if mail.attempts > self.max_attempts:  # its attempts kept dying mid-send
            return self._give_up(mail, "gave up: earlier attempts were interrupted")
        error: SendError
        try:
            message = compose(mail, self.mail_from)
        except ValueError as exc:
            error = SendError(f"cannot build the message: {exc}", permanent=True)
        else:
            try:
                self.sender.send(message, envelope_from=self.mail_from, recipient=mail.to_address)
            except SendError as exc:
                error = exc
            except Exception as exc:  # a sender's bug must not lose the message: retry it
                log.exception("mail %s: the sender failed unexpectedly", mail.id)
                error = SendError(f"unexpected {type(exc).__name__}", permanent=False)
            else:
                self._mark_sent(mail)
                return Outcome.SENT
        if error.permanent or mail.attempts >= self.max_attempts:
            return self._give_up(mail, error.reason)
        delay = backoff_delay(mail.attempts, base=self.retry_base, cap=self.retry_cap)
        log.warning(
            "mail %s (%s): attempt %d failed, next in %.0fs: %s",
            mail.id,
            mail.kind,
            mail.attempts,
            delay,
            error.reason,
        )
        self._settle(
            mail,
            status=MailStatus.PENDING.value,
            next_attempt_at=func.now() + timedelta(seconds=delay),
            last_error=error.reason,
        )
        return Outcome.RETRY

    def _mark_sent(self, mail: OutgoingMail) -> None:
        # Unfenced: the message went out, whoever holds the lease now.
        t = OUTBOX
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == mail.id)
                .values(
                    status=MailStatus.SENT.value,
                    sent_at=func.now(),
                    locked_until=None,
                    text_body="",
                    html_body=None,
                )
            )
        log.info("mail %s (%s) sent, attempt %d", mail.id, mail.kind, mail.attempts)

    def _give_up(self, mail: OutgoingMail, reason: str) -> Outcome:
        log.error(
            "mail %s (%s) failed after %d attempt(s): %s", mail.id, mail.kind, mail.attempts, reason
        )
        self._settle(mail, status=MailStatus.FAILED.value, last_error=reason)
        return Outcome.FAILED

    def _settle(self, mail: OutgoingMail, **values: Any) -> None:
        # Fenced by the attempt number: only the lease holder of this attempt may reschedule
        # or fail the message (a holder whose lease expired is ignored).
        t = OUTBOX
        with self.engine.begin() as conn:
            result = conn.execute(
                update(t)
                .where(
                    t.c.id == mail.id,
                    t.c.status == MailStatus.SENDING.value,
                    t.c.attempts == mail.attempts,
                )
                .values(locked_until=None, **values)
            )
        if result.rowcount == 0:
            log.warning(
                "mail %s: lease lost before attempt %d was recorded", mail.id, mail.attempts
            )

    # -- a batch -------------------------------------------------------------------------------

    def drain(
        self, *, limit: int | None = None, stop: threading.Event | None = None
    ) -> DrainReport:
        """Claim and send due messages one by one until none is due, ``limit`` were handled, or
        ``stop`` is set (checked between messages); then close the sender's connection.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; a message being sent stays
                leased and is retried when its lease ends.
        """
        report = DrainReport()
        try:
            while (limit is None or report.total < limit) and not (stop and stop.is_set()):
                mail = self.claim()
                if mail is None:
                    break
                report.add(self.deliver(mail))
        finally:
            self.sender.close()
        return report
