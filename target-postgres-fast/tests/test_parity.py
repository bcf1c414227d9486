"""Stock target-postgres 0.8.1 and target-postgres-fast store the same tables."""

from __future__ import annotations

import json
import random
import typing as t

import pytest
from messages import (
    ENVELOPE_SCHEMA,
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
