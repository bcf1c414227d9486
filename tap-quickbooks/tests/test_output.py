"""Pre-encoded payloads: the RECORD lines, stream maps that look inside them, the writer."""

from __future__ import annotations

import decimal
import io
import json

import orjson
import pytest
from qbo_emulator.testing import EmulatorServer
from singer_sdk.helpers._state import StateWriter
from singer_sdk.singerlib.encoding.simple import RecordMessage

from tap_quickbooks import records
from tap_quickbooks.output import FastSingerWriter, FastStateWriter
from tests.conftest import run_tap, tap_config


@pytest.fixture(scope="module")
def small_company(tmp_path_factory):
    with EmulatorServer(seed=11, customers=15, items=6, invoices=40) as emu:
        yield emu, tmp_path_factory.mktemp("output-store")


def test_raw_json_is_spliced_as_orjson_would_encode_the_value():
    value = {"Id": "7", "Amount": 16.0, "Name": 'Café "Z"', "Line": [{"Qty": 1.5}, None]}
    raw = records.RawJSON.encode(value)
    assert raw.value() == value
    line = orjson.dumps({"payload": raw, "n": 1}, default=records.encode_default)
    assert line == orjson.dumps({"payload": value, "n": 1})
    with pytest.raises(TypeError, match="Decimal"):
        records.encode_default(decimal.Decimal("1.5"))


def test_writer_writes_the_same_line_for_a_record_as_for_its_message(monkeypatch):
    import datetime as dt

    extracted = dt.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    record = {"id": "1", "payload": records.RawJSON.encode({"Id": "1", "X": [1, 2.5]})}
    lines = []
    for write in (
        lambda w: w.write_record("s", dict(record), None, extracted),
        lambda w: w.write_message(RecordMessage("s", dict(record), None, extracted)),
        lambda w: w.write_record("s", {**record, "d": decimal.Decimal("1.10")}, 3, extracted),
    ):
        out = io.StringIO()
        monkeypatch.setattr("sys.stdout", out)
        write(FastSingerWriter())
        lines.append(out.getvalue())
    assert lines[0] == lines[1]
    message = json.loads(lines[0])
    assert message["record"]["payload"] == {"Id": "1", "X": [1, 2.5]}
    assert message["time_extracted"] == "2025-01-02T03:04:05.000006+00:00"
    # A value orjson cannot encode (a stream map's Decimal) falls back to the SDK's encoder.
    fallback = json.loads(lines[2])
    assert fallback["version"] == 3
    assert fallback["record"]["d"] == 1.1


def test_alias_map_keeps_payloads_intact(small_company):
    emu, tmp_path = small_company
    config = tap_config(emu, tmp_path, stream_maps={"items": {"__alias__": "qb_items"}})
    result = run_tap(config, streams=["items"])
    rows = result.records["qb_items"]
    assert rows
    assert all(r["payload"]["Id"] == r["id"] for r in rows)


def test_maps_that_read_the_payload_see_it_as_an_object(small_company):
    emu, tmp_path = small_company
    config = tap_config(
        emu,
        tmp_path,
        stream_maps={
            "customers": {"display_name": "payload['DisplayName']", "request_payload": None},
            "items": {"__filter__": "payload['Type'] == 'Service'"},
        },
    )
    result = run_tap(config, streams=["customers", "items"])
    customers = result.records["customers"]
    assert customers
    for row in customers:
        assert row["display_name"] == row["payload"]["DisplayName"]
        assert "request_payload" not in row
    items = result.records["items"]
    assert items
    assert {r["payload"]["Type"] for r in items} == {"Service"}


def test_flattening_sees_the_payload_as_an_object(small_company):
    emu, tmp_path = small_company
    config = tap_config(emu, tmp_path, flattening_enabled=True, flattening_max_depth=1)
    result = run_tap(config, streams=["items"])
    rows = result.records["items"]
    assert rows
    assert all(r["payload__Id"] == r["id"] for r in rows)


def test_state_is_written_as_the_sdks_writer_would_once_per_change(monkeypatch):
    states = [
        {"bookmarks": {"a": {"partitions": [{"context": {"realm_id": "1"}, "v": "x"}]}}},
        {"bookmarks": {"a": {"partitions": [{"context": {"realm_id": "1"}, "v": "x"}]}}},
        {"bookmarks": {"a": {"partitions": [{"context": {"realm_id": "1"}, "v": "y"}]}}},
        {"bookmarks": {"d": decimal.Decimal("1.5")}},  # not orjson's: the SDK's way
    ]
    written = []
    for writer_of in (StateWriter, FastStateWriter):
        out = io.StringIO()
        monkeypatch.setattr("sys.stdout", out)
        writer = writer_of(FastSingerWriter())
        for state in states:
            writer.write_state(state)
        written.append([json.loads(line) for line in out.getvalue().splitlines()])
    sdk, ours = written
    assert ours == sdk
    assert [m["value"]["bookmarks"] for m in ours[:2]] == [
        states[0]["bookmarks"],
        states[2]["bookmarks"],
    ]
    assert len(ours) == 3
