"""Quick probe of scenario 2 (realistic latency and limits) for our tap alone.

Starts `qbo-emulator serve` with ~250 ms a request + 1 ms a row and the 500/min and
10-in-flight limits on, runs `tap-quickbooks` once over the whole company, and prints the
API requests, the wall time and the lower bound those limits allow (the same formula as
`bench/run.py`). Smaller than the full bench, so it runs in well under a minute:

    python bench/realistic_probe.py --invoices 20000 --customers 4000 --items 1000
    python bench/realistic_probe.py --window-days 30      # compare a setting
    python bench/realistic_probe.py --flat --streams invoices,customers,items \
        --invoices 50000 --customers 15000 --items 2500 --start-date 2000-01-01

`--flat` is the flat latency model instead (every request 1 s, no per-row cost, 10 in flight,
no rate limit): wall time then counts requests, and the bound is ceil(pages / 10) s.
Every stream is read unless `--streams` names some; the bound counts the rows emitted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# The service model and its lower bound are the full benchmark's (bench/run.py).
import request_timeline
from run import (
    FLAT_REQUEST_S,
    LATENCY_PER_REQUEST_S,
    LATENCY_PER_ROW_S,
    LIMIT_CONCURRENT,
    PAGE_SIZE,
    lower_bound_of,
)


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        sys.exit(f"{name} not found (install tap-quickbooks and qbo-emulator in this venv)")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=4_000)
    parser.add_argument("--items", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--window-days", type=int, default=None, help="default: the tap's")
    parser.add_argument("--keep", action="store_true", help="keep the tap's output and log")
    parser.add_argument("--flat", action="store_true", help="every request 1 s, 10 in flight")
    parser.add_argument("--streams", default="", help="comma-separated (default: every stream)")
    parser.add_argument("--start-date", default="2022-01-01T00:00:00Z")
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="print each request's start and end (s from the tap's start) and the slots busy",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="realistic-probe-"))
    emulator = subprocess.Popen(
        [
            tool("qbo-emulator"),
            "serve",
            "--port=0",
            f"--seed={args.seed}",
            f"--invoices={args.invoices}",
            f"--customers={args.customers}",
            f"--items={args.items}",
            *(
                [
                    f"--latency-ms={FLAT_REQUEST_S * 1000:g}",
                    "--latency-per-row-ms=0",
                    "--rate-limit=0",
                    "--concurrency-limit=10",
                ]
                if args.flat
                else [
                    f"--latency-ms={LATENCY_PER_REQUEST_S * 1000:g}",
                    f"--latency-per-row-ms={LATENCY_PER_ROW_S * 1000:g}",
                ]
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        line = emulator.stdout.readline().strip()
        if not line.startswith("READY "):
            sys.exit(f"emulator did not start: {line!r}")
        base = line.split(" ", 1)[1]
        config = {
            "client_id": "qbo-emulator-client",
            "client_secret": "qbo-emulator-secret",
            "refresh_token": "qbo-emulator-refresh",
            "realm_id": "9341450000000001",
            "api_url": base,
            "auth_url": f"{base}/oauth2/v1/tokens/bearer",
            "start_date": args.start_date,
            "end_date": "2026-01-02T00:00:00Z",
            "token_store_path": str(work / "tokens.json"),
        }
        if args.window_days:
            config["window_days"] = args.window_days
        (work / "config.json").write_text(json.dumps(config))
        argv = [tool("tap-quickbooks"), "--config", str(work / "config.json")]
        if args.streams:
            found = subprocess.run(
                [*argv, "--discover"], capture_output=True, text=True, check=True
            )
            catalog = json.loads(found.stdout)
            wanted = set(args.streams.split(","))
            for stream in catalog["streams"]:
                for entry in stream.get("metadata", []):
                    if not entry.get("breadcrumb"):
                        entry["metadata"]["selected"] = stream["tap_stream_id"] in wanted
            (work / "catalog.json").write_text(json.dumps(catalog))
            argv += ["--catalog", str(work / "catalog.json")]
        if args.timeline:  # the same tap, each request timed (bench/request_timeline.py)
            script = Path(__file__).with_name("request_timeline.py")
            argv = [sys.executable, str(script), str(work / "timeline.jsonl"), "--", *argv[1:]]
        urllib.request.urlopen(urllib.request.Request(f"{base}/__emulator__/stats/reset", b"{}"))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        with (work / "out.jsonl").open("wb") as out, (work / "tap.log").open("wb") as log:
            code = subprocess.call(
                argv,
                stdout=out,
                stderr=log,
                env=env,
            )
        wall = time.monotonic() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("ru_utime", "ru_stime"))
        with urllib.request.urlopen(f"{base}/__emulator__/stats") as response:
            stats = json.load(response)
    finally:
        emulator.terminate()
        emulator.wait()

    rows: dict[str, int] = {}
    with (work / "out.jsonl").open("rb") as out:
        for raw in out:
            if raw.startswith(b'{"type":"RECORD"'):
                stream = json.loads(raw)["stream"]
                rows[stream] = rows.get(stream, 0) + 1
    if args.flat:
        bound = lower_bound_of(rows.values(), FLAT_REQUEST_S, 0.0, None).seconds
    else:
        bound = lower_bound_of(rows.values()).seconds
    api = stats["requests"]["api"]
    min_pages = sum(math.ceil(n / PAGE_SIZE) for n in rows.values())
    print(
        f"exit={code} rows={sum(rows.values())} {rows} api_requests={api} "
        f"(min pages {min_pages}; {stats.get('by_endpoint')}) throttled={stats['throttled']} "
        f"max_in_flight={max(stats['max_in_flight'].values(), default=0)}"
    )
    print(
        f"wall={wall:.1f} s  tap_cpu={cpu:.1f} s  tap_peak_rss={cpu_after.ru_maxrss // 1024} MB  "
        f"lower_bound={bound:.1f} s  "
        f"ratio={wall / bound:.2f}x"
    )
    if args.timeline:
        print(request_timeline.render(work / "timeline.jsonl", LIMIT_CONCURRENT))
    if args.keep:
        print(f"output and log in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
