"""Benchmark the tap, the pipeline and the peer taps against the QuickBooks Online emulator.

    python bench/run.py            # full: 100,000 invoices, 20,000 customers, 5,000 items
    python bench/run.py --quick    # the same company scaled down 10x, a few minutes

Everything runs in one process tree: this script starts one ``qbo-emulator serve`` for the
company (and a second one, ten times larger, for the memory scenario), runs each client as a
child process, and reads request counts from the emulator's admin stats. Scenarios:

1. tap alone, no latency: rows/s of our tap and of both peers, page size 1000 for all;
2. realistic: ~250 ms a request + 1 ms a row, 500 requests/min and 10 concurrent enforced;
   wall time of a full backfill for each client next to the lower bound the limits allow;
3. end to end into Postgres: ``meltano run tap-quickbooks target-postgres`` and the tap piped
   into stock target-postgres and into target-postgres-fast (when installed);
4. peak RSS of tap and target, and of the tap on a company ten times larger.

Results: ``bench/results.md`` + ``bench/results.png`` (``results-quick.*`` with ``--quick``),
raw numbers in ``bench/out/`` (ignored by git). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import json
import os
import platform
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH / "peers"))
peerlib = importlib.import_module("peerlib")
sys.path.insert(0, str(BENCH))
report_backfill = importlib.import_module("report_backfill")

SEED = 20240101
START_DATE = "2022-01-01T00:00:00Z"  # the seeded company starts 2022-01-01 (Pacific)
PAGE_SIZE = 1000
# Every stream of the tap (its stream list is the source), and the three the peers select.
STREAM_ENTITY = {
    str(getattr(stream, "name")): stream.entity  # noqa: B009 - the SDK types `name` per instance
    for stream in importlib.import_module("tap_quickbooks.streams").STREAM_TYPES
}
PEER_STREAMS = ["invoices", "customers", "items"]
TABLES = {entity: f"qb_{stream}" for stream, entity in STREAM_ENTITY.items()}
PG_DSN = (
    os.environ.get("QBO_BENCH_PG_DSN")
    or os.environ.get("QBO_TEST_PG_DSN")  # set by scripts/ensure-postgres (make bench)
    or "postgresql://postgres@127.0.0.1:5432/postgres"
)

# Intuit-like service: latency per request and per row returned, and the per-realm limits.
LATENCY_PER_REQUEST_S = 0.25
LATENCY_PER_ROW_S = 0.001
LIMIT_PER_MINUTE = 500
LIMIT_CONCURRENT = 10
# The flat model: every request costs the same (1 s), 10 in flight, no rate limit. Requests are
# time as well as money: under it a run's wall time counts its requests.
FLAT_REQUEST_S = 1.0

# The target settings the Meltano project uses (meltano.yml, loader target-postgres).
TARGET_SETTINGS: dict[str, Any] = {
    "default_target_schema": "raw",
    "add_record_metadata": True,
    "use_copy": True,
    "validate_records": False,
    "batch_size_rows": 10000,
    "activate_version": False,
    "hard_delete": False,
}
STREAM_MAPS = {stream: {"__alias__": f"qb_{stream}"} for stream in STREAM_ENTITY}


@dataclass(frozen=True)
class Company:
    invoices: int
    customers: int
    items: int

    @property
    def rows(self) -> int:
        """Rows of the three sized entities (the emulator adds the others in proportion)."""
        return self.invoices + self.customers + self.items

    def scaled(self, factor: int) -> Company:
        return Company(self.invoices * factor, self.customers * factor, self.items * factor)

    def label(self) -> str:
        return f"{self.invoices:,} invoices, {self.customers:,} customers, {self.items:,} items"


FULL = Company(invoices=100_000, customers=20_000, items=5_000)
# Quick keeps the bulk-import burst (>= 1500 invoices) and fits in about three minutes.
QUICK = Company(invoices=2_000, customers=400, items=100)


@dataclass(frozen=True)
class Caps:
    """Seconds after which a run is stopped (and reported as capped)."""

    peer: float
    tap: float
    pipeline: float
    big: float


FULL_CAPS = Caps(peer=180, tap=600, pipeline=900, big=1200)
QUICK_CAPS = Caps(peer=30, tap=60, pipeline=90, big=90)


# --------------------------------------------------------------------------- tools


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def find_tool(name: str, env_var: str, *extra_dirs: Path) -> str | None:
    """An executable: $env_var, else beside this Python, else in extra_dirs, else on PATH."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    for directory in (Path(sys.executable).parent, *extra_dirs):
        candidate = directory / name
        if candidate.exists() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


@dataclass(frozen=True)
class Tools:
    emulator: str
    tap: str
    target: str | None
    target_fast: str | None
    meltano: str | None

    @classmethod
    def find(cls) -> Tools:
        meltano_dir = ROOT / ".meltano"
        emulator = find_tool("qbo-emulator", "BENCH_QBO_EMULATOR")
        tap = find_tool(
            "tap-quickbooks",
            "BENCH_TAP",
            meltano_dir / "extractors" / "tap-quickbooks" / "venv" / "bin",
        )
        if emulator is None or tap is None:
            sys.exit(
                "bench: qbo-emulator and tap-quickbooks must be installed "
                "(beside this Python, on PATH, or named by BENCH_QBO_EMULATOR / BENCH_TAP)"
            )
        return cls(
            emulator=emulator,
            tap=tap,
            target=find_tool(
                "target-postgres",
                "BENCH_TARGET",
                meltano_dir / "loaders" / "target-postgres" / "venv" / "bin",
            ),
            target_fast=find_tool("target-postgres-fast", "BENCH_TARGET_FAST"),
            meltano=find_tool("meltano", "BENCH_MELTANO"),
        )


def package_version(pyproject: Path) -> str:
    try:
        project = tomllib.loads(pyproject.read_text())["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "?"
    return f"{project['name']} {project['version']}"


def command_output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[-1] if text else "?"


# --------------------------------------------------------------------------- emulator


class Emulator:
    """``qbo-emulator serve`` as a child process, driven through its admin endpoints."""

    def __init__(
        self, exe: str, company: Company, workdir: Path, *args: str, realms: int = 1
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.company = company
        self._stderr = (workdir / "emulator.stderr").open("wb")
        argv = [
            exe,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--seed",
            str(SEED),
            "--customers",
            str(company.customers),
            "--items",
            str(company.items),
            "--invoices",
            str(company.invoices),
            "--realms",
            str(realms),
            *args,
        ]
        started = time.monotonic()
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL
        )
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                lines.put(raw.decode().strip())

        threading.Thread(target=read, daemon=True).start()
        deadline = started + 1800
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                sys.exit(f"bench: the emulator did not print READY (see {workdir})")
            if line.startswith("READY "):
                self.base_url = line.split(" ", 1)[1].rstrip("/")
                break
        self.startup_s = time.monotonic() - started
        self.token_url = self.base_url + "/oauth2/v1/tokens/bearer"
        self.realm_ids = sorted(self.truth(), key=int)
        self.realm_id = self.realm_ids[0]
        log(f"emulator ready at {self.base_url} in {self.startup_s:.1f} s ({company.label()})")

    def use_realm(self, index: int) -> None:
        """Point the following runs at another company (each realm has its own limits)."""
        self.realm_id = self.realm_ids[index]

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + "/__emulator__/" + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read() or b"null")

    def truth(self) -> dict[str, Any]:
        truth: dict[str, Any] = self.admin("truth")
        return truth

    def realm_truth(self) -> dict[str, Any]:
        realm: dict[str, Any] = self.truth()[self.realm_id]
        return realm

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.admin("stats")
        return stats

    def refresh_token(self) -> str:
        return str(self.admin("tokens")[self.realm_id])

    def configure(self, **switches: Any) -> None:
        self.admin("config", switches)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


@dataclass
class RequestCount:
    requests: int = 0
    throttled: int = 0
    token_refreshes: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)


def request_delta(before: dict[str, Any], after: dict[str, Any], realm: str) -> RequestCount:
    """API requests (and 429s, token refreshes) the emulator saw between two stats snapshots."""

    def realm_stat(stats: dict[str, Any], key: str) -> int:
        return int(stats.get("realms", {}).get(realm, {}).get(key, 0))

    endpoints_before = before.get("by_endpoint", {})
    return RequestCount(
        requests=realm_stat(after, "requests") - realm_stat(before, "requests"),
        throttled=realm_stat(after, "throttled") - realm_stat(before, "throttled"),
        token_refreshes=int(after.get("token_refreshes", 0) - before.get("token_refreshes", 0)),
        by_endpoint={
            name: int(count - endpoints_before.get(name, 0))
            for name, count in after.get("by_endpoint", {}).items()
            if count != endpoints_before.get(name, 0)
        },
    )


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    scenario: str
    client: str
    rows: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    requests: int = 0
    throttled: int = 0
    endpoints: str = ""
    maxrss_mb: float = 0.0
    target_maxrss_mb: float | None = None
    # The pages the rows of the streams this client reads need (ceil(rows / 1000) each), and
    # the lower bound of its scenario for those streams (0: not computed).
    pages: int = 0
    bound_s: float = 0.0
    ok: bool = False
    timed_out: bool = False
    timeout_s: float = 0.0
    complete: str = ""
    note: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def compare(
    records: dict[str, dict[str, str]], truth: dict[str, Any], streams: list[str] | None = None
) -> str:
    """'yes' when every entity's ids and SyncTokens equal the truth, else what differs."""
    problems = []
    for entity in (STREAM_ENTITY[s] for s in streams or STREAM_ENTITY):
        got, want = records.get(entity, {}), truth[entity]
        missing = len(set(want) - set(got))
        extra = len(set(got) - set(want))
        stale = sum(1 for key in set(got) & set(want) if got[key] != want[key])
        if missing or extra or stale:
            problems.append(f"{entity}: {missing} missing, {extra} extra, {stale} stale")
    return "yes" if not problems else "; ".join(problems)


def iter_tap_records(path: Path) -> Iterator[tuple[str, str, str]]:
    """(entity, id, sync_token) of every RECORD message our tap wrote to path."""
    with path.open("rb") as lines:
        for line in lines:
            if b'"RECORD"' not in line[:40]:
                continue
            message = json.loads(line)
            entity = STREAM_ENTITY.get(message["stream"].removeprefix("qb_"))
            if entity is not None:
                record = message["record"]
                yield entity, str(record["id"]), str(record["sync_token"])


def select_streams(tools: Tools, config: Path, workdir: Path, streams: list[str]) -> Path:
    """A catalog of our tap with only `streams` selected."""
    found = subprocess.run(
        [tools.tap, "--config", str(config), "--discover"],
        capture_output=True,
        check=True,
        text=True,
    )
    catalog = json.loads(found.stdout)
    for stream in catalog["streams"]:
        for entry in stream.get("metadata", []):
            if not entry.get("breadcrumb"):
                entry["metadata"]["selected"] = stream["tap_stream_id"] in streams
    path = workdir / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def rows_of(truth: dict[str, Any], streams: Iterable[str] | None = None) -> list[int]:
    """Rows of each entity of `streams` (every stream by default) in a realm's truth."""
    return [len(truth[STREAM_ENTITY[s]]) for s in streams or STREAM_ENTITY]


def pages_of(rows_per_entity: Iterable[int]) -> int:
    """The pages those rows need at the bench's page size: ceil(rows / PAGE_SIZE) each."""
    return sum(-(-rows // PAGE_SIZE) for rows in rows_per_entity)


def count_records(path: Path) -> int:
    count = 0
    with path.open("rb") as lines:
        for line in lines:
            if b'"RECORD"' in line[:40]:
                count += 1
    return count


def tap_config(emu: Emulator, workdir: Path, **extra: Any) -> Path:
    config = {
        "client_id": "qbo-emulator-client",
        "client_secret": "qbo-emulator-secret",
        "refresh_token": emu.refresh_token(),
        "realm_id": emu.realm_id,
        "api_url": emu.base_url,
        "auth_url": emu.token_url,
        "start_date": START_DATE,
        "page_size": PAGE_SIZE,
        "token_store_path": str(workdir / "tokens.json"),
        **extra,
    }
    path = workdir / "tap-config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def run_our_tap(
    tools: Tools,
    emu: Emulator,
    scenario: str,
    workdir: Path,
    timeout: float,
    *,
    verify: bool = True,
    settings: dict[str, Any] | None = None,
    streams: list[str] | None = None,
) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    config = tap_config(emu, workdir, **(settings or {}))
    argv = [tools.tap, "--config", str(config)]
    if streams is not None:  # a catalog selecting only these (every stream by default)
        argv += ["--catalog", str(select_streams(tools, config, workdir, streams))]
    before = emu.stats()
    proc = peerlib.run_process(
        argv,
        dict(os.environ),
        workdir / "stdout.jsonl",
        workdir / "stderr.log",
        timeout,
    )
    counted = request_delta(before, emu.stats(), emu.realm_id)
    run = Run(
        scenario=scenario,
        client="tap-quickbooks (ours)" + (f", {len(streams)} streams" if streams else ""),
        seconds=proc.seconds,
        cpu_s=proc.cpu_s,
        requests=counted.requests,
        throttled=counted.throttled,
        endpoints=endpoint_text(counted),
        maxrss_mb=proc.maxrss_kb / 1024,
        ok=proc.returncode == 0 and not proc.timed_out,
        timed_out=proc.timed_out,
        timeout_s=timeout,
    )
    truth = emu.realm_truth()
    run.pages = pages_of(rows_of(truth, streams))
    if verify:
        records: dict[str, dict[str, str]] = {entity: {} for entity in STREAM_ENTITY.values()}
        for entity, key, token in iter_tap_records(workdir / "stdout.jsonl"):
            records[entity][key] = token
            run.rows += 1
        run.complete = compare(records, truth, streams)
    else:  # counted only: every entity's rows, not each id
        run.rows = count_records(workdir / "stdout.jsonl")
        want = sum(rows_of(truth, streams))
        run.complete = "yes" if run.rows == want else f"{run.rows:,} rows of {want:,}"
    if not run.ok:
        run.note = f"exit {proc.returncode}" + (" (timed out)" if proc.timed_out else "")
    (workdir / "stdout.jsonl").unlink(missing_ok=True)
    log(describe(run))
    return run


def run_peer(name: str, emu: Emulator, scenario: str, workdir: Path, timeout: float) -> Run:
    target = peerlib.Target(
        api_url=emu.base_url,
        token_url=emu.token_url,
        realm_id=emu.realm_id,
        refresh_token=emu.refresh_token(),
        start_date=START_DATE,
        page_size=PAGE_SIZE,
    )
    before = emu.stats()
    run = Run(scenario=scenario, client=peerlib.PEERS[name].title, timeout_s=timeout)
    try:
        result = peerlib.run_peer(name, target, workdir, timeout=timeout)
    except RuntimeError as error:
        run.note = str(error).splitlines()[0][:200]
        log(describe(run))
        return run
    counted = request_delta(before, emu.stats(), emu.realm_id)
    run.rows = result.rows
    run.seconds = result.seconds
    run.cpu_s = result.cpu_s
    run.requests = counted.requests
    run.throttled = counted.throttled
    run.endpoints = endpoint_text(counted)
    run.maxrss_mb = result.maxrss_kb / 1024
    run.ok = result.ok
    run.timed_out = result.timed_out
    truth = emu.realm_truth()
    run.pages = pages_of(rows_of(truth, PEER_STREAMS))
    run.complete = compare(result.records, truth, PEER_STREAMS)
    if result.timed_out:
        run.note = f"stopped at the {timeout:.0f} s cap"
    elif not result.ok:
        run.note = f"exit {result.returncode}"
    if result.stdout_path is not None:
        result.stdout_path.unlink(missing_ok=True)
    log(describe(run))
    return run


def endpoint_text(counted: RequestCount) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counted.by_endpoint.items()))


def describe(run: Run) -> str:
    state = "ok" if run.ok else ("TIMEOUT" if run.timed_out else "FAILED")
    return (
        f"{run.scenario} | {run.client}: {state} {run.rows:,} rows in {run.seconds:.1f} s "
        f"= {run.rows_per_s:,.0f} rows/s, {run.requests} requests, {run.throttled} throttled, "
        f"RSS {run.maxrss_mb:.0f} MB, complete: {run.complete} {run.note}"
    )


def median_run(measure: Callable[[int], Run], repeat: int) -> Run:
    """Measure `repeat` times (`measure(attempt)`); the run of median seconds.

    This machine's CPU speed varies by 15-25 % from one run to the next, so one run can
    land on either side of a target. A run that fails or hits its cap ends the series
    and is the result. The median run's note lists every run's seconds, and its peak
    RSS is the largest of the runs (the memory targets are about the worst case).
    """
    runs: list[Run] = []
    for attempt in range(repeat):
        run = measure(attempt)
        runs.append(run)
        if not run.ok or run.timed_out:
            return run
    if len(runs) == 1:
        return runs[0]
    median = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    median.maxrss_mb = max(r.maxrss_mb for r in runs)
    targets = [r.target_maxrss_mb for r in runs if r.target_maxrss_mb is not None]
    if targets:
        median.target_maxrss_mb = max(targets)
    spread = " / ".join(f"{r.seconds:.1f}" for r in runs)
    note = f"median of {len(runs)} runs ({spread} s); RSS: the largest"
    median.note = f"{median.note}; {note}" if median.note else note
    log(f"{median.scenario} | {median.client}: {note}")
    return median


# --------------------------------------------------------------------------- postgres


def psql(sql: str, database: str | None = None) -> str:
    dsn = PG_DSN if database is None else PG_DSN.rsplit("/", 1)[0] + "/" + database
    done = subprocess.run(
        ["psql", dsn, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """A new empty database (dropped afterwards); yields its SQLAlchemy URL."""
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(f"CREATE DATABASE {name}")
    try:
        base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        with contextlib.suppress(RuntimeError):
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def loaded_counts(database: str) -> dict[str, int]:
    counts = {}
    for entity, table in TABLES.items():
        try:
            counts[entity] = int(psql(f"SELECT count(*) FROM raw.{table}", database))
        except RuntimeError:
            counts[entity] = 0
    return counts


def check_loaded(database: str, truth: dict[str, Any]) -> str:
    counts = loaded_counts(database)
    wrong = [
        f"{entity} {counts[entity]:,}/{len(truth[entity]):,}"
        for entity in TABLES
        if counts[entity] != len(truth[entity])
    ]
    return "yes" if not wrong else "rows in Postgres: " + ", ".join(wrong)


def run_pipeline(
    tools: Tools,
    emu: Emulator,
    target_exe: str,
    label: str,
    scenario: str,
    workdir: Path,
    timeout: float,
) -> Run:
    """tap | target into a fresh database; wall time and each process's peak RSS."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = f"qbo_bench_{os.getpid()}_{workdir.name.replace('-', '_')}"
    run = Run(scenario=scenario, client=label, timeout_s=timeout)
    with scratch_database(database) as url:
        tap_cfg = tap_config(emu, workdir, stream_maps=STREAM_MAPS, **UNBUDGETED)
        target_cfg = workdir / "target-config.json"
        target_cfg.write_text(json.dumps({"sqlalchemy_url": url, **TARGET_SETTINGS}))
        before = emu.stats()
        piped = pipe_tap_into_target(
            [tools.tap, "--config", str(tap_cfg)],
            [target_exe, "--config", str(target_cfg)],
            workdir,
            timeout,
            lambda pgid: _kill_group(pgid, run),
        )
        run.seconds = piped.seconds
        counted = request_delta(before, emu.stats(), emu.realm_id)
        run.requests, run.throttled = counted.requests, counted.throttled
        run.maxrss_mb, run.cpu_s = piped.tap_maxrss_mb, piped.tap_cpu_s
        run.target_maxrss_mb = piped.target_maxrss_mb
        codes = piped.codes
        run.ok = codes == (0, 0) and not run.timed_out
        truth = emu.realm_truth()
        run.rows = sum(len(truth[entity]) for entity in TABLES) if run.ok else 0
        run.complete = check_loaded(database, truth)
        if not run.ok:
            run.note = f"exit codes tap {codes[0]}, target {codes[1]}" + (
                " (timed out)" if run.timed_out else ""
            )
    log(describe(run) + f", target RSS {run.target_maxrss_mb:.0f} MB")
    return run


@dataclass(frozen=True)
class Piped:
    """One `tap | target` run: wall seconds, exit codes, the tap's CPU, each one's peak RSS."""

    seconds: float
    codes: tuple[int, int]  # (tap, target)
    tap_cpu_s: float
    tap_maxrss_mb: float
    target_maxrss_mb: float


def pipe_tap_into_target(
    tap_cmd: list[str],
    target_cmd: list[str],
    workdir: Path,
    timeout: float,
    on_timeout: Callable[[int], None],
) -> Piped:
    """Run `tap_cmd | target_cmd` in one process group (stderr and the target's stdout to
    files in `workdir`); `on_timeout(group id)` after `timeout` seconds."""
    with (
        (workdir / "tap.stderr").open("wb") as tap_err,
        (workdir / "target.stderr").open("wb") as target_err,
        (workdir / "target.stdout").open("wb") as target_out,
    ):
        started = time.monotonic()
        tap = subprocess.Popen(
            tap_cmd,
            stdout=subprocess.PIPE,
            stderr=tap_err,
            stdin=subprocess.DEVNULL,
            process_group=0,
        )
        target = subprocess.Popen(
            target_cmd,
            stdin=tap.stdout,
            stdout=target_out,
            stderr=target_err,
            process_group=tap.pid,
        )
        assert tap.stdout is not None
        tap.stdout.close()
        timer = threading.Timer(timeout, lambda: on_timeout(tap.pid))
        timer.start()
        try:
            with peerlib.PeakRss(tap.pid) as rss:
                _, tap_status, tap_usage = os.wait4(tap.pid, 0)
                _, target_status, target_usage = os.wait4(target.pid, 0)
        finally:
            timer.cancel()
        seconds = time.monotonic() - started
    return Piped(
        seconds=seconds,
        codes=(os.waitstatus_to_exitcode(tap_status), os.waitstatus_to_exitcode(target_status)),
        tap_cpu_s=tap_usage.ru_utime + tap_usage.ru_stime,
        tap_maxrss_mb=(rss.peak(tap.pid) or tap_usage.ru_maxrss) / 1024,
        target_maxrss_mb=(rss.peak(target.pid) or target_usage.ru_maxrss) / 1024,
    )


def _kill_group(pgid: int, run: Run) -> None:
    run.timed_out = True
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def run_meltano(tools: Tools, emu: Emulator, workdir: Path, timeout: float) -> Run:
    """``meltano run tap-quickbooks target-postgres`` in the project, `dev` environment.

    Not `demo`: it narrows windows to 90 days, and a setting can't be unset from the
    environment, so the tap would not run with its defaults (automatic windows). `dev` sets
    nothing but `environment: sandbox`; everything else comes from `TAP_QUICKBOOKS_*` here.
    """
    assert tools.meltano is not None
    workdir.mkdir(parents=True, exist_ok=True)
    database = f"qbo_bench_{os.getpid()}_meltano"
    run = Run(scenario="3 end to end", client="meltano run (project)", timeout_s=timeout)
    with scratch_database(database) as url:
        env = dict(os.environ)
        env.update(
            {
                "MELTANO_ENVIRONMENT": "dev",
                "TAP_QUICKBOOKS_CLIENT_ID": "qbo-emulator-client",
                "TAP_QUICKBOOKS_CLIENT_SECRET": "qbo-emulator-secret",
                "TAP_QUICKBOOKS_API_URL": emu.base_url,
                "TAP_QUICKBOOKS_AUTH_URL": emu.token_url,
                "TAP_QUICKBOOKS_REALM_ID": emu.realm_id,
                "TAP_QUICKBOOKS_REFRESH_TOKEN": emu.refresh_token(),
                "TAP_QUICKBOOKS_TOKEN_STORE_PATH": str(workdir / "tokens.json"),
                "TAP_QUICKBOOKS_START_DATE": START_DATE,
                "TAP_QUICKBOOKS_PAGE_SIZE": str(PAGE_SIZE),
                "TAP_QUICKBOOKS_MAX_REQUESTS_PER_MINUTE": str(
                    UNBUDGETED["max_requests_per_minute"]
                ),
                # Every entity stream, as the other runs read (the project selects `*.*`,
                # which takes the report streams too: they are scenario 5's).
                "TAP_QUICKBOOKS__SELECT": json.dumps([f"{name}.*" for name in STREAM_ENTITY]),
                "TARGET_POSTGRES_SQLALCHEMY_URL": url,
            }
        )
        for key in ("VIRTUAL_ENV",):
            env.pop(key, None)
        before = emu.stats()
        argv = [
            tools.meltano,
            "run",
            "--full-refresh",
            "--state-id-suffix",
            "bench",
            "tap-quickbooks",
            "target-postgres",
        ]
        proc = _run_in(argv, env, ROOT, workdir, timeout)
        counted = request_delta(before, emu.stats(), emu.realm_id)
        run.seconds, run.requests, run.throttled = proc.seconds, counted.requests, counted.throttled
        run.cpu_s = proc.cpu_s
        run.ok = proc.returncode == 0 and not proc.timed_out
        run.timed_out = proc.timed_out
        truth = emu.realm_truth()
        run.rows = sum(len(truth[entity]) for entity in TABLES) if run.ok else 0
        run.complete = check_loaded(database, truth)
        if not run.ok:
            run.note = f"exit {proc.returncode}" + (" (timed out)" if proc.timed_out else "")
    log(describe(run))
    return run


def _run_in(argv: list[str], env: dict[str, str], cwd: Path, workdir: Path, timeout: float) -> Any:
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        return peerlib.run_process(
            argv, env, workdir / "meltano.stdout", workdir / "meltano.stderr", timeout
        )
    finally:
        os.chdir(previous)


def meltano_ready(tools: Tools) -> str | None:
    """Why `meltano run` can't be used here, or None when it can."""
    if tools.meltano is None:
        return "meltano is not installed"
    for plugin in ("extractors/tap-quickbooks", "loaders/target-postgres"):
        if not (ROOT / ".meltano" / plugin / "venv").exists():
            return f"the project's plugins are not installed (no .meltano/{plugin})"
    return None


# --------------------------------------------------------------------------- lower bound


@dataclass(frozen=True)
class LowerBound:
    seconds: float
    pages: int
    work_s: float
    by_concurrency_s: float
    by_rate_s: float
    longest_s: float


def lower_bound(company: Company) -> LowerBound:
    """Fastest backfill the emulated service allows, whatever the client does.

    Every row must come back in a page of at most 1000 rows, so at least
    ceil(n/1000) pages per entity; each page costs 250 ms + 1 ms a row of service time.
    With at most 10 requests in flight the total service time W is spread over at most 10
    slots (>= W/10), no page is faster than its own service time, and with at most 500
    requests in any minute the P-th request can start no earlier than 60 s * floor((P-1)/500).
    """
    return lower_bound_of((company.invoices, company.customers, company.items))


def lower_bound_of(
    rows_per_entity: Iterable[int],
    per_request_s: float = LATENCY_PER_REQUEST_S,
    per_row_s: float = LATENCY_PER_ROW_S,
    per_minute: int | None = LIMIT_PER_MINUTE,
) -> LowerBound:
    """:func:`lower_bound` for any entities and service model (`per_minute` None: no limit).

    The flat model (FLAT: every request 1 s, no per-row cost, 10 in flight) gives
    ceil(pages / 10) seconds: the pages the rows need, ten at a time.
    """
    pages = []
    for rows in rows_per_entity:
        pages += [min(PAGE_SIZE, rows - start) for start in range(0, rows, PAGE_SIZE)]
    if not pages:
        return LowerBound(0.0, 0, 0.0, 0.0, 0.0, 0.0)
    costs = [per_request_s + per_row_s * size for size in pages]
    work = sum(costs)
    longest = max(costs)
    by_rate = 60.0 * ((len(pages) - 1) // per_minute) + min(costs) if per_minute else min(costs)
    by_concurrency = work / LIMIT_CONCURRENT
    if per_row_s == 0:  # equal requests: whole rounds of LIMIT_CONCURRENT
        by_concurrency = per_request_s * -(-len(pages) // LIMIT_CONCURRENT)
    return LowerBound(
        seconds=max(by_concurrency, by_rate, longest),
        pages=len(pages),
        work_s=work,
        by_concurrency_s=by_concurrency,
        by_rate_s=by_rate,
        longest_s=longest,
    )


# --------------------------------------------------------------------------- main


@dataclass
class Results:
    mode: str
    company: Company
    big_company: Company
    started: str
    machine: dict[str, str]
    versions: dict[str, str]
    lower_bound: LowerBound
    seed: int = SEED
    repeat: int = 1
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    rows_every_entity: int = 0  # the company's rows of every entity (a realm's truth)
    flat_bound: LowerBound | None = None  # scenario 2 flat, every stream
    flat_bound_peer_streams: LowerBound | None = None  # the three streams the peers read


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def machine_info() -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    return {
        "load average": load_average(),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def versions(tools: Tools) -> dict[str, str]:
    found = {
        "commit": command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "tap-quickbooks": command_output([tools.tap, "--version"]),
        "qbo-emulator": package_version(ROOT / "qbo-emulator" / "pyproject.toml"),
        "peers": ", ".join(peer.package for peer in peerlib.PEERS.values()),
    }
    if tools.target:
        found["target-postgres"] = command_output([tools.target, "--version"])
    if tools.target_fast:
        found["target-postgres-fast"] = command_output([tools.target_fast, "--version"])
    if tools.meltano:
        found["meltano"] = command_output([tools.meltano, "--version"])
    with contextlib.suppress(RuntimeError, OSError, subprocess.TimeoutExpired):
        found["postgres"] = psql("SHOW server_version")
    return found


def scenario_no_latency(
    tools: Tools, emu: Emulator, out: Path, results: Results, peers: list[str], caps: Caps
) -> None:
    log("scenario 1: tap alone, no latency")
    repeat = results.repeat
    emu.configure(**NO_LIMITS)
    results.runs.append(
        median_run(
            lambda i: run_our_tap(
                tools, emu, "1 no latency", out / f"1-tap-{i}", caps.tap, settings=UNBUDGETED
            ),
            repeat,
        )
    )
    for name in peers:

        def peer(attempt: int, name: str = name) -> Run:
            return run_peer(name, emu, "1 no latency", out / f"1-{name}-{attempt}", caps.peer)

        results.runs.append(median_run(peer, repeat))


def scenario_realistic(
    tools: Tools, emu: Emulator, out: Path, results: Results, peers: list[str], caps: Caps
) -> None:
    log("scenario 2: realistic latency and limits")
    repeat = results.repeat

    def bounded(run: Run, streams: list[str] | None, *, flat: bool = False) -> Run:
        """`run` with the bound of its own streams, in its own realm (emu.realm_id)."""
        rows = rows_of(emu.realm_truth(), streams)
        bound = lower_bound_of(rows, FLAT_REQUEST_S, 0.0, None) if flat else lower_bound_of(rows)
        run.bound_s = bound.seconds
        return run

    # Each client gets a realm of its own (same size, its own seeded data): the 500/min window
    # counts every request of the last minute, so a realm shared with the previous client would
    # start this one half spent.
    emu.configure(**REALISTIC)
    try:
        emu.use_realm(1)

        def ours(attempt: int) -> Run:
            emu.admin("limits/reset", {})  # the last run's requests leave the 500/min window
            return run_our_tap(tools, emu, "2 realistic", out / f"2-tap-{attempt}", caps.tap)

        results.runs.append(bounded(median_run(ours, repeat), None))
        # The peers run once here: they reach the cap (more than 9x the bound) every time.
        for index, name in enumerate(peers, start=2):
            emu.use_realm(index)
            run = run_peer(name, emu, "2 realistic", out / f"2-{name}", caps.peer)
            results.runs.append(bounded(run, PEER_STREAMS))
        # The flat model: every request 1 s, 10 in flight. Wall time then counts requests;
        # ours with every stream and with the peers' three streams, beside the peers, each
        # against the bound of the streams it reads.
        emu.configure(**FLAT)
        emu.use_realm(1)
        emu.admin("limits/reset", {})
        run = run_our_tap(tools, emu, "2 flat", out / "2f-tap", caps.tap)
        results.runs.append(bounded(run, None, flat=True))
        emu.admin("limits/reset", {})
        run = run_our_tap(tools, emu, "2 flat", out / "2f-tap-3", caps.tap, streams=PEER_STREAMS)
        results.runs.append(bounded(run, PEER_STREAMS, flat=True))
        for index, name in enumerate(peers, start=2):
            emu.use_realm(index)
            run = run_peer(name, emu, "2 flat", out / f"2f-{name}", caps.peer)
            results.runs.append(bounded(run, PEER_STREAMS, flat=True))
    finally:
        emu.use_realm(0)
        emu.configure(**NO_LIMITS)


def scenario_end_to_end(
    tools: Tools, emu: Emulator, out: Path, results: Results, cap: float
) -> None:
    log("scenario 3: end to end into Postgres")
    repeat = results.repeat
    emu.configure(**NO_LIMITS)
    why_not = meltano_ready(tools)
    if why_not is None:
        results.runs.append(
            median_run(lambda i: run_meltano(tools, emu, out / f"3-meltano-{i}", cap), repeat)
        )
    else:
        results.notes.append(f"`meltano run` was not measured: {why_not}.")

    def pipeline(exe: str, label: str, folder: str) -> Run:
        return median_run(
            lambda i: run_pipeline(
                tools, emu, exe, label, "3 end to end", out / f"{folder}-{i}", cap
            ),
            repeat,
        )

    if tools.target:
        results.runs.append(pipeline(tools.target, "tap | target-postgres 0.8.1", "3-stock"))
    else:
        results.notes.append("Stock target-postgres is not installed: not measured.")
    if why_not is None:
        results.notes.append(
            "`meltano run` loads with the project's `target-postgres` plugin, which is"
            " target-postgres-fast (meltano.yml); stock target-postgres 0.8.1 is measured"
            " in the direct tap | target pipeline and alone by target_bench.py. `meltano run`'s"
            " seconds include Meltano's start-up, a catalog discovery (the tap runs twice) and"
            " Meltano relaying every line from the tap to the target."
        )
    if tools.target_fast:
        results.runs.append(pipeline(tools.target_fast, "tap | target-postgres-fast", "3-fast"))
    else:
        results.notes.append("target-postgres-fast is not installed: not measured.")
    # target_bench.py generates its own invoice-shaped records; 50,000 is its default size.
    records = min(emu.company.rows, 50_000)
    series = [
        run_target_bench(results, out / f"3-target-bench-{i}", records, cap * 2)
        for i in range(repeat)
    ]
    for label in dict.fromkeys(run.client for runs in series for run in runs):
        found = [run for runs in series for run in runs if run.client == label]
        results.runs.append(median_run(found.__getitem__, len(found)))


def run_target_bench(results: Results, workdir: Path, records: int, timeout: float) -> list[Run]:
    """bench/target_bench.py (owned by the loader): both targets alone, reading one file."""
    script = BENCH / "target_bench.py"
    if not script.exists():
        return []
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, QBO_TEST_PG_DSN=PG_DSN)
    proc = peerlib.run_process(
        [sys.executable, str(script), "--records", str(records)],
        env,
        workdir / "stdout.txt",
        workdir / "stderr.txt",
        timeout,
    )
    output = (workdir / "stdout.txt").read_text()
    identical = re.search(r"stored rows identical \(checksum\): (\S+)", output)
    row = re.compile(r"^(\S.*?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)$")
    runs: list[Run] = []
    for line in output.splitlines():
        match = row.match(line)
        if not match:
            continue
        label, _, seconds, cpu, rss_mb, rows = match.groups()
        run = Run(
            scenario="3 end to end",
            client=f"file | {label.strip()}",
            rows=int(rows),
            seconds=float(seconds),
            cpu_s=float(cpu),
            target_maxrss_mb=float(rss_mb),
            ok=int(rows) == records,
            timeout_s=timeout,
            complete=f"same rows as stock: {identical.group(1)}" if identical else "",
            note="target alone on a generated file (bench/target_bench.py); CPU s of the target",
        )
        runs.append(run)
        log(describe(run))
    if not runs:
        results.notes.append(
            f"bench/target_bench.py did not report (exit {proc.returncode}"
            f"{', timed out' if proc.timed_out else ''}); see {workdir.name}/stderr.txt."
        )
    return runs


def scenario_big(tools: Tools, out: Path, results: Results, cap: float) -> None:
    company = results.big_company
    log(f"scenario 4: tap alone on a company 10x larger ({company.label()})")
    emu = Emulator(tools.emulator, company, out / "4-emulator")
    try:
        emu.configure(**NO_LIMITS)
        run = run_our_tap(
            tools, emu, "4 company x10", out / "4-tap", cap, verify=False, settings=UNBUDGETED
        )
        results.runs.append(run)
    finally:
        emu.stop()


# Emulator switches (POST /__emulator__/config). 0 turns a limit off.
NO_LIMITS: dict[str, Any] = {
    "latency_ms": 0,
    "latency_per_row_ms": 0,
    "rate_limit": 0,
    "concurrency_limit": 0,
}
REALISTIC: dict[str, Any] = {
    "latency_ms": LATENCY_PER_REQUEST_S * 1000,
    "latency_per_row_ms": LATENCY_PER_ROW_S * 1000,
    "rate_limit": LIMIT_PER_MINUTE,
    "concurrency_limit": LIMIT_CONCURRENT,
}
FLAT: dict[str, Any] = {
    "latency_ms": FLAT_REQUEST_S * 1000,
    "latency_per_row_ms": 0,
    "rate_limit": 0,
    "concurrency_limit": LIMIT_CONCURRENT,
}
# With the service's limits off, our tap's own request budget (default 450/min) is lifted too,
# so that scenarios 1, 3 and 4 measure its CPU cost, not Intuit's limit.
UNBUDGETED = {"max_requests_per_minute": 1_000_000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="company scaled down 10x")
    parser.add_argument(
        "--scenarios",
        default="1,2,3,4",
        help="comma-separated subset of 1,2,3,4, and 5 (a full backfill of the report streams)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip the peer taps")
    parser.add_argument(
        "--peer-cap",
        type=float,
        default=None,
        help=f"seconds after which a peer run is stopped "
        f"(default {QUICK_CAPS.peer:.0f} quick, {FULL_CAPS.peer:.0f} full)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each uncapped measurement of scenarios 1-3; the median is reported (3)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "out", help="raw output folder")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    company = QUICK if args.quick else FULL
    caps = QUICK_CAPS if args.quick else FULL_CAPS
    if args.peer_cap:
        caps = Caps(args.peer_cap, caps.tap, caps.pipeline, caps.big)
    tools = Tools.find()
    scenarios = {part.strip() for part in args.scenarios.split(",") if part.strip()}
    peers = [] if args.no_peers else list(peerlib.PEERS)
    missing = peerlib.missing_peers()
    notes = []
    if peers and missing:
        notes.append(f"Peers not set up ({', '.join(missing)}): run bench/peers/setup.sh.")
        peers = [name for name in peers if name not in missing]

    started = time.monotonic()
    out = args.out / ("quick" if args.quick else "full")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    results = Results(
        mode="quick" if args.quick else "full",
        company=company,
        big_company=company.scaled(10),
        started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine_info(),
        versions=versions(tools),
        lower_bound=lower_bound(company),
        notes=notes,
        repeat=args.repeat,
    )
    realms = 1 + (1 + len(peers) if "2" in scenarios else 0)
    emu = Emulator(tools.emulator, company, out / "emulator", realms=realms)
    # The bound counts the rows the realistic runs really find (deleted rows excluded), of
    # every entity: every stream is selected.
    truths = emu.truth()
    truth = truths[emu.realm_ids[-1]]
    results.lower_bound = lower_bound_of(rows_of(truth))
    results.rows_every_entity = sum(rows_of(truths[emu.realm_ids[0]]))  # scenarios 1 and 3
    results.flat_bound = lower_bound_of(rows_of(truth), FLAT_REQUEST_S, 0.0, None)
    results.flat_bound_peer_streams = lower_bound_of(
        rows_of(truth, PEER_STREAMS), FLAT_REQUEST_S, 0.0, None
    )
    try:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("1", lambda: scenario_no_latency(tools, emu, out, results, peers, caps)),
            ("2", lambda: scenario_realistic(tools, emu, out, results, peers, caps)),
            ("3", lambda: scenario_end_to_end(tools, emu, out, results, caps.pipeline)),
        ]
        for key, step in steps:
            if key in scenarios:
                step()
    finally:
        emu.stop()
    if "4" in scenarios:
        scenario_big(tools, out, results, caps.big)
    if "5" in scenarios:
        log("scenario 5: a full backfill of the report streams (requests counted)")
        measured = report_backfill.measure(
            {"invoices": company.invoices, "customers": company.customers, "items": company.items},
            400_000,
            Path(tempfile.mkdtemp(dir=out)),
        )
        results.notes.append("Report backfill (scenario 5):\n" + report_backfill.render(measured))
    results.elapsed_s = time.monotonic() - started
    results.machine["load average"] = (
        f"{results.machine['load average']} at the start, {load_average()} at the end"
    )

    (out / "results.json").write_text(json.dumps(asdict(results), indent=2, default=str))
    report = importlib.import_module("report")
    stem = "results-quick" if args.quick else "results"
    report.write(results, BENCH / f"{stem}.md", BENCH / f"{stem}.png")
    log(f"done in {results.elapsed_s:.0f} s: bench/{stem}.md, bench/{stem}.png")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    raise SystemExit(main())
