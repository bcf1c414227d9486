"""Singer messages shaped like the QuickBooks tap's invoice envelope (seeded)."""

from __future__ import annotations

import json
import random
import typing as t

STREAM = "invoices"
KEYS = ["realm_id", "id"]
REALM = "9341450000000001"

ENVELOPE_SCHEMA: dict[str, t.Any] = {
    "type": "object",
    "properties": {
        "realm_id": {"type": "string"},
        "id": {"type": "string"},
        "sync_token": {"type": ["string", "null"]},
        "last_updated_time": {"type": ["string", "null"], "format": "date-time"},
        "payload": {"type": ["object", "null"]},
        "ingested_at_utc": {"type": ["string", "null"], "format": "date-time"},
        "extract_window_start_utc": {
            "type": ["string", "null"],
            "format": "date-time",
        },
        "extract_window_end_utc": {"type": ["string", "null"], "format": "date-time"},
        "page_number": {"type": ["integer", "null"]},
        "page_size": {"type": ["integer", "null"]},
        "request_payload": {"type": ["object", "null"]},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
}

# JSON string content (escaped): apostrophe, quotes, backslash, newline.
NASTY = r"O'Brien \"quoted\" \\ back\nnew"

# Raw JSON literals, so the exact digits reach both targets.
AMOUNTS = ["100.00", "0", "0.0", "-1.50", "12.75", "1e5", "2.5E-3", "335.250", "7"]


def schema_message(
    stream: str = STREAM,
    schema: dict[str, t.Any] | None = None,
    keys: list[str] | None = None,
) -> dict[str, t.Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": schema or ENVELOPE_SCHEMA,
        "key_properties": KEYS if keys is None else keys,
    }


def payload_json(rnd: random.Random, invoice_id: str, sync_token: str) -> str:
    """A QBO-like invoice as JSON text, with literal decimals."""
    amount = rnd.choice(AMOUNTS)
    lines = ",".join(
        '{"Id":"%d","LineNum":%d,'
        '"Description":"Caf\\u00e9 l\'\\u00e9t\\u00e9 \\u2603 %s",'
        '"Amount":%s,"DetailType":"SalesItemLineDetail","SalesItemLineDetail":'
        '{"ItemRef":{"value":"5","name":"Rock Fountain"},"UnitPrice":%s,"Qty":%d,'
        '"TaxCodeRef":{"value":"TAX"}}}'
        % (n, n, NASTY, rnd.choice(AMOUNTS), rnd.choice(AMOUNTS), rnd.randint(0, 5))
        for n in range(1, rnd.randint(2, 4))
    )
    return (
        '{"Id":"%s","SyncToken":"%s","domain":"QBO","sparse":false,'
        '"MetaData":{"CreateTime":"2023-02-18T13:16:17-08:00",'
        '"LastUpdatedTime":"2023-02-18T13:16:17-08:00"},'
        '"DocNumber":"D\'%s","CustomerMemo":null,"PrivateNote":"\\ud83d\\ude00 emoji",'
        '"Line":[%s],"TotalAmt":%s,"Balance":0,"Discount":0.0,"Empty":{},"Nums":[1,2.50,-0]}'
        % (invoice_id, sync_token, invoice_id, lines, amount)
    )


def record_line(
    invoice_id: str,
    sync_token: str,
    rnd: random.Random,
    *,
    stream: str = STREAM,
    payload: str | None = None,
    deleted_at: str | None = None,
    updated: str = "2024-03-01T10:00:00+00:00",
    time_extracted: str | None = "2024-03-02T00:00:00.123456+00:00",
    version: int | None = None,
    extra: str = "",
) -> str:
    payload_text = (
        payload if payload is not None else payload_json(rnd, invoice_id, sync_token)
    )
    deleted = "null" if deleted_at is None else f'"{deleted_at}"'
    record = (
        '{"realm_id":"%s","id":"%s","sync_token":"%s","last_updated_time":"%s",'
        '"payload":%s,"ingested_at_utc":"2024-03-02T00:00:01.5Z",'
        '"extract_window_start_utc":"2024-03-01T00:00:00+00:00",'
        '"extract_window_end_utc":"2024-03-02T00:00:00+00:00","page_number":%d,'
        '"page_size":1000,"request_payload":{"query":"SELECT * FROM Invoice WHERE '
        'MetaData.LastUpdatedTime >= \'2024-03-01T00:00:00Z\'","minorversion":75,'
        '"start_position":1,"max_results":1000,"endpoint":"query"},'
        '"_sdc_deleted_at":%s%s}'
        % (
            REALM,
            invoice_id,
            sync_token,
            updated,
            payload_text,
            rnd.randint(1, 9),
            deleted,
            extra,
        )
    )
    parts = ['"type":"RECORD"', f'"stream":"{stream}"', f'"record":{record}']
    if time_extracted is not None:
        parts.append(f'"time_extracted":"{time_extracted}"')
    if version is not None:
        parts.append(f'"version":{version}')
    return "{" + ",".join(parts) + "}\n"


def state_line(value: dict[str, t.Any]) -> str:
    return json.dumps({"type": "STATE", "value": value}) + "\n"


def envelope_stream(seed: int = 7) -> str:
    """Two+ batches with every case the parity tests care about."""
    rnd = random.Random(seed)
    out = [json.dumps(schema_message()) + "\n"]
    # first batch: duplicates inside the batch, last one wins
    for i in range(1, 9):
        out.append(record_line(str(i), "0", rnd))
    out.append(record_line("3", "1", rnd))  # same key again, newer token
    out.append(record_line("3", "2", rnd, updated="2024-03-01T11:00:00Z"))
    out.append(state_line({"bookmarks": {STREAM: {"replication_key_value": "a"}}}))
    # payload edge cases
    out.append(record_line("20", "0", rnd, payload="null"))
    out.append(record_line("21", "0", rnd, payload="{}"))
    out.append(
        record_line(
            "22", "0", rnd, payload='{"a":"x\\u0001y","n":12345678901234567890123}'
        )
    )
    out.append(record_line("23", "0", rnd, time_extracted=None, version=3))
    # across batches: an update with a new sync token, and a tombstone
    out.append(record_line("1", "5", rnd, updated="2024-03-05T00:00:00+00:00"))
    out.append(
        record_line(
            "2",
            "1",
            rnd,
            deleted_at="2024-03-06T01:02:03+00:00",
            payload='{"Id":"2","status":"Deleted","MetaData":{"LastUpdatedTime":"2024-03-06T01:02:03Z"}}',
        )
    )
    out.append(state_line({"bookmarks": {STREAM: {"replication_key_value": "b"}}}))
    for i in range(30, 45):
        out.append(record_line(str(i), "0", rnd))
    out.append(record_line("31", "9", rnd))
    out.append(state_line({"bookmarks": {STREAM: {"replication_key_value": "c"}}}))
    return "".join(out)
