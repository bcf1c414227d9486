"""What a full backfill of the report streams costs: requests, splits, seconds (scenario 5).

Starts `qbo-emulator serve` with the bench company, runs our tap with every report stream
selected (both accounting methods, monthly, from the bench's start date to the run's start) and
reads from the emulator how many report requests it made, against the fewest the plan needs
(`expected_requests`: a request per month, report and basis, aging once a month, and the balance
sheet and cash flow once per calendar year and basis). The emulator's limits and the tap's
budgets are lifted, so the seconds are the tap's and the emulator's work; the time Intuit's
limits would add is computed from the request count (`report_requests_per_minute`, 200 by
default, and 500 a minute per realm). Also run with a size cap (`--max-cells`) low enough that
the general ledger must be split, to show what splitting costs.

    python bench/report_backfill.py [--quick] [--max-cells N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
START_DATE = "2022-01-01"
REPORT_STREAMS = (
    "report_profit_and_loss",
    "report_balance_sheet",
    "report_cash_flow",
    "report_trial_balance",
    "report_general_ledger",
    "report_profit_and_loss_detail",
    "report_aged_receivables",
    "report_aged_payables",
)
FULL = {"invoices": 100_000, "customers": 20_000, "items": 5_000}
QUICK = {"invoices": 2_000, "customers": 400, "items": 100}


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        sys.exit(f"report_backfill: {name} is not installed (run `make install`)")
    return found


def months(start: dt.date, end: dt.date) -> int:
    """Complete calendar months from the one containing `start` to the last ending before `end`."""
    return (end.year - start.year) * 12 + end.month - start.month


def expected_requests(start: dt.date, end: dt.date, methods: int = 2) -> int:
    """Report requests of a backfill of every report stream when nothing must be split."""
    from tap_quickbooks import reports
    from tap_quickbooks.report_streams import REPORT_STREAM_TYPES

    periods = reports.complete_periods(start, end, "month")
    total = 0
    for stream in REPORT_STREAM_TYPES:
        groups = reports.by_year(periods) if stream.by_year else periods
        total += len(groups) * (methods if stream.basis else 1)
    return total


def measure(company: dict[str, int], max_cells: int, workdir: Path) -> dict[str, Any]:
    from qbo_emulator.testing import EmulatorServer  # type: ignore[import-untyped]

    with EmulatorServer(
        seed=1, realms=1, rate_limit=0, concurrency_limit=0, report_max_cells=max_cells, **company
    ) as emu:
        config = {
            "client_id": "qbo-emulator-client",
            "client_secret": "qbo-emulator-secret",
            "refresh_token": emu.refresh_token(),
            "realm_id": emu.realm_ids[0],
            "api_url": emu.base_url,
            "auth_url": emu.token_url,
            "start_date": START_DATE,
            "token_store_path": str(workdir / "tokens.json"),
            "report_accounting_method": "both",
            "max_requests_per_minute": 1_000_000,
            "report_requests_per_minute": 1_000_000,
        }
        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(config))
        tap = tool("tap-quickbooks")
        catalog = json.loads(
            subprocess.run(
                [tap, "--config", str(config_path), "--discover"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if not meta["breadcrumb"]:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] in REPORT_STREAMS
        catalog_path = workdir / "catalog.json"
        catalog_path.write_text(json.dumps(catalog))
        emu.reset_stats()
        started = time.monotonic()
        with (workdir / "out.jsonl").open("wb") as out:
            proc = subprocess.run(
                [tap, "--config", str(config_path), "--catalog", str(catalog_path)],
                stdout=out,
                stderr=subprocess.DEVNULL,
                check=False,
                env=dict(os.environ),
            )
        seconds = time.monotonic() - started
        stats = emu.stats()
    rows: dict[str, int] = {}
    pages = 0
    with (workdir / "out.jsonl").open() as handle:
        for line in handle:
            message = json.loads(line)
            if message.get("type") == "RECORD":
                rows[message["stream"]] = rows.get(message["stream"], 0) + 1
                pages += int(message["record"].get("page_number") or 1)
    start, today = dt.date.fromisoformat(START_DATE), dt.datetime.now(dt.UTC).date()
    n = months(start, today)
    floor = expected_requests(start, today)
    requests = int(stats["by_endpoint"].get("reports", 0))
    return {
        "company": company,
        "max_cells": max_cells,
        "exit": proc.returncode,
        "months": n,
        "records": sum(rows.values()),
        "rows": rows,
        "report_requests": requests,
        "requests_per_record_sum": pages,
        "floor": floor,
        "api_requests": int(stats["requests"]["api"]),
        "token_requests": int(stats["requests"]["token"]),
        "seconds": round(seconds, 1),
        "minutes_at_200_per_minute": math.ceil(requests / 200),
    }


def render(result: dict[str, Any]) -> str:
    extra = result["report_requests"] - result["floor"]
    return "\n".join(
        [
            f"- company {result['company']}, size cap {result['max_cells']:,} cells: "
            f"{result['months']} months x (4 reports x 2 bases + 2 aging reports), and the "
            f"balance sheet and cash flow a year per request and basis: {result['floor']:,} "
            "requests at least",
            f"- report requests {result['report_requests']:,} ({extra:+,} for splits), "
            f"{result['records']:,} records, API requests in all {result['api_requests']:,}, "
            f"token refreshes {result['token_requests']}",
            f"- {result['seconds']} s without limits; at Intuit's report limit (200/min) at least "
            f"{result['minutes_at_200_per_minute']} minutes; exit {result['exit']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="the bench's quick company")
    parser.add_argument(
        "--max-cells", type=int, default=400_000, help="the emulator's report size cap"
    )
    args = parser.parse_args(argv)
    company = QUICK if args.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    try:
        result = measure(company, args.max_cells, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(result))
    print(json.dumps(result))
    return 0 if result["exit"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
