"""Measure how many 1000-invoice query pages per second the QBO emulator serves.

Starts `qbo-emulator serve` as a child process (its own interpreter, so client and server do not
share a GIL), refreshes a token, then pages through the invoices ordered by LastUpdatedTime with
`MAXRESULTS 1000` over a few keep-alive connections, no latency configured. Bodies are read in
full but not parsed (the first page of each connection is parsed once to check it).

    python bench/emulator_bench.py [--invoices 100000] [--connections 4] [--seconds 10]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from urllib.parse import quote, urlsplit

QUERY = (
    "SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= '2021-01-01T00:00:00Z' "
    "ORDER BY Metadata.LastUpdatedTime ASC STARTPOSITION {start} MAXRESULTS 1000"
)


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "qbo_emulator",
        "serve",
        "--port",
        "0",
        "--seed",
        "1",
        "--customers",
        "2000",
        "--items",
        "200",
        "--invoices",
        str(args.invoices),
        "--rate-limit",
        "0",
        "--concurrency-limit",
        "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"emulator did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def token(base: str) -> str:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    basic = base64.b64encode(b"qbo-emulator-client:qbo-emulator-secret").decode()
    conn.request(
        "POST",
        "/oauth2/v1/tokens/bearer",
        body="grant_type=refresh_token&refresh_token=qbo-emulator-refresh",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    body = json.loads(conn.getresponse().read())
    conn.close()
    return str(body["access_token"])


def worker(
    base: str, access: str, starts: list[int], deadline: float, out: list[tuple[int, int, float]]
) -> None:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    headers = {"Authorization": f"Bearer {access}", "Accept": "application/json"}
    pages = nbytes = 0
    busy = 0.0
    i = 0
    checked = False
    while time.perf_counter() < deadline:
        start = starts[i % len(starts)]
        i += 1
        path = "/v3/company/9341450000000001/query?minorversion=75&query=" + quote(
            QUERY.format(start=start)
        )
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        busy += time.perf_counter() - t0
        if resp.status != 200:
            raise SystemExit(f"HTTP {resp.status}: {data[:200]!r}")
        if not checked:
            rows = json.loads(data)["QueryResponse"]["Invoice"]
            assert len(rows) == 1000, len(rows)
            checked = True
        pages += 1
        nbytes += len(data)
    conn.close()
    out.append((pages, nbytes, busy))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--url", help="use an already running emulator at this base URL")
    args = parser.parse_args()
    proc = None
    t0 = time.perf_counter()
    if args.url:
        base = args.url
    else:
        proc, base = start_server(args)
    startup = time.perf_counter() - t0
    try:
        access = token(base)
        starts = list(range(1, max(2, args.invoices - 2000), 1000))
        # warm-up: one pass over a few pages
        warm: list[tuple[int, int, float]] = []
        worker(base, access, starts[:3], time.perf_counter() + 1.0, warm)
        out: list[tuple[int, int, float]] = []
        cpu_before = cpu_seconds(proc.pid) if proc is not None else None
        deadline = time.perf_counter() + args.seconds
        began = time.perf_counter()
        threads = [
            threading.Thread(
                target=worker,
                args=(base, access, starts[k :: args.connections] or starts, deadline, out),
            )
            for k in range(args.connections)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        cpu_after = cpu_seconds(proc.pid) if proc is not None else None
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    pages = sum(p for p, _, _ in out)
    nbytes = sum(b for _, b, _ in out)
    busy = sum(t for _, _, t in out)
    result = {
        "invoices": args.invoices,
        "connections": args.connections,
        "seconds": round(elapsed, 2),
        "startup_seconds": round(startup, 2),
        "pages": pages,
        "pages_per_second": round(pages / elapsed, 1),
        "mb_per_second": round(nbytes / elapsed / 1e6, 1),
        "mean_page_bytes": nbytes // max(1, pages),
        "mean_latency_ms": round(1000 * busy / max(1, pages), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if cpu_before is not None and cpu_after is not None and pages:
        per_page = (cpu_after - cpu_before) / pages
        result["server_cpu_ms_per_page"] = round(1000 * per_page, 2)
        # what one core would serve if the server had it to itself
        result["pages_per_cpu_second"] = round(1 / per_page, 1) if per_page else None
    print(json.dumps(result))
    print(
        f"emulator: {result['pages_per_second']} pages/s of 1000 invoices "
        f"({result['mb_per_second']} MB/s) over {args.connections} keep-alive connections; "
        f"server CPU {result.get('server_cpu_ms_per_page')} ms/page "
        f"(= {result.get('pages_per_cpu_second')} pages per CPU-second); "
        f"load average {result['load_average_1m']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
