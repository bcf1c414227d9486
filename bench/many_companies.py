"""Scenario 6, many companies: 20 companies of about 6,250 rows each (every entity) in one tap run.

    python bench/many_companies.py            # about 2 minutes on 2 cores
    python bench/many_companies.py --realms 5 # smaller

Under the realistic latency model of `bench/run.py` (~250 ms a request + 1 ms a row, 500
requests/min and 10 in flight enforced per company), one emulator serves N companies and the
tap reads them:

- in parallel (`parallel_realms: true`, the default) and one after another
  (`parallel_realms: false`), tap alone: wall time, CPU, peak RSS, the speed-up;
- one company alone, for reference;
- end to end into Postgres (tap | target-postgres-fast), all companies and one company: rows/s.

Every run is checked: each company's ids and SyncTokens equal the emulator's truth (tap
alone) or each table's row count per company (Postgres). Results: `bench/results-many.md`,
raw output in `bench/out/many/`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench

# 6,250 rows a company across every entity stream (the emulator sizes the other entities in
# proportion to these three; this company has about 6,200 rows in all).
COMPANY = bench.Company(invoices=2_600, customers=520, items=130)
TARGET_SPEEDUP = 5.0
TARGET_RSS_MB = 200.0


@dataclass
class Measure:
    label: str
    realms: int
    rows: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    maxrss_mb: float = 0.0
    target_maxrss_mb: float | None = None
    requests: int = 0
    throttled: int = 0
    ok: bool = False
    complete: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def config(emu: bench.Emulator, realms: list[str], workdir: Path, **extra: Any) -> Path:
    tokens = emu.admin("tokens")
    body = {
        "client_id": "qbo-emulator-client",
        "client_secret": "qbo-emulator-secret",
        "refresh_token": ",".join(tokens[r] for r in realms),
        "realm_id": ",".join(realms),
        "api_url": emu.base_url,
        "auth_url": emu.token_url,
        "start_date": bench.START_DATE,
        "page_size": bench.PAGE_SIZE,
        "token_store_path": str(workdir / "tokens.json"),
        **extra,
    }
    path = workdir / "tap-config.json"
    path.write_text(json.dumps(body, indent=2))
    return path


def api_requests(stats: dict[str, Any], realms: list[str]) -> tuple[int, int]:
    per = stats.get("realms", {})
    return (
        sum(int(per.get(r, {}).get("requests", 0)) for r in realms),
        sum(int(per.get(r, {}).get("throttled", 0)) for r in realms),
    )


def check_records(path: Path, truth: dict[str, Any], realms: list[str]) -> tuple[int, str]:
    got: dict[str, dict[str, dict[str, str]]] = {r: {e: {} for e in bench.TABLES} for r in realms}
    rows = 0
    with path.open("rb") as lines:
        for line in lines:
            if b'"RECORD"' not in line[:40]:
                continue
            record = json.loads(line)["record"]
            entity = bench.STREAM_ENTITY[json.loads(line)["stream"].removeprefix("qb_")]
            got[record["realm_id"]][entity][str(record["id"])] = str(record["sync_token"])
            rows += 1
    wrong = [
        f"{realm} {entity}"
        for realm in realms
        for entity in bench.TABLES
        if got[realm][entity] != truth[realm][entity]
    ]
    return rows, "yes" if not wrong else f"differs: {', '.join(wrong[:5])}"


def tap_alone(
    tools: bench.Tools,
    emu: bench.Emulator,
    realms: list[str],
    label: str,
    workdir: Path,
    timeout: float,
    **settings: Any,
) -> Measure:
    workdir.mkdir(parents=True, exist_ok=True)
    path = config(emu, realms, workdir, **settings)
    before = emu.stats()
    proc = bench.peerlib.run_process(
        [tools.tap, "--config", str(path)],
        dict(os.environ),
        workdir / "stdout.jsonl",
        workdir / "stderr.log",
        timeout,
    )
    requests, throttled = api_requests(emu.stats(), realms)
    requests_before, throttled_before = api_requests(before, realms)
    measure = Measure(
        label,
        len(realms),
        seconds=proc.seconds,
        cpu_s=proc.cpu_s,
        maxrss_mb=proc.maxrss_kb / 1024,
        requests=requests - requests_before,
        throttled=throttled - throttled_before,
        ok=proc.returncode == 0 and not proc.timed_out,
    )
    measure.rows, measure.complete = check_records(workdir / "stdout.jsonl", emu.truth(), realms)
    (workdir / "stdout.jsonl").unlink(missing_ok=True)
    bench.log(describe(measure))
    return measure


def end_to_end(
    tools: bench.Tools,
    emu: bench.Emulator,
    realms: list[str],
    label: str,
    workdir: Path,
    timeout: float,
) -> Measure:
    target_exe = tools.target_fast or tools.target
    assert target_exe is not None, "no target-postgres installed"
    workdir.mkdir(parents=True, exist_ok=True)
    database = f"qbo_bench_many_{os.getpid()}_{len(realms)}"
    measure = Measure(label, len(realms))
    before = emu.stats()
    with bench.scratch_database(database) as url:
        tap_cfg = config(emu, realms, workdir, stream_maps=bench.STREAM_MAPS)
        target_cfg = workdir / "target-config.json"
        target_cfg.write_text(json.dumps({"sqlalchemy_url": url, **bench.TARGET_SETTINGS}))
        piped = bench.pipe_tap_into_target(
            [tools.tap, "--config", str(tap_cfg)],
            [target_exe, "--config", str(target_cfg)],
            workdir,
            timeout,
            lambda pgid: os.killpg(pgid, 9),
        )
        measure.seconds = piped.seconds
        requests, throttled = api_requests(emu.stats(), realms)
        requests_before, throttled_before = api_requests(before, realms)
        measure.requests = requests - requests_before
        measure.throttled = throttled - throttled_before
        measure.cpu_s = piped.tap_cpu_s
        measure.maxrss_mb = piped.tap_maxrss_mb
        measure.target_maxrss_mb = piped.target_maxrss_mb
        codes = piped.codes
        measure.ok = codes == (0, 0)
        truth = emu.truth()
        wrong = []
        for entity, table in bench.TABLES.items():
            found = bench.psql(
                f"SELECT realm_id, count(*) FROM raw.{table} GROUP BY realm_id", database
            )
            counts = Counter(
                {line.split("|")[0]: int(line.split("|")[1]) for line in found.splitlines()}
            )
            wrong += [f"{r} {entity}" for r in realms if counts[r] != len(truth[r][entity])]
            measure.rows += sum(counts[r] for r in realms)
        measure.complete = "yes" if not wrong else f"differs: {', '.join(wrong[:5])}"
    bench.log(describe(measure))
    return measure


def describe(m: Measure) -> str:
    rss = f", target RSS {m.target_maxrss_mb:.0f} MB" if m.target_maxrss_mb else ""
    return (
        f"{m.label}: {m.rows:,} rows in {m.seconds:.1f} s ({m.rows_per_s:,.0f} rows/s), "
        f"CPU {m.cpu_s:.1f} s, peak RSS {m.maxrss_mb:.0f} MB{rss}, {m.requests} requests, "
        f"{m.throttled} throttled, complete: {m.complete}, ok: {m.ok}"
    )


def report(measures: dict[str, Measure], realms: int, info: dict[str, Any]) -> str:
    parallel, serial = measures["parallel"], measures["serial"]
    speedup = serial.seconds / parallel.seconds if parallel.seconds else 0.0
    lines = [
        "# Many companies (scenario 6)",
        "",
        f"{realms} companies of {measures['one'].rows:,} rows each in every entity stream "
        f"({COMPANY.label()}, the other entities in proportion), realistic "
        "latency model (~250 ms a request + 1 ms a row; 500 requests/min and 10 in flight "
        'enforced per company), one tap run; "into Postgres" is the tap piped into '
        "target-postgres-fast (`tap-quickbooks | target-postgres-fast`). Produced by "
        "`python bench/many_companies.py` "
        f"at {info['started']} (commit {info['commit']}, load average {info['load']}).",
        "",
        "| run | companies | rows | seconds | rows/s | tap CPU s | tap peak RSS MB | "
        "target peak RSS MB | requests | 429s | complete |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in measures.values():
        target = f"{m.target_maxrss_mb:.0f}" if m.target_maxrss_mb else ""
        lines.append(
            f"| {m.label} | {m.realms} | {m.rows:,} | {m.seconds:.1f} | {m.rows_per_s:,.0f} | "
            f"{m.cpu_s:.1f} | {m.maxrss_mb:.0f} | {target} | {m.requests} | {m.throttled} | "
            f"{m.complete} |"
        )
    rss_ok = parallel.maxrss_mb < TARGET_RSS_MB
    lines += [
        "",
        f"- Parallel vs one after another: **{speedup:.1f}x** (target >= {TARGET_SPEEDUP:.0f}x: "
        f"{'met' if speedup >= TARGET_SPEEDUP else 'NOT met'}).",
        f"- Tap peak RSS with {realms} companies: **{parallel.maxrss_mb:.0f} MB** (target "
        f"< {TARGET_RSS_MB:.0f} MB: {'met' if rss_ok else 'NOT met'}).",
    ]
    if "e2e-all" in measures and "e2e-one" in measures:
        lines.append(
            f"- End to end into Postgres: {measures['e2e-all'].rows_per_s:,.0f} rows/s for "
            f"{realms} companies, {measures['e2e-one'].rows_per_s:,.0f} rows/s for one."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--realms", type=int, default=20)
    parser.add_argument("--no-postgres", action="store_true", help="tap alone only")
    parser.add_argument(
        "--parallel-only", action="store_true", help="only the parallel tap run (tuning)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="a tap setting for the parallel runs, e.g. max_total_requests=60",
    )
    parser.add_argument("--out", type=Path, default=bench.BENCH / "out" / "many")
    args = parser.parse_args(argv)
    tools = bench.Tools.find()
    out: Path = args.out
    shutil.rmtree(out, ignore_errors=True)  # token stores of an earlier emulator are stale
    out.mkdir(parents=True)
    info = {
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": bench.command_output(
            ["git", "-C", str(bench.ROOT), "rev-parse", "--short", "HEAD"]
        ),
        "load": bench.load_average(),
    }
    emu = bench.Emulator(tools.emulator, COMPANY, out / "emulator", realms=args.realms)
    measures: dict[str, Measure] = {}
    try:
        emu.configure(**bench.REALISTIC)
        realms = emu.realm_ids
        cap = 1800.0
        tuned = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
        if args.parallel_only:
            tap_alone(
                tools, emu, realms, "all companies at once, tap", out / "parallel", cap, **tuned
            )
            return 0
        measures["one"] = tap_alone(tools, emu, realms[:1], "one company, tap", out / "one", cap)
        measures["parallel"] = tap_alone(
            tools, emu, realms, "all companies at once, tap", out / "parallel", cap, **tuned
        )
        measures["serial"] = tap_alone(
            tools,
            emu,
            realms,
            "one after another, tap",
            out / "serial",
            cap,
            parallel_realms=False,
        )
        if not args.no_postgres:
            measures["e2e-one"] = end_to_end(
                tools,
                emu,
                realms[:1],
                "one company, into Postgres",
                out / "e2e-one",
                cap,
            )
            measures["e2e-all"] = end_to_end(
                tools,
                emu,
                realms,
                "all companies at once, into Postgres",
                out / "e2e-all",
                cap,
            )
    finally:
        emu.stop()
    info["load"] = f"{info['load']} at the start, {bench.load_average()} at the end"
    (out / "results.json").write_text(
        json.dumps(
            {"info": info, "measures": {k: asdict(m) for k, m in measures.items()}}, indent=2
        )
    )
    text = report(measures, args.realms, info)
    target = bench.BENCH / ("results-many.md" if args.realms == 20 else "results-many-small.md")
    target.write_text(text)
    print(text)
    return 0 if all(m.ok and m.complete == "yes" for m in measures.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
