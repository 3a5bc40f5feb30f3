"""Settings from the environment: every variable valid and invalid, defaults, the CLI's one line."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from whitelabel.errors import SettingsError
from whitelabel.settings import Settings

SECRET = "s" * 32
GOOD: dict[str, str] = {"WHITELABEL_SECRET_KEY": SECRET}


def settings(**env: str) -> Settings:
    return Settings.from_env({**GOOD, **env})


def test_defaults() -> None:
    got = Settings.from_env(GOOD)
    assert got.database_url is None
    assert got.base_domain == "localhost"
    assert got.platform_host == "console.localhost"
    assert got.secret_key == SECRET
    assert got.data_dir == Path(".whitelabel")
    assert got.redis_url is None
    assert got.pool_size == 10
    assert got.allow_insecure_secret is False


def test_empty_values_mean_unset() -> None:
    got = settings(DATABASE_URL="", REDIS_URL="", WHITELABEL_DATA_DIR="")
    assert got.database_url is None
    assert got.redis_url is None
    assert got.data_dir == Path(".whitelabel")


def test_settings_are_frozen() -> None:
    got = Settings.from_env(GOOD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.base_domain = "evil.example"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("url", "sqlalchemy_url"),
    [
        (
            "postgresql+psycopg://app:pw@db.internal:5432/wl",
            "postgresql+psycopg://app:pw@db.internal:5432/wl",
        ),
        ("postgresql://app@127.0.0.1/wl", "postgresql+psycopg://app@127.0.0.1/wl"),
    ],
)
def test_database_url_valid(url: str, sqlalchemy_url: str) -> None:
    got = settings(DATABASE_URL=url)
    assert got.database_url == url
    assert got.sqlalchemy_url == sqlalchemy_url


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@127.0.0.1/wl",
        "sqlite:///wl.db",
        "postgresql+asyncpg://app@127.0.0.1/wl",
        "postgres://app@127.0.0.1/wl",
        "127.0.0.1:5432/wl",
        "not a url",
    ],
)
def test_database_url_invalid(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(DATABASE_URL=url)
    assert caught.value.variable == "DATABASE_URL"
    assert "postgresql" in caught.value.expected


def test_sqlalchemy_url_without_database_url_names_the_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        _ = Settings.from_env(GOOD).sqlalchemy_url
    assert caught.value.variable == "DATABASE_URL"


@pytest.mark.parametrize(
    ("value", "base", "platform"),
    [
        ("example.com", "example.com", "console.example.com"),
        ("Apps.Example.COM.", "apps.example.com", "console.apps.example.com"),
        ("localhost", "localhost", "console.localhost"),
        ("my-apps.example.co.uk", "my-apps.example.co.uk", "console.my-apps.example.co.uk"),
    ],
)
def test_base_domain_valid(value: str, base: str, platform: str) -> None:
    got = settings(WHITELABEL_BASE_DOMAIN=value)
    assert (got.base_domain, got.platform_host) == (base, platform)


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "bad_domain",
        "-example.com",
        "example-.com",
        "example..com",
        "https://example.com",
        "example.com:8000",
        "example.com/apps",
        "exa mple.com",
        "example.com\n",
        "b\u00fccher.de",
        "a" * 64 + ".com",
        ".".join(["a" * 63] * 4),
    ],
)
def test_base_domain_invalid(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(WHITELABEL_BASE_DOMAIN=value)
    assert caught.value.variable == "WHITELABEL_BASE_DOMAIN"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("admin.example.com", "admin.example.com"),
        ("Console.Example.COM.", "console.example.com"),
        ("ops.platform.net", "ops.platform.net"),
    ],
)
def test_platform_host_valid(value: str, expected: str) -> None:
    got = settings(WHITELABEL_BASE_DOMAIN="example.com", WHITELABEL_PLATFORM_HOST=value)
    assert got.platform_host == expected
    assert got.base_domain == "example.com"


@pytest.mark.parametrize(
    "value", ["bad_host", "console..example.com", "http://console", "console:80", "-c.example.com"]
)
def test_platform_host_invalid(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(WHITELABEL_PLATFORM_HOST=value)
    assert caught.value.variable == "WHITELABEL_PLATFORM_HOST"


def test_secret_key_missing() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({})
    assert caught.value.variable == "WHITELABEL_SECRET_KEY"
    assert "32" in caught.value.expected


def test_secret_key_empty_counts_as_missing() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"WHITELABEL_SECRET_KEY": ""})
    assert caught.value.variable == "WHITELABEL_SECRET_KEY"


@pytest.mark.parametrize("length", [1, 16, 31])
def test_secret_key_too_short(length: int) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"WHITELABEL_SECRET_KEY": "k" * length})
    assert caught.value.variable == "WHITELABEL_SECRET_KEY"


@pytest.mark.parametrize("length", [32, 64, 200])
def test_secret_key_long_enough(length: int) -> None:
    assert Settings.from_env({"WHITELABEL_SECRET_KEY": "k" * length}).secret_key == "k" * length


def test_missing_secret_allowed_only_when_asked() -> None:
    got = Settings.from_env({}, allow_insecure_secret=True)
    assert got.secret_key is None
    assert got.allow_insecure_secret is True


def test_short_secret_refused_even_when_insecure_allowed() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"WHITELABEL_SECRET_KEY": "short"}, allow_insecure_secret=True)
    assert caught.value.variable == "WHITELABEL_SECRET_KEY"


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:6379/0", "rediss://cache.internal:6380/1", "unix:///run/redis.sock"],
)
def test_redis_url_valid(url: str) -> None:
    assert settings(REDIS_URL=url).redis_url == url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "memcached://127.0.0.1", "redis"]
)
def test_redis_url_invalid(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(REDIS_URL=url)
    assert caught.value.variable == "REDIS_URL"


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("10", 10), ("1000", 1000), ("007", 7)])
def test_pool_size_valid(value: str, expected: int) -> None:
    assert settings(WHITELABEL_POOL_SIZE=value).pool_size == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0",
        "1001",
        "-1",
        "+5",
        " 5",
        "5 ",
        "1.5",
        "ten",
        "1e3",
        "\u00b2",  # SUPERSCRIPT TWO: str.isdigit() says yes, int() says no
        "\u0661\u0660",  # ARABIC-INDIC "10": int() reads it, a config file should not
        "9" * 5000,  # beyond int()'s digit limit
    ],
)
def test_pool_size_invalid(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(WHITELABEL_POOL_SIZE=value)
    assert caught.value.variable == "WHITELABEL_POOL_SIZE"


def test_pool_size_checked_when_built_directly() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(secret_key=SECRET, pool_size=0)
    assert caught.value.variable == "WHITELABEL_POOL_SIZE"


def test_data_dir() -> None:
    assert settings(WHITELABEL_DATA_DIR="/srv/wl").data_dir == Path("/srv/wl")


def test_settings_error_names_the_variable_in_its_message() -> None:
    error = SettingsError("REDIS_URL", "a Redis URL")
    assert (error.variable, error.expected) == ("REDIS_URL", "a Redis URL")
    assert str(error) == "REDIS_URL: expected a Redis URL"


def test_cli_reports_a_bad_setting_in_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("WHITELABEL_") and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        {
            "WHITELABEL_BASE_DOMAIN": "bad_domain!",
            "WHITELABEL_SECRET_KEY": SECRET,
            "WHITELABEL_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/never",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "whitelabel", "tenants", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("whitelabel: setting WHITELABEL_BASE_DOMAIN: expected ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()  # failed before touching anything
