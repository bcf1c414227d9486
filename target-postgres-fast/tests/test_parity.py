"""Stock target-postgres 0.8.1 and target-postgres-fast store the same tables."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import typing as t

import psycopg
import pytest
from conftest import DSN, FAST, sqlalchemy_url
from messages import (
    ENVELOPE_SCHEMA,
    REALM,
    STREAM,
    envelope_stream,
    record_line,
    schema_message,
    state_line,
)

if t.TYPE_CHECKING:
    from conftest import Harness, Run


def _ok(*runs: Run) -> None:
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.parametrize("use_copy", [True, False], ids=["stock_copy", "stock_insert"])
@pytest.mark.parametrize(
    "validate_records", [False, True], ids=["novalidate", "validate"]
)
def test_envelope_identical(
    harness: Harness, use_copy: bool, validate_records: bool
) -> None:
    stock, fast, s, f = harness.run_both(
        envelope_stream(),
        "env",
        stock_config={"use_copy": use_copy},
        batch_size_rows=7,
        validate_records=validate_records,
    )
    _ok(stock, fast)
    harness.assert_same(s, f)
    assert fast.states == stock.states
    assert [st["bookmarks"][STREAM]["replication_key_value"] for st in fast.states][
        -1
    ] == "c"

    got = {
        r[0]: r[1:]
        for r in harness.conn.execute(
            f"SELECT id, sync_token, payload::text, _sdc_deleted_at::text, "
            f'_sdc_table_version, _sdc_extracted_at::text FROM "{f}"."{STREAM}"'
        ).fetchall()
    }
    assert len(got) == 8 + 4 + 15  # one row per key
    assert got["3"][0] == "2"  # last duplicate within a batch wins
    assert got["1"][0] == "5"  # update across batches
    assert got["2"][2] == "2024-03-06 01:02:03"  # tombstone
    assert got["20"][1] == "null"  # a null object is stored as JSON null, as stock does
    assert got["23"][3] == 3 and got["23"][4] is None  # version, no time_extracted
    assert '"Discount": 0.0' in got["5"][1] and '"Nums": [1, 2.50, 0]' in got["5"][1]


def test_metadata_columns_filled_like_stock(harness: Harness) -> None:
    stock, fast, s, f = harness.run_both(envelope_stream(), "meta", use_copy=True)
    _ok(stock, fast)
    for run, schema in ((stock, s), (fast, f)):
        seqs = harness.values(schema, STREAM, "_sdc_sequence")
        assert all(run.started_ms <= v <= run.ended_ms for v in seqs)
        started = set(harness.values(schema, STREAM, "_sdc_sync_started_at"))
        assert len(started) == 1 and run.started_ms <= started.pop() <= run.ended_ms
        received = harness.values(schema, STREAM, "_sdc_received_at")
        assert all(v is not None for v in received)


def test_nul_characters_sanitized_like_stock(harness: Harness) -> None:
    rnd = random.Random(3)
    text = (
        json.dumps(schema_message())
        + "\n"
        + "".join(
            [
                record_line(
                    "1", "0\\u0000x", rnd, payload='{"Memo":"a\\u0000b","Line":[]}'
                ),
                record_line("2", "0", rnd, payload='{"Memo":"plain"}'),
            ]
        )
    )
    stock, fast, s, f = harness.run_both(
        text, "nul", use_copy=True, sanitize_null_text_characters=True
    )
    _ok(stock, fast)
    harness.assert_same(s, f)
    tokens = sorted(harness.values(f, STREAM, "sync_token"))
    assert tokens == ["0", "0\ufffdx"]


def test_nested_nul_fails_like_stock(harness: Harness) -> None:
    rnd = random.Random(4)
    text = (
        json.dumps(schema_message())
        + "\n"
        + record_line("1", "0", rnd, payload='{"Line":[{"Memo":"a\\u0000b"}]}')
    )
    stock, fast, _, f = harness.run_both(text, "nulfail", use_copy=True)
    assert stock.returncode != 0 and fast.returncode != 0
    assert harness.conn.execute(
        f'SELECT count(*) FROM "{f}"."{STREAM}"'
    ).fetchone() == (0,)


def test_append_only_stream_keeps_duplicates(harness: Harness) -> None:
    rnd = random.Random(5)
    text = (
        json.dumps(schema_message(keys=[]))
        + "\n"
        + "".join(record_line(str(i % 3), str(i), rnd) for i in range(7))
    )
    stock, fast, s, f = harness.run_both(
        text, "append", use_copy=True, batch_size_rows=4
    )
    _ok(stock, fast)
    harness.assert_same(s, f)
    assert len(harness.values(f, STREAM, "id")) == 7


def test_schema_change_adds_column(harness: Harness) -> None:
    rnd = random.Random(6)
    wider = json.loads(json.dumps(ENVELOPE_SCHEMA))
    wider["properties"]["amount"] = {"type": ["number", "null"]}
    wider["properties"]["is_paid"] = {"type": ["boolean", "null"]}
    wider["properties"]["txn_date"] = {"type": ["string", "null"], "format": "date"}
    text = (
        json.dumps(schema_message())
        + "\n"
        + record_line("1", "0", rnd)
        + record_line("2", "0", rnd)
        + json.dumps(schema_message(schema=wider))
        + "\n"
        + record_line(
            "2",
            "1",
            rnd,
            extra=',"amount":100.10,"is_paid":true,"txn_date":"2024-01-31"',
        )
        + record_line(
            "3", "0", rnd, extra=',"amount":0,"is_paid":false,"txn_date":null'
        )
        + state_line({"done": True})
    )
    # Number columns: stock binds them through float(), COPY or not; compare with COPY.
    stock, fast, s, f = harness.run_both(text, "evolve", use_copy=True)
    _ok(stock, fast)
    harness.assert_same(s, f)
    # The old sink's batch went straight into the table; the new sink must alter
    # that table, so the batch was moved to staging first (else: a self-deadlock).
    assert "another sink now writes the table" in fast.stderr
    assert fast.states == stock.states == [{"done": True}]


def test_target_side_alias_map(harness: Harness) -> None:
    text = envelope_stream(seed=11)
    maps = {"stream_maps": {STREAM: {"__alias__": "qb_invoices"}}}
    stock, fast, s, f = harness.run_both(text, "alias", use_copy=True, **maps)
    _ok(stock, fast)
    harness.assert_same(s, f)
    assert harness.tables(f) == ["qb_invoices"]


def test_activate_version_soft_delete(harness: Harness) -> None:
    rnd = random.Random(8)
    text = (
        json.dumps(schema_message())
        + "\n"
        + "".join(record_line(str(i), "0", rnd, version=1) for i in range(4))
        + json.dumps({"type": "ACTIVATE_VERSION", "stream": STREAM, "version": 1})
        + "\n"
        + "".join(record_line(str(i), "1", rnd, version=2) for i in range(2))
        + json.dumps({"type": "ACTIVATE_VERSION", "stream": STREAM, "version": 2})
        + "\n"
    )
    stock, fast, s, f = harness.run_both(text, "version", use_copy=True)
    _ok(stock, fast)
    # _sdc_deleted_at of retired rows is the wall clock: compare nullness only.
    for schema in (s, f):
        harness.conn.execute(
            f'UPDATE "{schema}"."{STREAM}" SET _sdc_deleted_at = \'2000-01-01\' '
            "WHERE _sdc_deleted_at IS NOT NULL"
        )
    harness.assert_same(s, f)
    deleted = harness.conn.execute(
        f'SELECT count(*) FROM "{f}"."{STREAM}" WHERE _sdc_deleted_at IS NOT NULL'
    ).fetchone()
    assert deleted == (2,)


def test_existing_table_without_key_index_uses_stock_merge(harness: Harness) -> None:
    stock_schema, fast_schema = (
        harness.schema("nokey_stock"),
        harness.schema("nokey_fast"),
    )
    for schema in (stock_schema, fast_schema):
        harness.conn.execute(f'CREATE SCHEMA "{schema}"')
        harness.conn.execute(
            f'CREATE TABLE "{schema}"."{STREAM}" (realm_id text, id text, '
            "sync_token text, legacy text DEFAULT 'kept')"
        )
        harness.conn.execute(
            f'INSERT INTO "{schema}"."{STREAM}" '
            "VALUES ('9341450000000001', '1', 'old', 'x')"
        )
    text = envelope_stream(seed=12)
    stock = harness.run("stock", text, stock_schema, use_copy=True)
    fast = harness.run("fast", text, fast_schema)
    _ok(stock, fast)
    harness.assert_same(stock_schema, fast_schema)
    legacy = harness.values(fast_schema, STREAM, "legacy")
    # stock copies the column default into its temp table, so new rows get it
    assert legacy.count("x") == 1 and legacy.count("kept") == len(legacy) - 1


def test_non_utc_offsets_are_stored_as_utc(harness: Harness) -> None:
    """The stock INSERT path (default) stores UTC; so does the fast sink.

    Stock's COPY path drops the offset instead; the tap only emits UTC, where the
    two agree (covered by the envelope test).
    """
    rnd = random.Random(9)
    text = (
        json.dumps(schema_message())
        + "\n"
        + record_line(
            "1",
            "0",
            rnd,
            updated="2024-03-01T02:00:00-08:00",
            time_extracted="2024-03-02T00:00:00+05:30",
        )
    )
    stock, fast, s, f = harness.run_both(
        text, "offset", stock_config={"use_copy": False}
    )
    _ok(stock, fast)
    harness.assert_same(s, f)
    assert harness.conn.execute(
        f'SELECT last_updated_time::text, _sdc_extracted_at::text FROM "{f}"."{STREAM}"'
    ).fetchone() == ("2024-03-01 10:00:00", "2024-03-01 18:30:00")


def test_carriage_return_line_endings(harness: Harness) -> None:
    """The byte reader splits lines like the stock text reader (universal newlines)."""
    lines = envelope_stream(seed=13).splitlines(keepends=True)
    text = "".join(
        line.replace("\n", "\r" if i % 5 == 0 else "\r\n")
        for i, line in enumerate(lines)
    )
    stock, fast, s, f = harness.run_both(text, "crlf", use_copy=True)
    _ok(stock, fast)
    harness.assert_same(s, f)
    assert fast.states == stock.states
    assert len(harness.values(f, STREAM, "id")) == 27


def _batch_paths(run: Run) -> list[str]:
    """How each batch of a fast run was loaded, from its log lines."""
    return [
        "direct" if "straight into the table" in line else "merged"
        for line in run.stderr.splitlines()
        if "| Loaded " in line
    ]


def test_new_keys_load_straight_into_the_table(harness: Harness) -> None:
    rnd = random.Random(14)
    text = (
        json.dumps(schema_message())
        + "\n"
        + "".join(record_line(str(i), "0", rnd) for i in range(1, 12))
        + state_line({"done": True})
    )
    stock, fast, s, f = harness.run_both(
        text, "direct", use_copy=True, batch_size_rows=4
    )
    _ok(stock, fast)
    harness.assert_same(s, f)
    assert _batch_paths(fast) == ["direct", "direct", "direct"]
    assert fast.states == stock.states == [{"done": True}]


def test_rerun_over_loaded_keys_is_merged_like_stock(harness: Harness) -> None:
    """Keys already in the table fail the straight COPY; the batch is merged."""
    rnd = random.Random(15)
    schema_line = json.dumps(schema_message()) + "\n"
    first = schema_line + "".join(record_line(str(i), "0", rnd) for i in range(1, 6))
    # A batch of new keys first, then one that mixes new keys with loaded ones.
    second = (
        schema_line
        + "".join(record_line(str(i), "0", rnd) for i in range(20, 24))
        + "".join(record_line(str(i), "1", rnd) for i in (24, 4, 5, 6))
        + "".join(record_line(str(i), "2", rnd) for i in (1, 2))
    )
    s, f = harness.schema("rerun_stock"), harness.schema("rerun_fast")
    for text in (first, second):
        _ok(harness.run("stock", text, s, use_copy=True, batch_size_rows=4))
    fast_first = harness.run("fast", first, f, batch_size_rows=4)
    fast_second = harness.run("fast", second, f, batch_size_rows=4)
    _ok(fast_first, fast_second)
    harness.assert_same(s, f)
    assert _batch_paths(fast_first) == ["direct", "direct"]
    # The second batch hits loaded keys and is merged; the stream then stays merged.
    assert _batch_paths(fast_second) == ["direct", "merged", "merged"]
    assert "a key of the batch is already in the table" in fast_second.stderr
    tokens = dict(
        harness.conn.execute(f'SELECT id, sync_token FROM "{f}"."{STREAM}"').fetchall()
    )
    assert tokens["4"] == tokens["5"] == "1" and tokens["1"] == "2"
    assert len(tokens) == 5 + 6  # 1-5, then 20-24 and 6


def _big_payload(rnd: random.Random, invoice_id: str) -> str:
    """An invoice payload of about 3 KB: large enough to be compressed (TOAST)."""
    lines = ",".join(
        '{"Id":"%d","Description":"Widget model %d, blue","Amount":%d.50}'
        % (n, rnd.randint(1, 50), rnd.randint(1, 999))
        for n in range(40)
    )
    return '{"Id":"%s","Line":[%s]}' % (invoice_id, lines)


def test_payload_compression_lz4_unless_chosen(harness: Harness) -> None:
    setting = harness.conn.execute(
        "SELECT 'lz4' = ANY(enumvals), source FROM pg_settings "
        "WHERE name = 'default_toast_compression'"
    ).fetchone()
    if not (setting and setting[0]):
        pytest.skip("this Postgres has no lz4 TOAST compression")
    if setting[1] != "default":
        pytest.skip("this Postgres sets default_toast_compression itself")
    rnd = random.Random(16)
    text = (
        json.dumps(schema_message())
        + "\n"
        + "".join(
            record_line(str(i), "0", rnd, payload=_big_payload(rnd, str(i)))
            for i in range(1, 9)
        )
        + record_line("3", "1", rnd, payload=_big_payload(rnd, "3"))  # merged
    )
    stock, fast, s, f = harness.run_both(text, "lz4", use_copy=True, batch_size_rows=4)
    _ok(stock, fast)
    harness.assert_same(s, f)
    assert _batch_paths(fast) == ["direct", "direct", "merged"]

    def methods(schema: str) -> set[str | None]:
        return {
            r[0]
            for r in harness.conn.execute(
                f'SELECT pg_column_compression(payload) FROM "{schema}"."{STREAM}"'
            ).fetchall()
        }

    assert methods(s) == {"pglz"}
    assert methods(f) == {"lz4"}
    # A default chosen by the connection (or the server's configuration) is kept.
    chosen = harness.schema("lz4_chosen")
    url = sqlalchemy_url(DSN)
    separator = "&" if "?" in url else "?"
    url += separator + "options=-c%20default_toast_compression%3Dpglz"
    _ok(harness.run("fast", text, chosen, sqlalchemy_url=url, batch_size_rows=4))
    harness.assert_same(s, chosen)
    assert methods(chosen) == {"pglz"}


def test_deadlock_with_another_writer_is_staged_and_merged(harness: Harness) -> None:
    """A second session writing the same keys deadlocks with a straight batch.

    The other session holds key 11 and then waits on key 12, which the batch holds
    while it waits on 11. The batch's session detects the deadlock (its
    deadlock_timeout is the shorter), rolls back, and merges through staging.
    """
    rnd = random.Random(17)
    schema = harness.schema("deadlock")
    schema_line = json.dumps(schema_message()) + "\n"
    _ok(harness.run("fast", schema_line + record_line("1", "0", rnd), schema))
    table = f'"{schema}"."{STREAM}"'
    batch = schema_line + record_line("12", "7", rnd) + record_line("11", "7", rnd)
    url = sqlalchemy_url(DSN)
    separator = "&" if "?" in url else "?"
    config = {
        "sqlalchemy_url": url + separator + "options=-c%20deadlock_timeout%3D5s",
        "default_target_schema": schema,
    }
    (harness.tmp_path / "deadlock.json").write_text(json.dumps(config))
    (harness.tmp_path / "deadlock.jsonl").write_text(batch)
    insert = f"INSERT INTO {table} (realm_id, id, sync_token) VALUES (%s, %s, 'x')"
    with psycopg.connect(DSN) as other:
        other.execute("SET deadlock_timeout = '60s'")
        other.execute(insert, (REALM, "11"))
        files = [
            str(harness.tmp_path / name) for name in ("deadlock.json", "deadlock.jsonl")
        ]
        target = subprocess.Popen(
            [sys.executable, "-c", FAST, "--config", files[0], "--input", files[1]],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not harness.conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE %s",
                (f"COPY %{schema}%",),
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the batch never waited on key 11"
                assert target.poll() is None, target.communicate()[1][-2000:]
                time.sleep(0.05)
            # Waits on key 12 until the batch's session gives up (deadlock).
            other.execute(insert, (REALM, "12"))
            other.commit()
            _, stderr = target.communicate(timeout=120)
        finally:
            if target.poll() is None:
                target.kill()
    assert target.returncode == 0, stderr[-3000:]
    assert "a deadlock with another session writing the table" in stderr
    rows = dict(harness.conn.execute(f"SELECT id, sync_token FROM {table}").fetchall())
    assert rows == {"1": "0", "11": "7", "12": "7"}  # the batch's values, merged


def test_many_streams_share_the_pool(harness: Harness) -> None:
    # 40 streams one after the other, none filling its batch: each open batch holds a
    # pooled connection (5 + 10 overflow), so the oldest ones are drained to make room.
    rnd = random.Random(40)
    lines: list[str] = []
    for n in range(40):
        stream = f"stream_{n:02d}"
        lines.append(json.dumps(schema_message(stream)) + "\n")
        lines.extend(record_line(str(i), "0", rnd, stream=stream) for i in range(1, 4))
        lines.append(state_line({"bookmarks": {stream: {"n": n}}}))
    stock, fast, s, f = harness.run_both("".join(lines), "many", batch_size_rows=1000)
    _ok(stock, fast)
    harness.assert_same(s, f)
    assert len(harness.tables(f)) == 40
    assert fast.states == stock.states
    assert "more than 8 batches open" in fast.stderr
