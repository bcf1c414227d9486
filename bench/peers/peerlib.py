"""Run the peer taps (singer-io's and Airbyte's) against a QuickBooks Online API host.

Used by ``bench/run.py`` and by the emulator's ``peers`` test. Standard library only: the
peers themselves run in their own virtualenvs (``setup.sh``), through the wrappers
``run_singer_io.py`` and ``run_airbyte.py``, as child processes whose output goes to files.

Each run selects the ``invoices``, ``customers`` and ``items`` streams, starts from an
empty state, and is summarised as the ``{entity: {id: SyncToken}}`` it emitted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

STREAMS = {"invoices": "Invoice", "customers": "Customer", "items": "Item"}


@dataclass(frozen=True)
class Peer:
    """One peer tap: its venv, wrapper script and display name."""

    name: str
    title: str
    venv: Path
    wrapper: Path
    package: str

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def available(self) -> bool:
        """True when setup.sh has built this peer's venv."""
        return self.python.exists() and (self.venv / ".requirements").exists()


PEERS: dict[str, Peer] = {
    "singer-io": Peer(
        name="singer-io",
        title="singer-io tap-quickbooks 2.5.0",
        venv=HERE / "singer-io",
        wrapper=HERE / "run_singer_io.py",
        package="tap-quickbooks==2.5.0",
    ),
    "airbyte": Peer(
        name="airbyte",
        title="Airbyte source-quickbooks 4.0.4",
        venv=HERE / "airbyte",
        wrapper=HERE / "run_airbyte.py",
        package="airbyte-source-quickbooks==4.0.4",
    ),
}


def missing_peers() -> list[str]:
    """Names of peers whose venv is not set up."""
    return [name for name, peer in PEERS.items() if not peer.available()]


@dataclass(frozen=True)
class Target:
    """Where and as whom a peer connects."""

    api_url: str
    token_url: str
    realm_id: str
    refresh_token: str
    client_id: str = "qbo-emulator-client"
    client_secret: str = "qbo-emulator-secret"
    start_date: str = "2021-12-01T00:00:00Z"
    page_size: int = 1000


@dataclass
class PeerRun:
    """What one peer run did."""

    peer: str
    returncode: int
    seconds: float
    maxrss_kb: int
    timed_out: bool
    cpu_s: float = 0.0
    records: dict[str, dict[str, str]] = field(default_factory=dict)
    rows: int = 0
    duplicates: int = 0
    inactive: dict[str, int] = field(default_factory=dict)
    stdout_path: Path | None = None
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@dataclass
class ProcessResult:
    returncode: int
    seconds: float
    maxrss_kb: int
    timed_out: bool
    cpu_s: float = 0.0


class PeakRss:
    """Peak resident memory (VmHWM, kB) of every process of one process group, from /proc.

    wait4's ru_maxrss does not measure a child of a large parent: Linux keeps the parent's
    resident size at fork as the child's maximum across exec, so every client started by
    the benchmark would report at least the benchmark's own size. VmHWM belongs to the
    process's own memory after exec. It is a high-water mark, so polling misses only what
    a process adds in its last moments.
    """

    def __init__(self, group: int, interval: float = 0.05) -> None:
        self.group = group
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, pid: int | None = None) -> int:
        """Peak of one process, or of the largest process of the group (0: not seen)."""
        if pid is not None:
            return self.peaks.get(pid, 0)
        return max(self.peaks.values(), default=0)

    def _members(self) -> list[int]:
        members = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
                if int(stat.rsplit(")", 1)[1].split()[2]) == self.group:
                    members.append(int(entry))
        return members

    def _run(self) -> None:
        if not os.path.isdir("/proc"):
            return
        members: list[int] = []
        next_scan = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_scan:
                members = self._members()
                next_scan = now + 0.5
            for pid in members:
                with contextlib.suppress(OSError, ValueError):
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            kb = int(line.split()[1])
                            self.peaks[pid] = max(self.peaks.get(pid, 0), kb)
                            break
            self._stop.wait(self.interval)


def run_process(
    argv: list[str], env: dict[str, str], stdout: Path, stderr: Path, timeout: float
) -> ProcessResult:
    """Run argv in its own process group, killed after timeout seconds.

    Wall time comes from the clock and CPU time from wait4; peak RSS is the largest
    VmHWM of the group's processes (:class:`PeakRss`; wait4's figure when /proc is not
    there).
    """
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            with PeakRss(proc.pid) as rss:
                _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    return ProcessResult(
        proc.returncode,
        seconds,
        rss.peak() or int(usage.ru_maxrss),
        timed_out.is_set(),
        usage.ru_utime + usage.ru_stime,
    )


def _env(target: Target) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["QBO_PEER_API_URL"] = target.api_url
    env["QBO_PEER_TOKEN_URL"] = target.token_url
    env["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    return env


def _tail(path: Path, limit: int = 3000) -> str:
    data = path.read_bytes()
    return data[-limit:].decode("utf-8", "replace")


def _singer_io_prepare(target: Target, workdir: Path, env: dict[str, str]) -> list[str]:
    """Write config, discover, select the three streams; return the sync argv."""
    peer = PEERS["singer-io"]
    config = {
        "client_id": target.client_id,
        "client_secret": target.client_secret,
        "refresh_token": target.refresh_token,
        "realm_id": target.realm_id,
        "start_date": target.start_date,
        "user_agent": "qbo-bench peer (singer-io)",
        "sandbox": "false",
        "max_results": str(target.page_size),
    }
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config, indent=2))
    discovered = workdir / "discovered.json"
    result = run_process(
        [str(peer.python), str(peer.wrapper), "--config", str(config_path), "--discover"],
        env,
        discovered,
        workdir / "discover.stderr",
        300,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"singer-io discovery failed (exit {result.returncode}): "
            + _tail(workdir / "discover.stderr")
        )
    catalog = json.loads(discovered.read_text())
    streams = []
    for stream in catalog["streams"]:
        if stream["tap_stream_id"] not in STREAMS:
            continue
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
        streams.append(stream)
    catalog_path = workdir / "catalog.json"
    catalog_path.write_text(json.dumps({"streams": streams}))
    return [
        str(peer.python),
        str(peer.wrapper),
        "--config",
        str(config_path),
        "--catalog",
        str(catalog_path),
    ]


def _airbyte_prepare(target: Target, workdir: Path, env: dict[str, str]) -> list[str]:
    """Write config, discover, configure the three streams; return the read argv."""
    peer = PEERS["airbyte"]
    config = {
        "auth_type": "oauth2.0",
        "client_id": target.client_id,
        "client_secret": target.client_secret,
        "refresh_token": target.refresh_token,
        "access_token": "unset",
        "token_expiry_date": "2000-01-01T00:00:00+00:00",
        "realm_id": target.realm_id,
        "start_date": target.start_date,
        "sandbox": False,
        "max_results": target.page_size,
    }
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config, indent=2))
    discovered = workdir / "discovered.jsonl"
    result = run_process(
        [str(peer.python), str(peer.wrapper), "discover", "--config", str(config_path)],
        env,
        discovered,
        workdir / "discover.stderr",
        300,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"airbyte discovery failed (exit {result.returncode}): "
            + _tail(workdir / "discover.stderr")
        )
    catalog: dict[str, Any] | None = None
    for line in discovered.read_text().splitlines():
        if line.startswith("{"):
            message = json.loads(line)
            if message.get("type") == "CATALOG":
                catalog = message["catalog"]
    if catalog is None:
        raise RuntimeError("airbyte discovery printed no CATALOG message")
    configured = {
        "streams": [
            {
                "stream": stream,
                "sync_mode": "incremental",
                "cursor_field": stream.get("default_cursor_field") or ["airbyte_cursor"],
                "destination_sync_mode": "append",
            }
            for stream in catalog["streams"]
            if stream["name"] in STREAMS
        ]
    }
    catalog_path = workdir / "configured_catalog.json"
    catalog_path.write_text(json.dumps(configured))
    return [
        str(peer.python),
        str(peer.wrapper),
        "read",
        "--config",
        str(config_path),
        "--catalog",
        str(catalog_path),
    ]


def _collect(run: PeerRun, stdout: Path) -> None:
    """Fill run.records/rows/duplicates from the peer's stdout (Singer or Airbyte messages)."""
    records: dict[str, dict[str, str]] = {entity: {} for entity in STREAMS.values()}
    inactive = dict.fromkeys(STREAMS.values(), 0)
    rows = duplicates = 0
    with stdout.open("rb") as lines:
        for line in lines:
            if b'"RECORD"' not in line[:40]:
                continue
            message = json.loads(line)
            if run.peer == "airbyte":
                stream, data = message["record"]["stream"], message["record"]["data"]
            else:
                stream, data = message["stream"], message["record"]
            entity = STREAMS.get(stream)
            if entity is None:
                continue
            rows += 1
            ids = records[entity]
            if data["Id"] in ids:
                duplicates += 1
            ids[str(data["Id"])] = str(data.get("SyncToken"))
            if data.get("Active") is False:
                inactive[entity] += 1
    run.records, run.rows, run.duplicates, run.inactive = records, rows, duplicates, inactive


def run_peer(
    name: str, target: Target, workdir: Path, *, timeout: float = 600, collect: bool = True
) -> PeerRun:
    """Discover, then sync invoices/customers/items with one peer; output stays in workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = _env(target)
    prepare = _singer_io_prepare if name == "singer-io" else _airbyte_prepare
    argv = prepare(target, workdir, env)
    stdout, stderr = workdir / "stdout.jsonl", workdir / "stderr.log"
    proc = run_process(argv, env, stdout, stderr, timeout)
    run = PeerRun(
        peer=name,
        returncode=proc.returncode,
        seconds=proc.seconds,
        maxrss_kb=proc.maxrss_kb,
        timed_out=proc.timed_out,
        cpu_s=proc.cpu_s,
        stdout_path=stdout,
        stderr_tail=_tail(stderr),
    )
    if collect:
        _collect(run, stdout)
    return run
