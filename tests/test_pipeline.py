"""`meltano run tap-quickbooks target-postgres` into raw JSONB tables: load, upsert, resume."""

from __future__ import annotations

import datetime as dt
import time

import psycopg
from conftest import (
    ENTITY_STREAMS,
    STREAMS,
    TABLES,
    bookmarks,
    count_and_keys,
    mismatches,
    rows,
)

NO_DIFFERENCES: dict[str, dict[str, object]] = {table: {} for table in TABLES.values()}
ENVELOPE = {
    "realm_id": "text",
    "id": "text",
    "sync_token": None,  # typed by the tap's schema; only its presence matters
    "last_updated_time": "timestamp without time zone",
    "payload": "jsonb",
    "ingested_at_utc": "timestamp without time zone",
    "extract_window_start_utc": "timestamp without time zone",
    "extract_window_end_utc": "timestamp without time zone",
    "page_number": None,
    "page_size": None,
    "request_payload": "jsonb",
}
SDC = {
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_deleted_at",
    "_sdc_sequence",
    "_sdc_table_version",
    "_sdc_sync_started_at",
}


def columns(dsn: str, table: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        found = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'raw' AND table_name = %s",
            (table,),
        ).fetchall()
    return {str(name): str(kind) for name, kind in found}


def primary_key(dsn: str, table: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        found = conn.execute(
            "SELECT a.attname FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attname",
            (f"raw.{table}",),
        ).fetchall()
    return [str(r[0]) for r in found]


def test_first_run_loads_exactly_the_truth(emulator, make_project) -> None:
    project = make_project(emulator)
    project.run()

    truth = emulator.truth()
    assert mismatches(project.dsn, truth) == NO_DIFFERENCES
    realm = emulator.realm_ids[0]
    empty = [entity for entity in TABLES if not truth[realm][entity]]
    assert not empty, f"the emulated company has no {empty}: the test would prove nothing there"
    for entity, table in TABLES.items():
        cols = columns(project.dsn, table)
        for name, kind in ENVELOPE.items():
            assert name in cols, f"raw.{table} lacks {name}"
            if kind is not None:
                assert cols[name] == kind, f"raw.{table}.{name} is {cols[name]}"
        assert cols.keys() >= SDC
        assert primary_key(project.dsn, table) == ["id", "realm_id"]
        loaded = rows(project.dsn, table)
        assert len(loaded) == len(truth[realm][entity])  # a first run sees no deletes
        for row in loaded:
            assert row["payload"]["Id"] == row["id"]
            assert row["payload"]["SyncToken"] == row["sync_token"]
            assert row["realm_id"] == realm
            assert row["request_payload"]["endpoint"]
            if row["extract_window_start_utc"] is not None:  # read by a window's query
                assert row["extract_window_start_utc"] <= row["last_updated_time"]
            else:  # read whole: a singleton, or a stream of one page, in /batch
                assert row["request_payload"]["endpoint"].endswith("/batch"), row["request_payload"]
            assert row["last_updated_time"] < row["extract_window_end_utc"]
            assert row["_sdc_extracted_at"] is not None
            assert row["_sdc_deleted_at"] is None
    # The envelope's timestamps are UTC: the seeded range is [2022-01-01, 2026-01-01) Pacific.
    invoices = rows(project.dsn, "qb_invoices")
    assert min(r["last_updated_time"] for r in invoices) >= dt.datetime(2022, 1, 1, 8)
    assert max(r["last_updated_time"] for r in invoices) < dt.datetime(2026, 1, 1, 8)
    # Name lists arrive with their inactive rows (QuickBooks hides them unless asked): the
    # truth above counts them, and the seeded company has some in most name lists.
    inactive = {
        stream.name: sum(
            r["payload"].get("Active") is False for r in rows(project.dsn, stream.table)
        )
        for stream in ENTITY_STREAMS
        if stream.kind == "name_list"
    }
    assert inactive["customers"], inactive
    assert sum(bool(n) for n in inactive.values()) >= len(inactive) // 2, inactive
    state = bookmarks(project.state())
    # A bookmark per entity stream; the report streams (selected too) keep their own.
    assert set(STREAMS.values()) <= set(state)
    assert all(name.startswith("report_") for name in set(state) - set(STREAMS.values()))


def test_rerun_adds_no_row_and_a_changed_sync_token_updates_in_place(
    emulator, make_project
) -> None:
    project = make_project(emulator)
    project.run()
    before = {table: count_and_keys(project.dsn, table) for table in TABLES.values()}
    realm = emulator.realm_ids[0]
    invoice_id = sorted(emulator.truth()[realm]["Invoice"], key=int)[0]
    customer_id = sorted(emulator.truth()[realm]["Customer"], key=int)[0]
    old = next(r for r in rows(project.dsn, "qb_invoices") if r["id"] == invoice_id)

    emulator.mutate(realm, "Invoice", "update", invoice_id)
    emulator.mutate(realm, "Customer", "deactivate", customer_id)
    time.sleep(1.1)  # QuickBooks timestamps have whole seconds: let the run start after them
    project.run()  # incremental: from the saved bookmarks

    truth = emulator.truth()
    assert mismatches(project.dsn, truth) == NO_DIFFERENCES
    for table, (count, keys) in before.items():
        assert count_and_keys(project.dsn, table) == (count, keys)
        assert count == keys
    new = [r for r in rows(project.dsn, "qb_invoices") if r["id"] == invoice_id]
    assert len(new) == 1
    assert new[0]["sync_token"] == truth[realm]["Invoice"][invoice_id] != old["sync_token"]
    assert new[0]["payload"]["SyncToken"] == new[0]["sync_token"]
    assert new[0]["last_updated_time"] > old["last_updated_time"]
    customer = next(r for r in rows(project.dsn, "qb_customers") if r["id"] == customer_id)
    assert customer["payload"]["Active"] is False

    # The same range again, ignoring state: every row is read again and merged, none added.
    project.run("--full-refresh")
    assert mismatches(project.dsn, emulator.truth()) == NO_DIFFERENCES
    for table, (count, keys) in before.items():
        assert count_and_keys(project.dsn, table) == (count, keys)


def test_run_killed_midway_resumes_from_state(emulator, make_project) -> None:
    project = make_project(emulator, page_size="20", window_days="30", max_concurrent_requests="1")
    cutover = "2024-01-01T00:00:00+00:00"
    # A completed run over the first half saves state...
    project.run(env={"TAP_QUICKBOOKS_END_DATE": cutover})
    first = {r["id"]: r["_sdc_batched_at"] for r in rows(project.dsn, "qb_invoices")}
    saved = bookmarks(project.state())
    assert saved["invoices"]
    assert max(saved["invoices"]) < cutover

    # ...the next one is killed (SIGKILL, whole process group) once it has committed later rows.
    emulator.configure(latency_ms=150)
    target_batches = {"TARGET_POSTGRES_BATCH_SIZE_ROWS": "20"}
    proc = project.start_run(env=target_batches)
    deadline = time.monotonic() + 240
    later = 0
    while time.monotonic() < deadline and proc.poll() is None:
        with psycopg.connect(project.dsn) as conn:
            found = conn.execute(
                "SELECT count(*) FROM raw.qb_invoices WHERE last_updated_time >= %s",
                (dt.datetime(2024, 1, 1),),
            ).fetchone()
        later = int(found[0]) if found else 0
        if later:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run finished before it could be killed mid-way"
    assert later > 0
    project.kill(proc)

    truth = emulator.truth()
    realm = emulator.realm_ids[0]
    loaded = count_and_keys(project.dsn, "qb_invoices")[0]
    assert len(first) < loaded < len(truth[realm]["Invoice"])  # killed mid-way
    # State is never ahead of what was loaded.
    with psycopg.connect(project.dsn) as conn:
        newest = conn.execute("SELECT max(last_updated_time) FROM raw.qb_invoices").fetchone()
    assert newest is not None
    after_kill = bookmarks(project.state())
    assert after_kill["invoices"]
    for value in after_kill["invoices"]:
        assert dt.datetime.fromisoformat(value).replace(tzinfo=None) <= newest[0]

    emulator.configure(latency_ms=0)
    # Meltano still sees the killed run as running (no heartbeat for 5 minutes): --force says
    # we know it is dead.
    project.run("--force", env=target_batches)
    assert mismatches(project.dsn, emulator.truth()) == NO_DIFFERENCES
    count, keys = count_and_keys(project.dsn, "qb_invoices")
    assert count == keys
    # Resumed, not restarted: rows of the first half were not extracted again.
    old_rows = [r for r in rows(project.dsn, "qb_invoices") if r["id"] in first]
    untouched = [r for r in old_rows if r["_sdc_batched_at"] == first[r["id"]]]
    assert len(untouched) >= len(first) - 5  # only rows at the bookmark instant are re-read


def test_strict_rotation_three_runs_from_the_same_env(emulator, make_project) -> None:
    realm = emulator.realm_ids[0]
    initial = emulator.refresh_token(realm)
    dotenv = {
        "TAP_QUICKBOOKS_CLIENT_ID": "qbo-emulator-client",
        "TAP_QUICKBOOKS_CLIENT_SECRET": "qbo-emulator-secret",
        "TAP_QUICKBOOKS_REFRESH_TOKEN": initial,
        "TAP_QUICKBOOKS_REALM_ID": realm,
    }
    project = make_project(emulator, dotenv=dotenv)
    env_file = (project.root / ".env").read_text()
    outputs: list[str] = []
    issued: set[str] = {initial}
    for _ in range(3):
        emulator.reset_stats()
        proc = project.run()
        outputs.append(proc.stdout + proc.stderr)
        assert emulator.stats()["token_refreshes"] >= 1
        issued.add(emulator.refresh_token(realm))
        emulator.advance_clock(hours=2)  # every access token issued so far has expired
    assert (project.root / ".env").read_text() == env_file  # .env is never rewritten
    assert len(issued) >= 3  # the refresh token really rotated between runs
    assert mismatches(project.dsn, emulator.truth()) == NO_DIFFERENCES

    # No secret anywhere: logs, state, tables.
    secrets = [*issued, "qbo-emulator-secret"]
    state_text = str(project.state())
    with psycopg.connect(project.dsn) as conn:
        table_text = "".join(
            str(conn.execute(f"SELECT json_agg(t)::text FROM raw.{table} t").fetchone())
            for table in TABLES.values()
        )
    for secret in secrets:
        for text in (*outputs, state_text, table_text):
            assert secret not in text


def test_backfill_job_is_bounded_and_has_its_own_state(emulator, make_project) -> None:
    project = make_project(emulator)
    # The inherited plugin's own variable (its config sets end_date, so TAP_QUICKBOOKS_END_DATE
    # would not reach it).
    project.env["TAP_QUICKBOOKS__BACKFILL_END_DATE"] = "2023-07-01"
    project.meltano("--environment=demo", "run", "backfill")
    loaded = rows(project.dsn, "qb_invoices")
    assert loaded
    assert max(r["last_updated_time"] for r in loaded) < dt.datetime(2023, 7, 1)
    listed = project.meltano("--environment=demo", "state", "list").stdout
    assert "demo:tap-quickbooks--backfill-to-target-postgres" in listed
    assert project.state() == {}  # the incremental job's state is untouched
    before = len(loaded)
    project.meltano("--environment=demo", "run", "backfill")  # a second trigger reloads nothing new
    assert len(rows(project.dsn, "qb_invoices")) == before
