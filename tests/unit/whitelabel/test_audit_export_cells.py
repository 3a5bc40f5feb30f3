"""The audit export's pure parts: spreadsheet-safe CSV cells and the filter's validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from whitelabel.accounts.audit_service import csv_cell, parse_filter, parse_limit
from whitelabel.errors import ValidationFailed


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        ("", ""),
        ("plain", "plain"),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        (" =1", " =1"),  # not at the start: shown as text by spreadsheets
        ("'=1", "'=1"),
        ("２", "２"),  # noqa: RUF001  (full-width digits are not formula marks)
    ],
)
def test_csv_cell(value: str | None, cell: str) -> None:
    assert csv_cell(value) == cell


def test_parse_filter_reads_times_as_utc_instants() -> None:
    flt = parse_filter(since="2026-03-01", until="2026-03-02T01:00:00+02:00")
    assert flt.since == datetime(2026, 3, 1, tzinfo=UTC)
    assert flt.until == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert flt.until.utcoffset() == timedelta(hours=2)
    assert parse_filter(since="2026-03-01T10:00:00").since == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_filter(until="2026-03-01T10:00:00Z").until == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_filter().describe() == {}
    assert parse_filter(action="user.login", since="2026-03-01").describe() == {
        "action": "user.login",
        "since": "2026-03-01T00:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"since": "2026-02-30"}, "invalid_timestamp"),
        ({"since": "2026-03-01T10:00:00+25:00"}, "invalid_timestamp"),
        ({"until": "1e9"}, "invalid_timestamp"),
        ({"since": "2026-03-02", "until": "2026-03-01T23:59:59"}, "invalid_range"),
        ({"action": "user login"}, "invalid_action"),
        ({"action_prefix": "Ü"}, "invalid_action"),
        ({"target": "\u200b"}, "invalid_target"),  # zero-width space: not printable
    ],
)
def test_parse_filter_refuses(kwargs: dict[str, str], code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_filter(**kwargs)
    assert caught.value.code == code


@pytest.mark.parametrize(("raw", "limit"), [(None, 100), ("1", 1), ("500", 500), ("0042", 42)])
def test_parse_limit(raw: str | None, limit: int) -> None:
    assert parse_limit(raw) == limit
