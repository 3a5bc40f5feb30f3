"""Transactional mail against real PostgreSQL and a real SMTP server (aiosmtpd) on loopback.

The outbox is shared by the whole test session: every test sends to recipients of its own
(``unique_address``) and asserts on those, so mail that other tests left behind may pass through
these dispatchers without changing any result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import make_url

from tenants.schemas import TenantView
from tests.conftest import require_program
from tests.integration.mail_support import (
    MAIL_FROM,
    SmtpRecorder,
    TlsFiles,
    authenticator,
    dispatcher,
    free_port,
    make_tls_files,
    outbox_row,
    smtp_server,
    unique_address,
)
from tests.integration.tenancy_support import audit_events, cli_env, wait_until
from whitelabel.cli import cli
from whitelabel.db.engine import Database
from whitelabel.errors import ValidationFailed
from whitelabel.mail import enqueue, enqueue_sync
from whitelabel.mail.config import parse_mail_url
from whitelabel.mail.errors import MailAlreadySent, MailNotFound
from whitelabel.mail.models import MailOutbox
from whitelabel.mail.plugin import MailPlugin
from whitelabel.mail.senders import ConsoleSender, SmtpSender
from whitelabel.mail.service import CHANNEL, retry_failed, retry_mail
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import record_event

TEMPORARY = "451 4.3.0 Try again later"


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpRecorder, int]]:
    """A recording SMTP server: (recorder, port)."""
    recorder = SmtpRecorder()
    with smtp_server(recorder) as port:
        yield recorder, port


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    openssl = require_program("openssl", "makes the test SMTP server's certificate")
    return make_tls_files(openssl, tmp_path_factory.mktemp("tls"))


def _enqueue(
    runtime: Runtime,
    tenant: TenantView | None,
    to: str,
    *,
    subject: str = "Hello",
    text: str = "Hello there.",
    html: str | None = None,
    kind: str = "test",
    from_name: str | None = None,
) -> uuid.UUID:
    """``enqueue_sync`` in a tenant (or platform) session, committed."""
    ctx = tenant.context() if tenant is not None else None
    session = runtime.db.tenant_sync_session(ctx) if ctx else runtime.db.platform_sync_session()
    with session:
        mail_id = enqueue_sync(
            session,
            tenant=ctx,
            to=to,
            subject=subject,
            text=text,
            html=html,
            kind=kind,
            from_name=from_name,
        )
        session.commit()
    return mail_id


def _lf(content: str) -> str:
    return content.replace("\r\n", "\n")


def _db_now(runtime: Runtime) -> Any:
    with runtime.db.sync_engine.connect() as conn:
        return conn.scalar(select(func.now()))


# -- retries and exactly once --------------------------------------------------------------------


def test_sender_fails_twice_then_succeeds_and_the_message_is_sent_exactly_once(
    whitelabel_runtime: Runtime, make_tenant: Any, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    engine = whitelabel_runtime.db.sync_engine
    to = unique_address("retry")
    recorder.fail_data(to, TEMPORARY, TEMPORARY)
    mail_id = _enqueue(whitelabel_runtime, make_tenant(), to, subject="Reset your password")

    report = dispatcher(engine, port).drain()

    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts) == ("sent", 3)
    assert row.sent_at is not None and row.locked_until is None
    assert row.last_error == f"message refused: {TEMPORARY}"
    assert row.message_id == f"<{mail_id}@mail-tests.example>"
    assert report.sent >= 1 and report.retried >= 2
    # three attempts reached the server, all the same message; one was accepted
    assert recorder.attempts_to(to) == [row.message_id] * 3
    delivered = recorder.to(to)
    assert len(delivered) == 1
    assert delivered[0].message["Subject"] == "Reset your password"
    # sent bodies are not kept (they may hold live links)
    assert (row.text_body, row.html_body) == ("", None)

    dispatcher(engine, port).drain()
    assert len(recorder.to(to)) == 1
    assert outbox_row(engine, mail_id).attempts == 3


def test_a_temporary_failure_waits_with_backoff(
    whitelabel_runtime: Runtime, make_tenant: Any, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    engine = whitelabel_runtime.db.sync_engine
    to = unique_address("later")
    recorder.fail_data(to, TEMPORARY)
    mail_id = _enqueue(whitelabel_runtime, make_tenant(), to)
    before = _db_now(whitelabel_runtime)
    dispatcher(engine, port, retry_base=60.0, retry_cap=3600.0).drain()
    after = _db_now(whitelabel_runtime)

    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts, row.locked_until) == ("pending", 1, None)
    # 60 s after the first attempt, of which jitter takes up to half
    assert before + timedelta(seconds=30) <= row.next_attempt_at <= after + timedelta(seconds=60)
    assert row.last_error == f"message refused: {TEMPORARY}"
    dispatcher(engine, port).drain()  # not due yet: not tried again
    assert len(recorder.attempts_to(to)) == 1
    assert recorder.to(to) == []


def test_temporary_failures_give_up_after_max_attempts_and_can_be_requeued(
    whitelabel_runtime: Runtime, make_tenant: Any, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    engine = whitelabel_runtime.db.sync_engine
    to = unique_address("flaky")
    recorder.fail_data(to, *[TEMPORARY] * 3)
    mail_id = _enqueue(whitelabel_runtime, make_tenant(), to)

    dispatcher(engine, port, max_attempts=3).drain()
    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts, row.sent_at) == ("failed", 3, None)
    assert row.text_body == "Hello there."  # kept for a retry
    assert recorder.to(to) == []

    with engine.begin() as conn:
        assert retry_failed(conn) >= 1
    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts) == ("pending", 0)
    dispatcher(engine, port, max_attempts=3).drain()
    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(recorder.to(to)) == 1


@pytest.mark.parametrize(
    ("stage", "reply", "error"),
    [
        ("rcpt", "550 5.1.1 No such user here", "recipient refused: 550 5.1.1 No such user here"),
        ("data", "554 5.7.1 Rejected as spam", "message refused: 554 5.7.1 Rejected as spam"),
    ],
)
def test_a_permanent_refusal_fails_at_once_and_retry_requeues_it(
    whitelabel_runtime: Runtime,
    make_tenant: Any,
    smtp: tuple[SmtpRecorder, int],
    stage: str,
    reply: str,
    error: str,
) -> None:
    recorder, port = smtp
    engine = whitelabel_runtime.db.sync_engine
    to = unique_address("gone")
    if stage == "rcpt":
        recorder.rcpt_replies[to] = reply
    else:
        recorder.fail_data(to, reply)
    mail_id = _enqueue(whitelabel_runtime, make_tenant(), to)

    dispatcher(engine, port).drain()
    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, error)
    assert recorder.to(to) == []

    recorder.rcpt_replies.pop(to, None)
    with engine.begin() as conn:
        assert retry_mail(conn, mail_id) is True
    with engine.begin() as conn:
        assert retry_mail(conn, mail_id) is False  # already queued
    dispatcher(engine, port).drain()
    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(recorder.to(to)) == 1
    with engine.begin() as conn, pytest.raises(MailAlreadySent) as caught:
        retry_mail(conn, mail_id)
    assert caught.value.code == "mail_already_sent"
    with engine.begin() as conn, pytest.raises(MailNotFound) as missing:
        retry_mail(conn, uuid.uuid4())
    assert missing.value.code == "mail_not_found"


def test_an_unreachable_server_is_a_temporary_failure(
    whitelabel_runtime: Runtime, make_tenant: Any
) -> None:
    engine = whitelabel_runtime.db.sync_engine
    port = free_port()  # nothing listens there
    mail_id = _enqueue(whitelabel_runtime, make_tenant(), unique_address("nowhere"))
    dispatcher(engine, port, retry_base=60.0, retry_cap=60.0).drain()
    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error.startswith(f"connecting to 127.0.0.1:{port}: ConnectionRefusedError")


def test_two_dispatchers_racing_deliver_each_message_once(
    whitelabel_runtime: Runtime, make_tenant: Any, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    engine = whitelabel_runtime.db.sync_engine
    tenant = make_tenant()
    addresses = [unique_address("race") for _ in range(12)]
    ids = [_enqueue(whitelabel_runtime, tenant, to) for to in addresses]
    recorder.rendezvous = 2  # the first two DATA commands wait for each other
    start = threading.Barrier(2)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        worker = dispatcher(engine, port)
        try:
            start.wait(timeout=30)
            reports.append(worker.drain())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert recorder.met, "the two dispatchers never sent at the same time"
    assert sum(r.sent for r in reports) >= len(ids)
    for mail_id, to in zip(ids, addresses, strict=True):
        row = outbox_row(engine, mail_id)
        assert (row.status, row.attempts) == ("sent", 1)
        assert len(recorder.attempts_to(to)) == 1
        assert len(recorder.to(to)) == 1


def test_a_leased_message_waits_and_is_sent_again_when_its_dispatcher_dies(
    whitelabel_runtime: Runtime, make_tenant: Any, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    engine = whitelabel_runtime.db.sync_engine
    to = unique_address("lease")
    mail_id = _enqueue(whitelabel_runtime, make_tenant(), to)
    first = dispatcher(engine, port)
    claimed = first.claim()
    while claimed is not None and claimed.id != mail_id:  # mail other tests left: send it
        first.deliver(claimed)
        claimed = first.claim()
    assert claimed is not None  # ours, claimed; and that dispatcher dies here
    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts) == ("sending", 1)
    assert row.locked_until == row.next_attempt_at and row.locked_until > _db_now(
        whitelabel_runtime
    )
    dispatcher(engine, port).drain()
    assert recorder.to(to) == []  # leased: nobody else touches it

    with engine.begin() as conn:  # the lease runs out
        conn.execute(
            update(MailOutbox)
            .where(MailOutbox.id == mail_id)
            .values(next_attempt_at=func.now() - timedelta(seconds=1))
        )
    dispatcher(engine, port).drain()
    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts) == ("sent", 2)
    assert [r.message["Message-ID"] for r in recorder.to(to)] == [claimed.message_id]


# -- enqueue: transactions, tenants, input ------------------------------------------------------


def test_enqueue_in_a_rolled_back_transaction_sends_nothing(
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    smtp: tuple[SmtpRecorder, int],
) -> None:
    recorder, port = smtp
    runtime = whitelabel_runtime
    tenant, other = tenant_pair
    ctx = tenant.context()
    dropped_to, kept_to = unique_address("dropped"), unique_address("kept")

    async def scenario() -> tuple[uuid.UUID, uuid.UUID]:
        db = Database(runtime.settings.sqlalchemy_url, pool_size=2)
        try:
            async with db.tenant_session(ctx) as session:
                dropped = await enqueue(
                    session, tenant=ctx, to=dropped_to, subject="S", text="T", kind="test"
                )
                record_event(session, "mail.test", actor="test", target=dropped_to)
                await session.flush()
                await session.rollback()
            async with db.tenant_session(ctx) as session:
                event = record_event(session, "mail.test", actor="test", target=kept_to)
                kept = await enqueue(
                    session, tenant=ctx, to=kept_to, subject="S", text="T", kind="test"
                )
                assert event in session.new  # enqueue flushed none of the caller's objects
                await session.commit()
            return dropped, kept
        finally:
            await db.dispose()

    dropped, kept = asyncio.run(scenario())
    engine = runtime.db.sync_engine
    assert outbox_row(engine, dropped) is None
    row = outbox_row(engine, kept)
    assert (row.tenant_id, row.from_name, row.status) == (ctx.id, tenant.name, "pending")

    dispatcher(engine, port).drain()
    assert recorder.to(dropped_to) == []
    [received] = recorder.to(kept_to)
    assert received.message["From"].addresses[0].display_name == tenant.name

    # the change and its mail committed together, in the tenant's own schema only
    def mail_events(view: TenantView) -> list[tuple[str, str, str | None]]:
        return [e for e in audit_events(runtime.db, view) if e[0] == "mail.test"]

    assert mail_events(tenant) == [("mail.test", "test", kept_to)]
    assert mail_events(other) == []


def test_platform_mail_has_no_tenant_and_no_display_name(
    whitelabel_runtime: Runtime, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    engine = whitelabel_runtime.db.sync_engine
    to = unique_address("platform")
    mail_id = _enqueue(whitelabel_runtime, None, to, kind="platform_notice")
    row = outbox_row(engine, mail_id)
    assert (row.tenant_id, row.from_name, row.kind) == (None, None, "platform_notice")
    dispatcher(engine, port).drain()
    [received] = recorder.to(to)
    assert str(received.message["From"]) == MAIL_FROM
    assert received.mail_from == MAIL_FROM


def test_enqueue_sync_joins_the_callers_transaction_without_flushing_it(
    whitelabel_runtime: Runtime, make_tenant: Any
) -> None:
    tenant = make_tenant()
    ctx = tenant.context()
    with whitelabel_runtime.db.tenant_sync_session(ctx) as session:
        event = record_event(session, "mail.sync", actor="test")
        mail_id = enqueue_sync(
            session, tenant=ctx, to=unique_address(), subject="S", text="T", kind="test"
        )
        assert event in session.new
        assert outbox_row(whitelabel_runtime.db.sync_engine, mail_id) is None  # not committed
        session.rollback()
    assert outbox_row(whitelabel_runtime.db.sync_engine, mail_id) is None


def test_commit_wakes_listeners_with_notify(whitelabel_runtime: Runtime, make_tenant: Any) -> None:
    url = make_url(whitelabel_runtime.settings.sqlalchemy_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        _enqueue(whitelabel_runtime, make_tenant(), unique_address("notify"))
        notes = list(conn.notifies(timeout=10, stop_after=1))
    assert [n.channel for n in notes] == [CHANNEL]


HOSTILE: list[tuple[str, str, str]] = [
    ("subject", "Hello\r\nBcc: victim@example.com", "invalid_mail_header"),
    ("subject", "Hello\nBcc: victim@example.com", "invalid_mail_header"),
    ("subject", "Hello\rBcc: victim@example.com", "invalid_mail_header"),
    ("subject", "Hello\u2028Bcc: victim@example.com", "invalid_mail_header"),
    ("subject", "Hello\x85Bcc: victim@example.com", "invalid_mail_header"),
    ("subject", "Hello\x00", "invalid_mail_header"),
    ("subject", "Tab\there", "invalid_mail_header"),
    ("subject", "", "invalid_mail_header"),
    ("subject", "   ", "invalid_mail_header"),
    ("subject", "x" * 301, "invalid_mail_header"),
    ("from_name", "Acme\r\nBcc: victim@example.com", "invalid_mail_header"),
    ("from_name", "Acme\n", "invalid_mail_header"),
    ("from_name", "", "invalid_mail_header"),
    ("from_name", "x" * 201, "invalid_mail_header"),
    ("to", "ada@example.com\r\nBcc: victim@example.com", "invalid_mail_address"),
    ("to", "ada@example.com\n", "invalid_mail_address"),
    ("to", "ada@example.com, victim@example.com", "invalid_mail_address"),
    ("to", "Ada <ada@example.com>", "invalid_mail_address"),
    ("to", "<ada@example.com>", "invalid_mail_address"),
    ("to", "ada@example.com (comment)", "invalid_mail_address"),
    ("to", '"ada lovelace"@example.com', "invalid_mail_address"),
    ("to", "ada@", "invalid_mail_address"),
    ("to", "@example.com", "invalid_mail_address"),
    ("to", "ada", "invalid_mail_address"),
    ("to", "ada@exa mple.com", "invalid_mail_address"),
    ("to", "ad\u0430@example.com", "invalid_mail_address"),  # Cyrillic a: needs SMTPUTF8
    ("to", "a" * 65 + "@example.com", "invalid_mail_address"),
    ("to", "ada@" + "a" * 250 + ".com", "invalid_mail_address"),
    ("to", "", "invalid_mail_address"),
    ("kind", "Password Reset", "invalid_mail_header"),
    ("kind", "reset\r\n", "invalid_mail_header"),
    ("kind", "", "invalid_mail_header"),
    ("text", "", "invalid_mail_content"),
    ("text", "nul\x00byte", "invalid_mail_content"),
    ("text", "x" * 1_000_001, "invalid_mail_content"),
    ("html", "<p>nul\x00</p>", "invalid_mail_content"),
]


@pytest.mark.parametrize(("field", "value", "code"), HOSTILE)
def test_hostile_or_bad_input_is_refused_and_nothing_is_stored(
    whitelabel_runtime: Runtime, make_tenant: Any, field: str, value: str, code: str
) -> None:
    tenant = make_tenant()
    ctx = tenant.context()
    kind = f"hostile_{uuid.uuid4().hex[:8]}"
    args: dict[str, Any] = {
        "to": unique_address(),
        "subject": "Hello",
        "text": "Body",
        "kind": kind,
        "from_name": None,
        "html": None,
    }
    args[field] = value
    with whitelabel_runtime.db.tenant_sync_session(ctx) as session:
        with pytest.raises(ValidationFailed) as caught:
            enqueue_sync(session, tenant=ctx, **args)
        session.commit()
    assert (caught.value.code, caught.value.status_code) == (code, 422)
    assert caught.value.detail == {"field": field}
    with whitelabel_runtime.db.sync_engine.connect() as conn:
        stored = conn.scalar(
            select(func.count()).select_from(MailOutbox).where(MailOutbox.tenant_id == ctx.id)
        )
    assert stored == 0


def test_a_row_written_around_enqueue_cannot_inject_headers(
    whitelabel_runtime: Runtime, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    engine = whitelabel_runtime.db.sync_engine
    to = unique_address("raw")
    mail_id = uuid.uuid4()
    with engine.begin() as conn:  # as a buggy module or a hand-written INSERT could
        conn.execute(
            insert(MailOutbox).values(
                id=mail_id,
                kind="raw",
                to_address=to,
                subject="Hi\r\nBcc: victim@example.com",
                text_body="Body",
            )
        )
    dispatcher(engine, port).drain()
    row = outbox_row(engine, mail_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error.startswith("cannot build the message")
    assert recorder.attempts_to(to) == []
    assert not any("victim@example.com" in r.rcpt_tos for r in recorder.received)


def test_a_display_name_with_quotes_and_brackets_stays_one_name(
    whitelabel_runtime: Runtime, make_tenant: Any, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    to = unique_address("quoted")
    name = 'Ada "the" Lovelace, Ltd <victim@example.com>; Bcc: x@example.com'
    _enqueue(whitelabel_runtime, make_tenant(), to, from_name=name)
    dispatcher(whitelabel_runtime.db.sync_engine, port).drain()
    [received] = recorder.to(to)
    [address] = received.message["From"].addresses
    assert (address.display_name, address.addr_spec) == (name, MAIL_FROM)
    assert received.rcpt_tos == [to]
    assert received.message["Bcc"] is None


# -- message structure and senders -----------------------------------------------------------


def test_html_and_text_make_a_multipart_alternative(
    whitelabel_runtime: Runtime, make_tenant: Any, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    tenant = make_tenant(name="Université Nord ✓")
    both, plain = unique_address("both"), unique_address("plain")
    text = "Réinitialisez votre mot de passe : https://example.com/reset?t=abc\n"
    html = "<p>Réinitialisez <a href='https://example.com/reset?t=abc'>ici</a></p>\n"
    both_id = _enqueue(
        whitelabel_runtime, tenant, both, subject="Mot de passe ✓", text=text, html=html
    )
    _enqueue(whitelabel_runtime, tenant, plain, text=text)
    dispatcher(whitelabel_runtime.db.sync_engine, port).drain()

    [received] = recorder.to(both)
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert _lf(parts[0].get_content()) == text  # the wire has CRLF line ends
    assert _lf(parts[1].get_content()) == html
    assert message["Subject"] == "Mot de passe ✓"
    assert message["To"] == both
    assert message["From"].addresses[0].display_name == "Université Nord ✓"
    assert message["Message-ID"] == f"<{both_id}@mail-tests.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime is not None

    [only_text] = recorder.to(plain)
    assert only_text.message.get_content_type() == "text/plain"
    assert not only_text.message.is_multipart()
    assert _lf(only_text.message.get_content()) == text


def test_console_sender_prints_the_whole_message_decoded(
    whitelabel_runtime: Runtime, make_tenant: Any
) -> None:
    stream = io.StringIO()
    to = unique_address("console")
    link = "https://campus.localhost/reset?token=" + "A1b2" * 30
    mail_id = _enqueue(
        whitelabel_runtime,
        make_tenant(),
        to,
        subject="Réinitialiser ✓",
        text=f"Open {link} to continue.",
        html=f"<a href='{link}'>Reset</a>",
    )
    dispatcher(whitelabel_runtime.db.sync_engine, sender=ConsoleSender(stream)).drain()
    out = stream.getvalue()
    start = out.index(f"----- mail from {MAIL_FROM} to {to} -----")
    block = out[start : out.index("----- end of mail -----", start)]
    assert "Subject: Réinitialiser ✓" in block
    assert f"Message-ID: <{mail_id}@mail-tests.example>" in block
    assert f"Open {link} to continue." in block  # the link in one piece, clickable
    assert "--- text/plain ---" in block
    assert f"--- text/html ---\n<a href='{link}'>Reset</a>" in block
    assert outbox_row(whitelabel_runtime.db.sync_engine, mail_id).status == "sent"


# -- TLS and authentication ---------------------------------------------------------------------


def _tls_dispatcher(runtime: Runtime, url: str, context: Any) -> Any:
    sender = SmtpSender(parse_mail_url(url), ssl_context=context)
    return dispatcher(runtime.db.sync_engine, sender=sender, retry_base=60.0, retry_cap=60.0)


def test_starttls_with_authentication(
    whitelabel_runtime: Runtime, make_tenant: Any, tls_files: TlsFiles
) -> None:
    recorder = SmtpRecorder()
    tenant = make_tenant()
    options: dict[str, Any] = {
        "tls_context": tls_files.server_context(),
        "require_starttls": True,
        "authenticator": authenticator("mailer", "s3cr3t-Pa55"),
        "auth_required": True,
    }
    with smtp_server(recorder, **options) as port:
        good, bad, untrusted = (unique_address(p) for p in ("good", "bad", "untrusted"))
        good_id = _enqueue(whitelabel_runtime, tenant, good)
        base = f"smtp://mailer:%s@localhost:{port}?starttls=1&timeout=10"
        _tls_dispatcher(
            whitelabel_runtime, base % "s3cr3t-Pa55", tls_files.client_context()
        ).drain()
        assert outbox_row(whitelabel_runtime.db.sync_engine, good_id).status == "sent"
        assert len(recorder.to(good)) == 1

        bad_id = _enqueue(whitelabel_runtime, tenant, bad)
        wrong = "wr0ng-Pa55w0rd"
        _tls_dispatcher(whitelabel_runtime, base % wrong, tls_files.client_context()).drain()
        row = outbox_row(whitelabel_runtime.db.sync_engine, bad_id)
        assert (row.status, row.attempts) == ("pending", 1)  # fixable: kept for later
        assert row.last_error.startswith(f"connecting to localhost:{port}: 535")
        assert wrong not in row.last_error and "mailer" not in row.last_error

        untrusted_id = _enqueue(whitelabel_runtime, tenant, untrusted)
        _tls_dispatcher(whitelabel_runtime, base % "s3cr3t-Pa55", None).drain()  # system CAs
        row = outbox_row(whitelabel_runtime.db.sync_engine, untrusted_id)
        assert (row.status, row.attempts) == ("pending", 1)
        assert "CERTIFICATE_VERIFY_FAILED" in row.last_error
        assert recorder.to(bad) == [] and recorder.to(untrusted) == []


def test_smtps(whitelabel_runtime: Runtime, make_tenant: Any, tls_files: TlsFiles) -> None:
    recorder = SmtpRecorder()
    with smtp_server(recorder, ssl_context=tls_files.server_context()) as port:
        to = unique_address("smtps")
        mail_id = _enqueue(whitelabel_runtime, make_tenant(), to)
        url = f"smtps://127.0.0.1:{port}?timeout=10"
        _tls_dispatcher(whitelabel_runtime, url, tls_files.client_context()).drain()
    assert outbox_row(whitelabel_runtime.db.sync_engine, mail_id).status == "sent"
    assert len(recorder.to(to)) == 1


# -- the plugin and the command line ------------------------------------------------------------


def test_plugin_dispatches_in_the_background_woken_by_notify(
    whitelabel_runtime: Runtime, make_tenant: Any, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    settings = dataclasses.replace(
        whitelabel_runtime.settings,
        mail_dispatch=True,
        mail_url=f"smtp://127.0.0.1:{port}?timeout=10",
        mail_from=MAIL_FROM,
    )
    runtime = dataclasses.replace(whitelabel_runtime, settings=settings)
    # a long poll: only the NOTIFY sent on commit can make the mail leave within the wait below
    plugin = MailPlugin(runtime, poll_interval=120.0)
    app = Litestar(plugins=[plugin])
    engine = whitelabel_runtime.db.sync_engine
    tenant = make_tenant()
    first, second = unique_address("first"), unique_address("second")
    with TestClient(app):
        wait_until(lambda: plugin.listening, timeout=20, what="the mail listener")
        first_id = _enqueue(whitelabel_runtime, tenant, first)
        wait_until(
            lambda: outbox_row(engine, first_id).status == "sent",
            timeout=20,
            what="the background dispatcher",
        )
        # the dispatcher is now idle on its two-minute poll: only NOTIFY can wake it in time
        second_id = _enqueue(whitelabel_runtime, tenant, second)
        wait_until(
            lambda: outbox_row(engine, second_id).status == "sent",
            timeout=20,
            what="the NOTIFY wake-up",
        )
    assert (plugin._task, plugin.listening) == (None, False)  # stopped with the app
    assert len(recorder.to(first)) == 1 and len(recorder.to(second)) == 1


def test_plugin_does_nothing_when_dispatch_is_off(whitelabel_runtime: Runtime) -> None:
    settings = dataclasses.replace(whitelabel_runtime.settings, mail_dispatch=False)
    plugin = MailPlugin(dataclasses.replace(whitelabel_runtime, settings=settings))
    app = Litestar(plugins=[plugin])
    with TestClient(app):
        assert plugin._task is None  # never started
    with pytest.raises(RuntimeError):
        Litestar(plugins=[MailPlugin()])


def _cli(runtime: Runtime, *args: str, **env: str) -> Any:
    runner = CliRunner(env=cli_env(runtime.settings, **env))
    return runner.invoke(cli, list(args), catch_exceptions=False)


def test_cli_send_status_and_retry(
    whitelabel_runtime: Runtime, make_tenant: Any, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    runtime = whitelabel_runtime
    mail_url = f"smtp://127.0.0.1:{port}?timeout=10"
    tenant = make_tenant()
    ok, refused = unique_address("cli-ok"), unique_address("cli-refused")
    recorder.rcpt_replies[refused] = "550 5.1.1 No such user here"
    ok_id = _enqueue(runtime, tenant, ok)
    refused_id = _enqueue(runtime, tenant, refused, kind="cli_test")

    sent = _cli(runtime, "mail", "send", WHITELABEL_MAIL_URL=mail_url)
    assert sent.exit_code == 0, sent.output
    assert sent.stdout.startswith("sent ") and ", to retry " in sent.stdout
    assert len(recorder.to(ok)) == 1
    assert outbox_row(runtime.db.sync_engine, refused_id).status == "failed"

    status = _cli(runtime, "mail", "status", "--json")
    assert status.exit_code == 0, status.output
    view = json.loads(status.stdout)
    assert set(view["counts"]) == {"pending", "sending", "sent", "failed"}
    assert view["counts"]["sent"] >= 1 and view["counts"]["failed"] >= 1
    [failure] = [f for f in view["recent_failures"] if f["id"] == str(refused_id)]
    assert failure["to"] == refused and failure["kind"] == "cli_test"
    assert failure["last_error"] == "recipient refused: 550 5.1.1 No such user here"
    text = _cli(runtime, "mail", "status")
    assert text.exit_code == 0 and "failed" in text.stdout and str(refused_id) in text.stdout

    recorder.rcpt_replies.pop(refused)
    again = _cli(runtime, "mail", "retry", str(refused_id))
    assert (again.exit_code, again.stdout) == (0, f"{refused_id}: re-queued\n")
    twice = _cli(runtime, "mail", "retry", str(refused_id))
    assert (twice.exit_code, twice.stdout) == (0, f"{refused_id}: already queued\n")
    assert _cli(runtime, "mail", "send", WHITELABEL_MAIL_URL=mail_url).exit_code == 0
    assert len(recorder.to(refused)) == 1

    sent_already = _cli(runtime, "mail", "retry", str(ok_id))
    assert sent_already.exit_code == 1
    assert sent_already.stderr.strip().endswith("[mail_already_sent]")
    for bad in (str(uuid.uuid4()), "not-an-id", "'; DROP TABLE platform.mail_outbox; --"):
        unknown = _cli(runtime, "mail", "retry", bad)
        assert unknown.exit_code == 1
        assert unknown.stderr.strip().endswith("[mail_not_found]")
    assert _cli(runtime, "mail", "retry").exit_code == 2  # neither an id nor --all-failed
    assert _cli(runtime, "mail", "retry", str(ok_id), "--all-failed").exit_code == 2
    requeued = _cli(runtime, "mail", "retry", "--all-failed")
    assert requeued.exit_code == 0 and requeued.stdout.startswith("re-queued ")


def test_cli_refuses_a_bad_mail_setting(whitelabel_runtime: Runtime, tmp_path: Path) -> None:
    result = _cli(whitelabel_runtime, "mail", "status", WHITELABEL_MAIL_URL="smtp://u:hunter2@h")
    assert result.exit_code == 2
    assert result.stderr.startswith("whitelabel: setting WHITELABEL_MAIL_URL: expected ")
    assert "hunter2" not in result.stderr
