"""The ``whitelabel tenants|domains`` commands against real PostgreSQL.

Most calls go through click's ``CliRunner`` with the environment set (the CLI builds its runtime
from the environment on first use); the confirmation prompt and the entry point are also run as a
real subprocess with a real stdin.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from migrations import runner
from tenants.schemas import TenantView
from tests.integration.tenancy_support import cli_env, run_cli
from whitelabel.cli import cli
from whitelabel.runtime import Runtime
from whitelabel.testing import TenantFactory


def _slug() -> str:
    return f"cli{secrets.token_hex(5)}"


def _invoke(runtime: Runtime, *args: str, stdin: str | None = None, **env: str) -> Result:
    runner_ = CliRunner(env=cli_env(runtime.settings, **env))
    return runner_.invoke(cli, list(args), input=stdin, catch_exceptions=False)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _registry_rows(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.db.sync_engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM platform.tenants),"
                " (SELECT count(*) FROM platform.domains),"
                " (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_%')"
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _schema_exists(runtime: Runtime, schema: str) -> bool:
    with runtime.db.sync_engine.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
        ).first()
    return found is not None


def test_create_show_list_and_idempotent_create(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    runtime = whitelabel_runtime
    slug = _slug()
    host = f"{slug}.example.com"
    make_tenant.created.append(slug)
    created = _invoke(runtime, "tenants", "create", slug, "--name", "CLI Tenant", "--domain", host)
    assert created.exit_code == 0, created.output
    assert "created" in created.stderr
    assert f"{slug}  CLI Tenant  [active]" in created.stdout
    assert f"host     {host}  custom" in created.stdout
    view = runtime.tenants.get(slug)
    assert (
        f"schema   {view.schema_name}  revision {runner.head('tenant')} (ready)" in created.stdout
    )

    shown = _json(_invoke(runtime, "tenants", "show", slug, "--json"))
    assert shown == json.loads(json.dumps(view.to_dict()))
    assert shown["status"] == "active" and shown["schema_status"] == "ready"
    assert sorted(d["hostname"] for d in shown["domains"]) == sorted(
        [host, f"{slug}.{runtime.settings.base_domain}"]
    )

    again = _invoke(runtime, "tenants", "create", slug, "--name", "CLI Tenant", "--json")
    assert json.loads(again.stdout)["id"] == str(view.id)
    plain_again = _invoke(runtime, "tenants", "create", slug, "--name", "CLI Tenant")
    assert plain_again.exit_code == 0 and plain_again.stderr.strip() == "already exists"
    other_name = _invoke(runtime, "tenants", "create", slug, "--name", "Another")
    assert other_name.exit_code == 1
    assert "[slug_taken]" in other_name.stderr

    listed = _json(_invoke(runtime, "tenants", "list", "--json"))
    assert [t for t in listed if t["slug"] == slug] == [shown]
    table = _invoke(runtime, "tenants", "list")
    assert table.exit_code == 0 and slug in table.stdout


def test_status_commands_and_purge_confirmation(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    runtime = whitelabel_runtime
    tenant = make_tenant()
    other = make_tenant()
    slug = tenant.slug
    for command, status in (
        ("suspend", "suspended"),
        ("suspend", "suspended"),
        ("resume", "active"),
        ("resume", "active"),
        ("delete", "deleted"),
        ("delete", "deleted"),
    ):
        result = _invoke(runtime, "tenants", command, slug)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"{slug}: {status}"
    refused = _invoke(runtime, "tenants", "resume", slug)
    assert refused.exit_code == 1 and "[tenant_deleted]" in refused.stderr

    listed = [t["slug"] for t in _json(_invoke(runtime, "tenants", "list", "--json"))]
    assert slug not in listed and other.slug in listed
    everything = [t["slug"] for t in _json(_invoke(runtime, "tenants", "list", "--all", "--json"))]
    assert slug in everything

    # purge asks first; "n" aborts and drops nothing
    declined = _invoke(runtime, "tenants", "purge", slug, stdin="n\n")
    assert declined.exit_code == 1
    assert f"Drop schema {tenant.schema_name}" in declined.output and "Aborted" in declined.output
    assert _schema_exists(runtime, tenant.schema_name)
    assert runtime.tenants.get(slug).purged_at is None

    not_deleted = _invoke(runtime, "tenants", "purge", other.slug, "--yes")
    assert not_deleted.exit_code == 1 and "[tenant_not_deleted]" in not_deleted.stderr
    assert _schema_exists(runtime, other.schema_name)

    confirmed = _invoke(runtime, "tenants", "purge", slug, stdin="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert f"{slug}: purged" in confirmed.stdout
    assert not _schema_exists(runtime, tenant.schema_name)
    gone = _invoke(runtime, "tenants", "show", slug)
    assert gone.exit_code == 1 and "[tenant_not_found]" in gone.stderr
    again = _invoke(runtime, "tenants", "purge", slug, "--yes")
    assert again.exit_code == 0 and again.stdout.strip() == f"{slug}: already purged"
    assert _schema_exists(runtime, other.schema_name)


def test_purge_prompt_through_a_real_process(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    runtime = whitelabel_runtime
    tenant = make_tenant()
    runtime.tenants.delete(tenant.slug)
    declined = run_cli(runtime.settings, ["tenants", "purge", tenant.slug], stdin="n\n")
    assert declined.returncode == 1
    assert "Aborted" in declined.stderr
    assert _schema_exists(runtime, tenant.schema_name)
    accepted = run_cli(runtime.settings, ["tenants", "purge", tenant.slug, "--yes"])
    assert accepted.returncode == 0, accepted.stderr
    assert not _schema_exists(runtime, tenant.schema_name)


def test_domain_commands(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    runtime = whitelabel_runtime
    first, second = tenant_pair
    host = f"shop.{first.slug}.example.com"
    for _ in range(2):
        added = _invoke(runtime, "domains", "add", first.slug, host)
        assert added.exit_code == 0, added.output
        assert f"host     {host}  custom" in added.stdout
    taken = _invoke(runtime, "domains", "add", second.slug, host)
    assert taken.exit_code == 1 and "[host_taken]" in taken.stderr
    bad = _invoke(runtime, "domains", "add", first.slug, "shop.localhost")
    assert bad.exit_code == 1 and "[invalid_hostname]" in bad.stderr
    managed = _invoke(runtime, "domains", "remove", first.slug, first.primary_host or "")
    assert managed.exit_code == 1 and "[managed_host]" in managed.stderr
    for _ in range(2):
        removed = _invoke(runtime, "domains", "remove", first.slug, host)
        assert removed.exit_code == 0, removed.output
        assert host not in removed.stdout
    assert [d.hostname for d in runtime.tenants.get(first.slug).domains] == [first.primary_host]
    assert [d.hostname for d in runtime.tenants.get(second.slug).domains] == [second.primary_host]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["tenants", "create", "Bad_Slug", "--name", "x"], "invalid_slug"),
        (["tenants", "create", "www", "--name", "x"], "invalid_slug"),
        (["tenants", "create", "a" * 64, "--name", "x"], "invalid_slug"),
        (["tenants", "create", "{slug}", "--name", " "], "invalid_name"),
        (["tenants", "create", "{slug}", "--name", "x", "--domain", "1.2.3.4"], "invalid_hostname"),
        (["tenants", "create", "{slug}", "--name", "x", "--theme", "nope"], "unknown_theme"),
        (["tenants", "create", "{slug}", "--name", "x", "--theme", "Campus"], "unknown_theme"),
        (["tenants", "create", "{slug}", "--name", "x", "--theme", "../campus"], "unknown_theme"),
        (["tenants", "show", "{slug}"], "tenant_not_found"),
        (["tenants", "suspend", "{slug}"], "tenant_not_found"),
        (["tenants", "resume", "{slug}"], "tenant_not_found"),
        (["tenants", "delete", "{slug}"], "tenant_not_found"),
        (["tenants", "purge", "{slug}", "--yes"], "tenant_not_found"),
        (["domains", "add", "{slug}", "x.example.com"], "tenant_not_found"),
        (["domains", "remove", "{slug}", "x.example.com"], "tenant_not_found"),
    ],
)
def test_bad_input_exits_1_with_the_code(
    whitelabel_runtime: Runtime, args: list[str], code: str
) -> None:
    slug = _slug()
    before = _registry_rows(whitelabel_runtime)
    result = _invoke(whitelabel_runtime, *(a.format(slug=slug) for a in args))
    assert result.exit_code == 1
    assert result.stderr.startswith("whitelabel: ") and result.stderr.rstrip().endswith(f"[{code}]")
    assert result.stdout == ""
    assert _registry_rows(whitelabel_runtime) == before


@pytest.mark.parametrize(
    ("given", "stored"),
    [(None, "campus"), ("default", "campus"), ("campus", "campus"), ("corporate", "corporate")],
)
def test_create_picks_a_built_in_theme(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory, given: str | None, stored: str
) -> None:
    slug = _slug()
    make_tenant.created.append(slug)
    theme = [] if given is None else ["--theme", given]
    created = _json(
        _invoke(whitelabel_runtime, "tenants", "create", slug, "--name", "T", *theme, "--json")
    )
    assert created["theme"] == stored and created["theme_version"] == 0
    assert whitelabel_runtime.tenants.get(slug).context().theme == stored


def test_usage_and_settings_errors(whitelabel_runtime: Runtime) -> None:
    missing_name = _invoke(whitelabel_runtime, "tenants", "create", _slug())
    assert missing_name.exit_code == 2 and "--name" in missing_name.stderr
    # --admin-email (tests/integration/test_users_cli.py) checks the address before creating
    admin = _invoke(
        whitelabel_runtime, "tenants", "create", _slug(), "--name", "x", "--admin-email", "a@b.c"
    )
    assert admin.exit_code == 1 and "[invalid_email]" in admin.stderr
    no_secret = _invoke(whitelabel_runtime, "tenants", "list", WHITELABEL_SECRET_KEY="")
    assert no_secret.exit_code == 2
    assert no_secret.stderr.startswith("whitelabel: setting WHITELABEL_SECRET_KEY: expected")
