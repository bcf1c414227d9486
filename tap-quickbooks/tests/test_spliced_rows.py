"""Rows spliced into RECORD lines as QuickBooks wrote them, and the fall-backs to parsing."""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request

import orjson
import pytest
from qbo_emulator.testing import EmulatorServer

from tap_quickbooks import envelope, records
from tests.conftest import CLIENT_ID, CLIENT_SECRET, run_tap, tap_config

ROW = (
    b'{"Id":"12","SyncToken":"3","TotalAmt":16.00,"Name":"caf\\u00e9 \\/ x",'
    b'"MetaData":{"CreateTime":"2024-01-02T03:04:05-08:00",'
    b'"LastUpdatedTime":"2024-03-10T01:59:59-08:00"}}'
)


def page(*rows: bytes, entity: str = "Invoice") -> bytes:
    inner = b",".join(rows)
    return (
        b'{"QueryResponse":{"' + entity.encode() + b'":[' + inner + b'],"startPosition":1,'
        b'"maxResults":' + str(len(rows)).encode() + b'},"time":"2024-01-01T00:00:00.000-08:00"}'
    )


def test_rows_keep_their_exact_bytes_and_envelope_fields():
    other = b'{"Id":"13","SyncToken":"0","MetaData":{}}'
    rows = records.split_page(page(ROW, other), "Invoice")
    assert rows is not None
    (head, data), (head2, data2) = rows
    assert data == ROW  # 16.00 and the escapes exactly as received
    assert (head.Id, head.SyncToken) == ("12", "3")
    assert head.last_updated() == "2024-03-10T09:59:59+00:00"
    assert head.last_updated() == records.last_updated(orjson.loads(ROW))
    assert data2 == other
    assert head2.last_updated() is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"Fault":{"Error":[{"code":"4000"}]},"QueryResponse":{}}',
        b'{"QueryResponse":{"Invoice":[{"Id":"1"}',  # truncated
        b'{"time":"x"}',  # no QueryResponse
        page(b'"not an object"'),
        page(b'{"Id":12,"SyncToken":"0"}'),  # a number where QuickBooks sends a string
        page(b'{"Id":"1",\n"SyncToken":"0"}'),  # a line break between tokens
        page(b'{"Id":"1","Name":"\xff"}'),  # not UTF-8
        b'{"QueryResponse":{"Invoice":null}}',
    ],
)
def test_unusual_bodies_are_left_to_the_parser(body):
    assert records.split_page(body, "Invoice") is None


def test_an_empty_page_has_no_rows():
    assert records.split_page(b'{"QueryResponse":{},"time":"x"}', "Invoice") == []
    assert records.split_page(page(ROW), "Customer") == []  # another entity's key


def access_token(emu: EmulatorServer) -> str:
    form = {"grant_type": "refresh_token", "refresh_token": emu.refresh_token(emu.realm_ids[0])}
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    request = urllib.request.Request(
        emu.token_url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request) as response:
        return str(json.load(response)["access_token"])


def test_records_carry_the_rows_as_the_api_returned_them(tmp_path):
    with EmulatorServer(seed=5, customers=5, items=5, invoices=30) as emu:
        result = run_tap(tap_config(emu, tmp_path, page_size=1000), streams=["invoices"])
        token = access_token(emu)
        text = urllib.parse.quote("SELECT * FROM Invoice STARTPOSITION 1 MAXRESULTS 1000")
        request = urllib.request.Request(
            f"{emu.base_url}/v3/company/{emu.realm_ids[0]}/query?query={text}&minorversion=75",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            body = response.read()
    rows = records.split_page(body, "Invoice")
    assert rows
    lines = [line.encode() for line in result.stdout.splitlines() if '"type":"RECORD"' in line]
    assert len(lines) == len(rows) == len(result.records["invoices"])
    for _, data in rows:
        assert sum(data in line for line in lines) == 1


def test_batch_rows_keep_their_exact_bytes_and_counts_are_parsed():
    body = (
        b'{"BatchItemResponse":[{"QueryResponse":{"totalCount":7},"bId":"0"},'
        b'{"QueryResponse":{"Invoice":[' + ROW + b'],"startPosition":1,"maxResults":1},'
        b'"bId":"1"}],"time":"2024-01-01T00:00:00.000-08:00"}'
    )
    count, page_ = records.split_batch(body, [None, "Invoice"])  # type: ignore[misc]
    assert count == {"totalCount": 7}
    [row] = page_["Invoice"]
    assert row.raw == ROW
    assert row.head.Id == "12"
    fault = b'{"BatchItemResponse":[{"Fault":{"Error":[{"code":"4000"}]},"bId":"0"}]}'
    assert records.split_batch(fault, ["Invoice"]) is None  # parsed whole: the fault raises
    assert records.split_batch(body, [None, "Invoice", "Bill"]) is None  # an item missing


def test_rows_held_for_their_turn_wait_compressed_and_build_the_same_records():
    other = b'{"Id":"13","SyncToken":"0","MetaData":{}}'
    no_id = b'{"SyncToken":"0"}'
    spliced = [records.spliced(row) for row in (ROW, other, no_id)]
    source = envelope.Source(
        realm_id="7", window_start="a", window_end="b", request_payload={"q": 1}, page_number=1
    )
    held = envelope.Held(spliced, source)
    assert held.count == 2  # (a row without an Id is no record)
    assert len(held._packed) < len(ROW) + len(other)
    expected = envelope.envelopes(envelope.object_rows(spliced), source, held.received)
    got = held.records()

    def comparable(rows: list[dict]) -> list[dict]:
        return [{k: v.raw if k == "payload" else v for k, v in r.items()} for r in rows]

    assert [r["payload"].raw for r in got] == [ROW, other]  # the exact bytes
    # The same records, ingested when the answer came (not when they are taken).
    assert comparable(got) == comparable(expected)
    assert got[0]["ingested_at_utc"] == held.received
    # Parsed objects (an unusual answer) wait as records; an empty answer holds none.
    parsed = envelope.Held([orjson.loads(ROW)], source)
    assert parsed._packed == b""
    assert [r["id"] for r in parsed.records()] == ["12"]
    assert envelope.Held([], source).records() == []
