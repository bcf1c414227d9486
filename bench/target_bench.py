# ruff: noqa: UP031 (the JSON templates use %-formatting: braces clash with format)
"""Stock target-postgres 0.8.1 vs target-postgres-fast on the same Singer file.

Generates N RECORD messages shaped like the tap's invoice envelope (about 2.3 KB
each, seeded), then loads the file with each target into its own throw-away schema
of a real Postgres, in one run, and prints rows/s and peak RSS for each. Stock runs
in its best configuration (``use_copy: true``, ``validate_records: false``); ours
gets the same configuration. A checksum of the stored rows is compared at the end.

    python bench/target_bench.py [--records 50000] [--dsn postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import typing as t
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import peerlib

REALM = "9341450000000001"
STREAM = "invoices"
SCHEMA: dict[str, t.Any] = {
    "type": "object",
    "properties": {
        "realm_id": {"type": "string"},
        "id": {"type": "string"},
        "sync_token": {"type": ["string", "null"]},
        "last_updated_time": {"type": ["string", "null"], "format": "date-time"},
        "payload": {"type": ["object", "null"]},
        "ingested_at_utc": {"type": ["string", "null"], "format": "date-time"},
        "extract_window_start_utc": {"type": ["string", "null"], "format": "date-time"},
        "extract_window_end_utc": {"type": ["string", "null"], "format": "date-time"},
        "page_number": {"type": ["integer", "null"]},
        "page_size": {"type": ["integer", "null"]},
        "request_payload": {"type": ["object", "null"]},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
TARGETS = {
    "stock target-postgres 0.8.1": (
        "from target_postgres.target import TargetPostgres as T; T.cli()"
    ),
    "target-postgres-fast": (
        "from target_postgres_fast.target import TargetPostgresFast as T; T.cli()"
    ),
}


def _money(rnd: random.Random) -> str:
    return f"{rnd.randint(0, 500000) / 100:.2f}"


def _invoice(rnd: random.Random, n: int, updated: str) -> str:
    lines = []
    for i in range(1, 4):
        amount = _money(rnd)
        lines.append(
            '{"Id":"%d","LineNum":%d,"Description":"Service l\'\\u00e9t\\u00e9 %d",'
            '"Amount":%s,"DetailType":"SalesItemLineDetail","SalesItemLineDetail":'
            '{"ItemRef":{"value":"%d","name":"Item %d"},"UnitPrice":%s,"Qty":%d,'
            '"TaxCodeRef":{"value":"NON"}}}'
            % (
                i,
                i,
                rnd.randint(1, 999),
                amount,
                rnd.randint(1, 300),
                rnd.randint(1, 300),
                amount,
                rnd.randint(1, 9),
            )
        )
    total = _money(rnd)
    return (
        '{"AllowIPNPayment":false,"AllowOnlinePayment":false,"domain":"QBO",'
        '"sparse":false,"Id":"%d","SyncToken":"0","MetaData":{"CreateTime":"%s",'
        '"LastUpdatedTime":"%s"},"CustomField":[{"DefinitionId":"1","Name":"Crew #",'
        '"Type":"StringType","StringValue":"%d"}],"DocNumber":"%d","TxnDate":"2024-02-18",'
        '"CurrencyRef":{"value":"USD","name":"United States Dollar"},"Line":[%s,'
        '{"Amount":%s,"DetailType":"SubTotalLineDetail","SubTotalLineDetail":{}}],'
        '"TxnTaxDetail":{"TotalTax":0},"CustomerRef":{"value":"%d","name":"Customer %d"},'
        '"CustomerMemo":{"value":"Thank you for your business and have a great day!"},'
        '"BillAddr":{"Id":"%d","Line1":"%d Cypress Hill Ave.","City":"Middlefield",'
        '"CountrySubDivisionCode":"CA","PostalCode":"94303"},"SalesTermRef":{"value":"3"},'
        '"DueDate":"2024-03-20","TotalAmt":%s,"ApplyTaxAfterDiscount":false,'
        '"PrintStatus":"NeedToPrint","EmailStatus":"NotSet","BillEmail":'
        '{"Address":"customer%d@example.com"},"Balance":%s}'
        % (
            n,
            updated,
            updated,
            rnd.randint(1, 999),
            1000 + n,
            ",".join(lines),
            total,
            rnd.randint(1, 2000),
            rnd.randint(1, 2000),
            rnd.randint(1, 9999),
            rnd.randint(1, 9999),
            total,
            n,
            rnd.choice([total, "0"]),
        )
    )


def generate(path: Path, records: int, seed: int = 1) -> int:
    """Write the Singer file; return its mean RECORD line size in bytes."""
    rnd = random.Random(seed)
    size = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(
            json.dumps(
                {
                    "type": "SCHEMA",
                    "stream": STREAM,
                    "schema": SCHEMA,
                    "key_properties": ["realm_id", "id"],
                }
            )
            + "\n"
        )
        for n in range(1, records + 1):
            updated = f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00"
            page, offset = divmod(n - 1, 1000)
            record = (
                '{"realm_id":"%s","id":"%d","sync_token":"0","last_updated_time":"%s+00:00",'
                '"payload":%s,"ingested_at_utc":"2026-01-01T00:00:00.%06d+00:00",'
                '"extract_window_start_utc":"2024-01-01T00:00:00+00:00",'
                '"extract_window_end_utc":"2025-01-01T00:00:00+00:00","page_number":%d,'
                '"page_size":1000,"request_payload":{"query":"SELECT * FROM Invoice WHERE '
                "MetaData.LastUpdatedTime >= '2024-01-01T00:00:00Z' AND "
                "MetaData.LastUpdatedTime < '2025-01-01T00:00:00Z' ORDERBY "
                'MetaData.LastUpdatedTime STARTPOSITION %d MAXRESULTS 1000",'
                '"minorversion":75,"start_position":%d,"max_results":1000,'
                '"endpoint":"query"},"_sdc_deleted_at":null}'
                % (
                    REALM,
                    n,
                    updated,
                    _invoice(rnd, n, updated + "-08:00"),
                    n % 1000000,
                    page + 1,
                    page * 1000 + 1,
                    page * 1000 + 1,
                )
            )
            line = (
                '{"type":"RECORD","stream":"%s","record":%s,'
                '"time_extracted":"2026-01-01T00:00:00+00:00"}\n' % (STREAM, record)
            )
            size += len(line.encode())
            out.write(line)
            del offset
            if n % 1000 == 0:
                out.write(
                    json.dumps(
                        {
                            "type": "STATE",
                            "value": {
                                "bookmarks": {STREAM: {"replication_key_value": updated + "+00:00"}}
                            },
                        }
                    )
                    + "\n"
                )
    return size // max(records, 1)


def run_target(
    code: str, config: dict[str, t.Any], input_path: Path, workdir: Path
) -> tuple[float, float, int, int]:
    """Run one target; return (seconds, CPU seconds, peak RSS in KB, return code)."""
    config_path = workdir / f"config-{uuid.uuid4().hex}.json"
    config_path.write_text(json.dumps(config))
    with open(os.devnull, "w") as devnull, open(workdir / "stderr.log", "a") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "--config", str(config_path), "--input", str(input_path)],
            stdout=devnull,
            stderr=err,
            process_group=0,
        )
        # Peak RSS from /proc (see peerlib.PeakRss: wait4's would include this script's size).
        with peerlib.PeakRss(proc.pid) as rss:
            _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, rss.peak(proc.pid) or usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def checksum(conn: psycopg.Connection[t.Any], schema: str) -> tuple[int, str]:
    row = conn.execute(
        "SELECT count(*), md5(string_agg(realm_id || id || sync_token || "
        "last_updated_time::text || payload::text || request_payload::text || "
        "_sdc_extracted_at::text, '|' ORDER BY id)) "
        f'FROM "{schema}"."{STREAM}"'
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument(
        "--dsn",
        default=os.environ.get("QBO_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--only", choices=["stock", "fast"], default=None)
    args = parser.parse_args()
    if args.records < 1:
        parser.error("--records must be at least 1")
    url = "postgresql+psycopg://" + args.dsn.split("://", 1)[1]
    prefix = f"target_bench_{uuid.uuid4().hex[:8]}"
    results = []
    load_before = f"{os.getloadavg()[0]:.1f}"
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(args.dsn, autocommit=True) as conn:
        workdir = Path(tmp)
        input_path = workdir / "invoices.jsonl"
        mean = generate(input_path, args.records)
        print(f"{args.records} records, {mean} bytes per RECORD line on average")
        try:
            for i, (label, code) in enumerate(TARGETS.items()):
                if args.only and (args.only == "fast") != (i == 1):
                    continue
                schema = f"{prefix}_{i}"
                config = {
                    "sqlalchemy_url": url,
                    "default_target_schema": schema,
                    "use_copy": True,
                    "validate_records": False,
                }
                seconds, cpu, rss_kb, code_ = run_target(code, config, input_path, workdir)
                if code_ != 0:
                    print((workdir / "stderr.log").read_text()[-3000:], file=sys.stderr)
                    print(f"{label} failed with exit code {code_}", file=sys.stderr)
                    return 1
                count, digest = checksum(conn, schema)
                results.append((label, seconds, cpu, rss_kb, count, digest))
        finally:
            for i in range(len(TARGETS)):
                conn.execute(f'DROP SCHEMA IF EXISTS "{prefix}_{i}" CASCADE')
    print(
        f"python {platform.python_version()}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}"
    )
    print(f"load average before/after: {load_before} / {os.getloadavg()[0]:.1f}")
    print(
        f"{'target':32} {'rows/s':>9} {'seconds':>8} {'target CPU s':>13} "
        f"{'peak RSS MB':>12} {'rows':>7}"
    )
    for label, seconds, cpu, rss_kb, count, _ in results:
        print(
            f"{label:32} {args.records / seconds:9.0f} {seconds:8.1f} {cpu:13.1f} "
            f"{rss_kb / 1024:12.0f} {count:7d}"
        )
    if len(results) == 2:
        same = results[0][4:] == results[1][4:]
        print("stored rows identical (checksum):", "yes" if same else "NO")
        print(f"speed-up: {results[0][1] / results[1][1]:.2f}x")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
