"""The commands README and the runbook promise, run as written through Meltano.

Each runs against the emulator and a real Postgres in the `demo` environment (README writes
`--environment=prod`; the commands are otherwise the same).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from typing import Any

import psycopg
from conftest import STATE_ID, STREAMS, TABLES, count_and_keys, mismatches, rows

ENV = "--environment=demo"
BACKFILL_STATE_ID = "demo:tap-quickbooks--backfill-to-target-postgres"
WINDOW_LINE = re.compile(
    r"Window (\w+) realm=(\d+) window=\[(\S+), (\S+)\) pages=(\d+) rows=(\d+) seconds=[\d.]+"
)
SUMMARY_LINE = re.compile(
    r"Summary (\w+) realm=(\d+) rows=(\d+) windows=(\d+) requests=(\d+) retries=(\d+) "
    r"throttles=(\d+) restarts=(\d+) tombstones=(\d+) seconds=[\d.]+"
)


def _counts(dsn: str) -> dict[str, tuple[int, int]]:
    return {table: count_and_keys(dsn, table) for table in TABLES.values()}


def _state(project: Any, state_id: str) -> dict[str, Any]:
    out = project.meltano(ENV, "state", "get", state_id).stdout.strip()
    data: dict[str, Any] = json.loads(out)
    return data


def _bookmark(state: dict[str, Any], stream: str) -> str:
    partitions = state["singer_state"]["bookmarks"][stream]["partitions"]
    value: str = partitions[0]["replication_key_value"]
    return value


def test_historical_backfill_schedule_run_twice_adds_no_row(
    emulator: Any, make_project: Any
) -> None:
    project = make_project(emulator)
    project.meltano(ENV, "schedule", "run", "historical-backfill")
    first = _counts(project.dsn)
    assert all(n > 0 and n == keys for n, keys in first.values()), first
    state = _state(project, BACKFILL_STATE_ID)

    project.meltano(ENV, "schedule", "run", "historical-backfill")
    assert _counts(project.dsn) == first
    assert _bookmark(_state(project, BACKFILL_STATE_ID), "invoices") == _bookmark(state, "invoices")


def test_backfill_then_incremental_after_state_copy(emulator: Any, make_project: Any) -> None:
    project = make_project(emulator)
    project.meltano(ENV, "run", "backfill")
    backfill = _state(project, BACKFILL_STATE_ID)
    project.meltano(ENV, "state", "copy", "--force", BACKFILL_STATE_ID, STATE_ID)
    assert _state(project, STATE_ID)["singer_state"] == backfill["singer_state"]

    incremental = project.meltano(ENV, "run", "incremental")
    output = incremental.stdout + incremental.stderr
    realm = emulator.realm_ids[0]
    # From the bookmark, or from the moment the backfill checked the stream complete to.
    partition = backfill["singer_state"]["bookmarks"]["invoices"]["partitions"][0]
    start = max(_bookmark(backfill, "invoices"), partition.get("checked_through", ""))
    assert f"Extracting invoices for realm {realm} from {start} to " in output
    assert mismatches(project.dsn, emulator.truth()) == {t: {} for t in TABLES.values()}


def test_state_set_moves_a_bookmark_back_and_the_rerun_reloads_from_there(
    emulator: Any, make_project: Any
) -> None:
    project = make_project(emulator)
    project.run()
    realm = emulator.realm_ids[0]
    # README's command, with this company's realm.
    state = (
        '{"singer_state": {"bookmarks": {"invoices": {"partitions": [{"context": {"realm_id": "'
        + realm
        + '"}, "replication_key": "last_updated_time", '
        '"replication_key_value": "2024-06-01T00:00:00+00:00"}]}}}}'
    )
    project.meltano(ENV, "state", "set", "--force", STATE_ID, state)
    assert _bookmark(_state(project, STATE_ID), "invoices") == "2024-06-01T00:00:00+00:00"
    before = {r["id"]: r["ingested_at_utc"] for r in rows(project.dsn, "qb_invoices")}

    rerun = project.run()
    output = rerun.stdout + rerun.stderr
    assert f"Extracting invoices for realm {realm} from 2024-06-01T00:00:00+00:00 to " in output
    after = rows(project.dsn, "qb_invoices")
    reloaded = {r["id"] for r in after if r["ingested_at_utc"] != before[r["id"]]}
    assert reloaded
    moved_back = dt.datetime(2024, 6, 1)  # timestamp columns hold UTC without a zone
    assert all(r["last_updated_time"] >= moved_back for r in after if r["id"] in reloaded)
    assert mismatches(project.dsn, emulator.truth()) == {t: {} for t in TABLES.values()}


def test_one_window_reload_leaves_the_saved_state_unchanged(
    emulator: Any, make_project: Any
) -> None:
    project = make_project(emulator)
    project.run()
    saved = _state(project, STATE_ID)
    before = {r["id"]: r for r in rows(project.dsn, "qb_invoices")}

    env = {"TAP_QUICKBOOKS_START_DATE": "2024-03-01", "TAP_QUICKBOOKS_END_DATE": "2024-04-01"}
    project.run("--full-refresh", "--no-state-update", env=env)

    assert _state(project, STATE_ID) == saved
    after = {r["id"]: r for r in rows(project.dsn, "qb_invoices")}
    assert after.keys() == before.keys()
    changed = {i for i in after if after[i]["ingested_at_utc"] != before[i]["ingested_at_utc"]}
    lo, hi = dt.datetime(2024, 3, 1), dt.datetime(2024, 4, 1)  # UTC, no zone in the column
    in_window = {i for i, r in after.items() if lo <= r["last_updated_time"] < hi}
    assert changed == in_window
    assert in_window, "the seeded company has invoices in March 2024"


def test_window_and_summary_log_lines_carry_their_fields(emulator: Any, make_project: Any) -> None:
    project = make_project(emulator)
    run = project.run()
    output = run.stdout + run.stderr
    realm = emulator.realm_ids[0]
    windows = [m.groups() for m in WINDOW_LINE.finditer(output)]
    summaries = {m.group(1): m.groups() for m in SUMMARY_LINE.finditer(output)}
    assert set(summaries) == set(STREAMS.values())
    for stream, table in (("invoices", "qb_invoices"), ("customers", "qb_customers")):
        mine = [w for w in windows if w[0] == stream]
        assert mine, stream
        assert all(w[1] == realm for w in mine)
        # Windows follow each other without a gap.
        assert all(a[3] == b[2] for a, b in itertools.pairwise(mine))
        summary = summaries[stream]
        assert summary[1] == realm
        assert int(summary[3]) == len(mine)  # windows=
        assert int(summary[2]) == sum(int(w[5]) for w in mine)  # rows=
        assert int(summary[2]) == count_and_keys(project.dsn, table)[0]
        assert int(summary[4]) >= len(mine)  # at least one request per window
        assert summary[5:8] == ("0", "0", "0")  # no retry, throttle or restart here


def test_minor_version_below_75_is_a_one_line_error_naming_the_setting(
    emulator: Any, make_project: Any
) -> None:
    project = make_project(emulator)
    result = project.run(check=False, env={"TAP_QUICKBOOKS_MINOR_VERSION": "74"})
    assert result.returncode != 0
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if "setting 'minor_version'" in line]
    assert lines, output[-3000:]
    assert "must be 75 or more, got 74" in lines[0]
    assert "Traceback" not in output
    assert emulator.stats()["requests"]["api"] == 0  # refused before any request
    with psycopg.connect(project.dsn) as conn:
        found = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'raw'").fetchone()
    assert found == (0,)  # nothing loaded, nothing half-written
