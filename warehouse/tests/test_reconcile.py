from __future__ import annotations

import datetime as dt
import json

import pytest
from qbo_emulator.entities import resolve_sizes
from qbo_emulator.testing import EmulatorServer
from tap_quickbooks import query
from tap_quickbooks.auth import TokenStore
from tap_quickbooks.client import RealmConnection, RequestStats

from qbo_warehouse import cli
from qbo_warehouse.reconcile import (
    RECONCILED,
    ReconcileError,
    load,
    overridden,
    postgres_dsn,
    reconcile,
    render_text,
    tap_config,
)
from qbo_warehouse.streams import by_name

LEGACY = {"customers": 25, "items": 10, "invoices": 80}
# Every entity has rows: the ones this small a company would leave empty get a few.
SIZES = {e: 3 for e, n in resolve_sizes(**LEGACY).items() if n == 0}
COMPANY = {"seed": 5, **LEGACY, "realms": 1, "sizes": SIZES}
DDL = """
CREATE SCHEMA raw;
CREATE TABLE raw.{t} (
    realm_id text, id text, sync_token text, last_updated_time timestamp, payload jsonb,
    _sdc_deleted_at timestamp
);
"""


@pytest.fixture(scope="module")
def emu():
    # No rate limit: the tests load and reconcile every stream many times within a minute.
    with EmulatorServer(**COMPANY, rate_limit=0) as server:
        yield server


@pytest.fixture
def config(emu, tmp_path) -> dict:
    return {
        "client_id": "qbo-emulator-client",
        "client_secret": "qbo-emulator-secret",
        "refresh_token": emu.refresh_token(),
        "realm_id": emu.realm_ids[0],
        "api_url": emu.base_url,
        "auth_url": emu.token_url,
        "start_date": "2022-01-01",
        "end_date": "2026-01-01",
        "window_days": 200,
        "max_requests_per_minute": 100_000,
        "token_store_path": str(tmp_path / "tokens.json"),
    }


def _objects(qbo, stream, rng) -> list[dict]:
    """Every object of the stream in the range (singletons: whatever their time), paged."""
    if stream.kind == "singleton":
        return qbo.query(f"SELECT * FROM {stream.entity}", RequestStats()).get(stream.entity, [])
    found: list[dict] = []
    while True:
        text = query.select_query(
            stream.entity,
            rng,
            start_position=len(found) + 1,
            max_results=1000,
            include_inactive=stream.include_inactive,
        )
        page = qbo.query(text, RequestStats()).get(stream.entity, [])
        found.extend(page)
        if len(page) < 1000:
            return found


def _load_everything(conn, config) -> None:
    """Fill raw.qb_* the way the pipeline would (one row per object, UTC timestamps)."""
    settings = load(config)
    realm = settings.realm_ids[0]
    qbo = RealmConnection(settings, realm, TokenStore(settings.token_store_path))
    rng = query.Range(settings.start_date, settings.end_date)
    try:
        for stream in RECONCILED:
            conn.execute(DDL.format(t=stream.table).replace("CREATE SCHEMA raw;", ""))
            for obj in _objects(qbo, stream, rng):
                updated = dt.datetime.fromisoformat(obj["MetaData"]["LastUpdatedTime"])
                conn.execute(
                    f"INSERT INTO raw.{stream.table} VALUES (%s, %s, %s, %s, %s, NULL)",
                    (
                        realm,
                        obj["Id"],
                        obj["SyncToken"],
                        updated.astimezone(dt.UTC).replace(tzinfo=None),
                        json.dumps(obj),
                    ),
                )
    finally:
        qbo.close()


@pytest.fixture
def loaded(conn, config):
    conn.execute("CREATE SCHEMA raw")
    _load_everything(conn, config)
    return conn


def _windows_not_ok(report) -> list:
    return [w for s in report.streams for w in s.windows if not w.ok]


def _by_stream(report) -> dict:
    return {s.stream: s for s in report.streams}


def test_clean_load_matches_and_the_rotated_token_is_kept(loaded, config, emu) -> None:
    report = reconcile(loaded, load(config))
    assert report.ok, render_text(report)
    # Every stream of the tap's list, each with rows (the emulated company has every entity).
    assert [s.stream for s in report.streams] == [s.name for s in RECONCILED]
    empty = [s.stream for s in report.streams if not sum(w.qbo for w in s.windows)]
    assert not empty, f"streams with no rows in the emulated company: {empty}"
    streams = _by_stream(report)
    customers = streams["customers"]
    assert sum(w.qbo for w in customers.windows) == COMPANY["customers"]  # inactive too
    for stream in RECONCILED:
        got = streams[stream.name]
        if stream.kind == "singleton":
            assert [(w.qbo, w.postgres, w.window) for w in got.windows] == [(1, 1, None)]
        if stream.kind == "name_list" and stream.include_inactive:
            assert got.qbo_inactive == got.postgres_inactive is not None
        else:
            assert got.qbo_inactive is None
    assert customers.qbo_inactive, "the emulated company has inactive customers"
    # Every count (a window's, the inactive rows') and singleton in /batch, 30 to a request.
    windows = len(customers.windows)
    statements = sum(
        1 if s.kind == "singleton" else windows + (s.kind == "name_list" and s.include_inactive)
        for s in RECONCILED
    )
    assert report.requests == -(-statements // 30), statements
    # The emulator rotates on every refresh: the store holds the one that works now.
    stored = TokenStore(config["token_store_path"]).load()["entries"]
    assert [e["refresh_token"] for e in stored.values()] == [emu.refresh_token()]
    assert reconcile(loaded, load(config)).ok  # a second run refreshes from the store


def test_lost_stale_duplicate_and_deleted_rows_are_named(loaded, config) -> None:
    lost = loaded.execute(
        "DELETE FROM raw.qb_invoices WHERE id ="
        " (SELECT id FROM raw.qb_invoices ORDER BY last_updated_time LIMIT 1)"
        " RETURNING id, last_updated_time"
    ).fetchone()
    # a row QuickBooks never had, in another window (a swap within one window evens out)
    loaded.execute(
        "INSERT INTO raw.qb_invoices SELECT realm_id, '999999', sync_token, last_updated_time,"
        " payload, NULL FROM raw.qb_invoices ORDER BY last_updated_time DESC LIMIT 1"
    )
    loaded.execute("INSERT INTO raw.qb_items SELECT * FROM raw.qb_items LIMIT 1")
    moved = loaded.execute(
        "UPDATE raw.qb_customers SET last_updated_time = last_updated_time - interval '400 days'"
        " WHERE id = (SELECT max(id) FROM raw.qb_customers) RETURNING id"
    ).fetchone()

    report = reconcile(loaded, load(config))
    assert not report.ok
    text = render_text(report)
    streams = _by_stream(report)
    invoices, customers, items = streams["invoices"], streams["customers"], streams["items"]
    assert {s.stream for s in report.streams if not s.ok} == {"invoices", "customers", "items"}
    missing = [w for w in invoices.windows if w.missing]
    assert [w.missing for w in missing] == [[lost[0]]]
    assert missing[0].window.start <= lost[1].replace(tzinfo=dt.UTC) < missing[0].window.end
    assert [i for w in invoices.windows for i in w.deleted_upstream] == ["999999"]
    assert {i for w in customers.windows for i in w.stale} == {moved[0]}
    assert len(items.duplicate_keys) == 1
    assert f"missing in Postgres 1: {lost[0]}" in text
    assert "deleted upstream 1: 999999" in text
    assert "duplicate keys 1" in text
    assert "MISMATCH" in text

    marked = reconcile(loaded, load(config), mark_deleted=True)
    marked_invoices = _by_stream(marked)["invoices"]
    assert [i for w in marked_invoices.windows for i in w.marked_deleted] == ["999999"]
    assert marked_invoices.tombstones == 1
    row = loaded.execute("SELECT _sdc_deleted_at FROM raw.qb_invoices WHERE id = '999999'")
    assert row.fetchone()[0] is not None


def test_inactive_rows_and_singletons_are_compared(loaded, config) -> None:
    # A customer deactivated in QuickBooks whose row still says active (same LastUpdatedTime).
    loaded.execute(
        "UPDATE raw.qb_customers SET payload = jsonb_set(payload, '{Active}', 'true')"
        " WHERE id = (SELECT min(id) FROM raw.qb_customers WHERE payload->>'Active' = 'false')"
    )
    # CompanyInfo changed upstream after the load; Preferences never loaded.
    loaded.execute("UPDATE raw.qb_company_info SET sync_token = sync_token || '-old'")
    loaded.execute("DELETE FROM raw.qb_preferences")

    report = reconcile(loaded, load(config))
    text = render_text(report)
    streams = _by_stream(report)
    assert {s.stream for s in report.streams if not s.ok} == {
        "customers",
        "company_info",
        "preferences",
    }, text
    customers = streams["customers"]
    assert customers.postgres_inactive == customers.qbo_inactive - 1
    assert all(w.ok for w in customers.windows)  # only the inactive count tells
    assert f"inactive: quickbooks {customers.qbo_inactive}" in text
    info = streams["company_info"].windows[0]
    assert info.stale == [info.stale[0]]
    assert info.status == "MISMATCH: SyncTokens differ"
    assert streams["preferences"].windows[0].missing
    assert "whole object (read every run)" in text


def test_streams_of_each_kind_can_be_picked(loaded, config, pg_dsn, tmp_path, capsys):
    path = tmp_path / "tap.json"
    path.write_text(json.dumps(config))
    args = ["reconcile", "--tap-config", str(path), "--dsn", pg_dsn, "--format", "json"]
    assert cli.main([*args, "--stream", "company_info", "--stream", "vendors"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["stream"] for s in out["streams"]] == ["vendors", "company_info"]
    assert [s["kind"] for s in out["streams"]] == ["name_list", "singleton"]
    assert out["statements"] is None
    assert out["statements_note"].startswith("statements: not checked: the analytics models")
    assert out["streams"][1]["window_results"][0]["window_start"] is None


def test_cli_exit_codes_and_one_line_setting_errors(loaded, config, pg_dsn, tmp_path, capsys):
    path = tmp_path / "tap.json"
    path.write_text(json.dumps(config))
    assert cli.main(["reconcile", "--tap-config", str(path), "--dsn", pg_dsn]) == 0
    out = capsys.readouterr().out
    assert "reconcile: everything matches" in out
    assert "qbo-emulator-secret" not in out
    # No dbt models in this database: the statement check is left out, and says why.
    assert out.splitlines()[-1] == (
        "statements: not checked: the analytics models are not built (no "
        "analytics.statement_differences): run `meltano invoke dbt-postgres:build`, then "
        "reconcile again"
    )

    loaded.execute("DELETE FROM raw.qb_items WHERE id = (SELECT min(id) FROM raw.qb_items)")
    assert cli.main(["reconcile", "--tap-config", str(path), "--dsn", pg_dsn]) == 1
    assert "MISMATCH" in capsys.readouterr().out

    for command in (["reconcile", "--statements-only"], ["summary"]):
        assert cli.main([*command, "--dsn", "nonsense://u:hunter2@x"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("qbo-warehouse: dsn: not a Postgres connection string")
        assert err.count("\n") == 1
        assert "hunter2" not in err

    path.write_text(json.dumps({**config, "window_days": 0}))
    assert cli.main(["reconcile", "--tap-config", str(path), "--dsn", pg_dsn]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("qbo-warehouse: setting 'window_days'")
    assert "\n" not in err


def test_settings_come_from_the_tap_config_env_and_target_settings(tmp_path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"realm_id": "1", "window_days": 7}')
    env = {"TAP_QUICKBOOKS_WINDOW_DAYS": "30", "TAP_QUICKBOOKS_CLIENT_ID": "x"}
    assert tap_config(str(path), env) == {"realm_id": "1", "window_days": "30", "client_id": "x"}
    with pytest.raises(ReconcileError, match="tap-config"):
        tap_config(str(tmp_path / "absent.json"), {})

    assert postgres_dsn("postgresql://a@b/c", {"PG_DSN": "x"}) == "postgresql://a@b/c"
    url = {"TARGET_POSTGRES_SQLALCHEMY_URL": "postgresql+psycopg://u@h/d"}
    assert postgres_dsn(None, url) == "postgresql+psycopg://u@h/d"
    parts = {
        "TARGET_POSTGRES_HOST": "db",
        "TARGET_POSTGRES_USER": "loader",
        "TARGET_POSTGRES_PASSWORD": "p@ss",
        "TARGET_POSTGRES_DATABASE": "wh",
    }
    assert postgres_dsn(None, parts) == "postgresql://loader:p%40ss@db:5432/wh"
    with pytest.raises(ReconcileError, match=r"^dsn: "):
        postgres_dsn(None, {})


def test_entity_overrides_change_what_reconcile_asks(config) -> None:
    flags = {"CustomerType": {"include_inactive": False}, "TimeActivity": {"tombstones": True}}
    settings = load({**config, "entity_overrides": flags})
    assert overridden(by_name("customer_types"), settings).include_inactive is False
    assert overridden(by_name("time_activities"), settings).tombstones is True
    assert overridden(by_name("customers"), settings) == by_name("customers")


def test_the_statement_check_asked_for_without_models_is_one_line_and_exit_2(
    loaded, config, pg_dsn, tmp_path, capsys, emu
) -> None:
    path = tmp_path / "tap.json"
    path.write_text(json.dumps(config))
    emu.reset_stats()
    assert cli.main(["reconcile", "--statements-only", "--dsn", pg_dsn]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "qbo-warehouse: statements: the analytics models are not built (no "
        "analytics.statement_differences): run `meltano invoke dbt-postgres:build`, then "
        "reconcile again\n"
    )
    args = ["reconcile", "--tap-config", str(path), "--dsn", pg_dsn, "--statements"]
    assert cli.main(args) == 2
    assert "analytics models are not built" in capsys.readouterr().err
    # Said before any QuickBooks request (the check itself needs none).
    requests = emu.stats()["requests"]
    assert (requests["api"], requests["token"]) == (0, 0)

    # Models present but no report loaded: nothing to compare with.
    loaded.execute("CREATE SCHEMA analytics")
    loaded.execute("CREATE TABLE analytics.statement_differences (realm_id text)")
    loaded.execute("CREATE TABLE analytics.statement_periods (realm_id text)")
    assert cli.main(["reconcile", "--statements-only", "--dsn", pg_dsn]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qbo-warehouse: statements: no report to compare the statements with")
    assert err.count("\n") == 1
    assert cli.main([*args[:-1], "--no-statements"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "statements: not checked (--no-statements)"
