"""Faults: Intuit misbehaving, tokens expiring and rotating, Postgres restarting.

Each scenario runs `meltano run` against the emulator with a fault switched on. The run
either finishes with Postgres equal to the emulator's truth, or stops with a clear message
and state not ahead of what was loaded, and then a rerun finishes with the truth. The tap
never sleeps for real (`TAP_QUICKBOOKS_MAX_SLEEP_SECONDS=0`): a 429 without Retry-After
would otherwise wait 60 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import typing as t
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from _pipeline import (
    CLIENT_ID,
    CLIENT_SECRET,
    START_DATE,
    Pipeline,
    Result,
    bookmarks,
    database,
    page_query_at,
    wait_for,
    window_start,
)
from qbo_emulator.bodies import HTML, nginx
from qbo_emulator.server import Response
from qbo_emulator.testing import EmulatorServer

if t.TYPE_CHECKING:
    from collections.abc import Iterator

COMPANY: dict[str, t.Any] = {"seed": 9, "customers": 20, "items": 8, "invoices": 120}


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """One emulator and one database for the module; each test uses its own state id."""
    with (
        EmulatorServer(**COMPANY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as emu,
        database("faults") as dbname,
    ):
        yield Pipeline(emu, dbname, tmp_path_factory.mktemp("faults"))


def _fresh(pipe: Pipeline, **switches: t.Any) -> None:
    """Empty tables, no faults, request numbers from 1 again, then the given switches."""
    pipe.truncate()
    pipe.probe.reset()
    pipe.emu.configure(**{"fault_at": {}, "fault_rate": {}, **switches})
    pipe.emu.reset_stats()


GROUPS: dict[str, dict[str, t.Any]] = {
    # Intuit's XML 429 body, 8 in a row (no Retry-After: the tap would wait 60 s each),
    # then 500, 502 and 503 bursts.
    "throttle-storm-and-5xx": {
        "fault_at": {"429": list(range(3, 11)), "500": [14, 15], "502": [20], "503": [21, 22]},
    },
    # Responses slower than request_timeout, connection resets, truncated JSON bodies.
    "slow-reset-truncated": {
        "fault_at": {"slow": [5, 17], "reset": [8, 9, 25], "truncate": [12, 23]},
        "slow_seconds": 3,
    },
}
MESSAGES = {
    "429": "throttled by QuickBooks (HTTP 429)",
    "500": "HTTP 500 from QuickBooks",
    "502": "HTTP 502 from QuickBooks",
    "503": "HTTP 503 from QuickBooks",
    "slow": "request timed out after 1 s",
    "reset": "connection failed",
    "truncate": "truncated or invalid JSON",
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_transient_faults_are_retried_and_nothing_is_lost(pipe: Pipeline, group: str) -> None:
    switches = GROUPS[group]
    _fresh(pipe, **switches)
    result = pipe.run(suffix=group, env={"TAP_QUICKBOOKS_REQUEST_TIMEOUT": "1"})
    assert result.rc == 0, result.tail()
    pipe.assert_matches_truth(group)
    injected = pipe.emu.stats()["faults"]
    for kind, numbers in switches["fault_at"].items():
        assert injected.get(kind) == len(numbers), (kind, injected)
        assert MESSAGES[kind] in result.output, MESSAGES[kind]
    assert "Traceback" not in result.output
    final = pipe.rows()
    pipe.assert_state_not_ahead(pipe.state(group), final, final, group)


def test_401_mid_run_and_strict_refresh_token_rotation(pipe: Pipeline) -> None:
    """Access tokens expire mid-run (401); every refresh rotates the refresh token and the
    superseded one is refused at once. The latest token must be kept across runs (a lost
    store, and the refusal it causes, are in test_secrets)."""
    _fresh(pipe, rotation="every")
    emulator = pipe.emu.emulator

    def expire_access_tokens(number: int, _text: str) -> None:
        if number == 9:  # every access token issued so far expires
            emulator.tokens.access.clear()

    pipe.probe.hooks.append(expire_access_tokens)
    first = pipe.run(suffix="rotation")
    assert first.rc == 0, first.tail()
    assert "Access token rejected (401)" in first.output
    stats = pipe.emu.stats()
    assert stats["auth_failures"] >= 1, stats
    assert stats["token_refreshes"] >= 2, stats
    pipe.assert_matches_truth("401 mid-run")
    store = json.loads(pipe.token_store.read_text())
    stored = [entry["refresh_token"] for entry in store["entries"].values()]
    assert stored == [pipe.emu.refresh_token()], "the token store lost the latest refresh token"

    # The configured token is long superseded: the next run must use the stored one.
    pipe.emu.mutate(
        pipe.realm, "Invoice", "update", sorted(pipe.emu.truth()[pipe.realm]["Invoice"])[0]
    )
    second = pipe.run(suffix="rotation")
    assert second.rc == 0, second.tail()
    assert "invalid_grant" not in json.dumps(pipe.emu.stats()["token_errors"])
    pipe.assert_matches_truth("second run on the stored refresh token")


def test_circuit_breaker_names_the_window_and_the_rerun_resumes_there(pipe: Pipeline) -> None:
    _fresh(pipe)
    emulator = pipe.emu.emulator
    broken = window_start(3)
    # An outage of the invoice windows from the fourth on: every request for them fails, whenever
    # it comes. (It used to start at the first request of the fourth window that arrived after
    # the first window's first page; requests of several windows are in flight at once, so on a
    # busy machine all of the fourth window's requests could arrive before that page, the outage
    # never started, and the run exited 0.)
    invoice_query = "FROM Invoice WHERE MetaData.LastUpdatedTime >= '"
    served = emulator.api

    async def outage(req: t.Any) -> t.Any:
        text = req.param("query") or ""
        if invoice_query in text and text.split("'")[1] >= broken:
            return Response(503, nginx(503), HTML)
        return await served(req)

    emulator.api = outage  # type: ignore[method-assign]
    env = {"TAP_QUICKBOOKS_MAX_RETRIES": "1", "TAP_QUICKBOOKS_MAX_WINDOW_FAILURES": "2"}
    try:
        failed = pipe.run(suffix="breaker", env=env)
    finally:
        emulator.api = served  # type: ignore[method-assign]
    assert failed.rc != 0
    match = re.search(
        r"invoices, realm \d+: window \[(\S+), (\S+)\) failed 2 times in a row "
        r"\(setting max_window_failures\).*rerun to resume from (\S+)",
        failed.output,
    )
    assert match, failed.tail()
    resume_from = match.group(3)
    # The rerun resumes from the last verified bookmark, at or before the broken window.
    assert resume_from[:10] <= broken[:10], (resume_from, broken)
    state, loaded = pipe.state("breaker"), pipe.rows()
    mark = bookmarks(state).get(("invoices", pipe.realm))
    # The rerun resumes from the last verified bookmark (none yet: from start_date).
    first = (mark or START_DATE).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert first <= resume_from.replace("+00:00", "Z"), (first, resume_from)

    pipe.probe.reset()
    rerun = pipe.run(suffix="breaker", env=env)
    assert rerun.rc == 0, rerun.tail()
    final = pipe.assert_matches_truth("rerun after the circuit breaker")
    pipe.assert_state_not_ahead(state, loaded, final, "circuit breaker")
    starts = [
        q.split("'")[1]
        for q in pipe.probe.queries + pipe.probe.batched
        if q.startswith(("SELECT * FROM Invoice", "SELECT COUNT(*) FROM Invoice"))
    ]
    assert starts, "the rerun read no invoices"
    assert min(starts) == first, f"the rerun started at {min(starts)}, not at the bookmark {first}"


# -- Postgres restarted during a load ----------------------------------------------------------


@dataclass
class Cluster:
    """A throw-away Postgres cluster (never the shared server)."""

    bindir: Path
    datadir: Path
    port: int
    run_as: list[str]

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )


def _pg_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if found:
        return found[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("Postgres server binaries (initdb, pg_ctl) are not installed")
    work = Path(tempfile.mkdtemp(prefix="qbo-pg-restart-"))
    work.chmod(0o755)
    run_as: list[str] = []
    if os.getuid() == 0:
        shutil.chown(work, user="postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(bindir, work / "data", _free_port(), run_as)
    try:
        subprocess.run(
            [
                *run_as,
                str(bindir / "initdb"),
                *("-D", str(cluster.datadir), "-U", "postgres", "-A", "trust"),
                *("-E", "UTF8", "--no-sync"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {work} -c fsync=off"
        cluster.ctl("-l", str(work / "server.log"), "-w", "-o", options, "start")
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            cluster.ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(work, ignore_errors=True)


def test_postgres_restarted_during_a_load(tmp_path: Path) -> None:
    """Postgres restarts (fast shutdown: sessions are cut) between two batches, then in the
    middle of a batch's transaction. Each run ends complete, or stops with the loader's
    error and the state not ahead of Postgres; a plain rerun then completes."""
    with (
        throwaway_cluster() as cluster,
        EmulatorServer(**COMPANY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as emu,
        database("restart", cluster.dsn) as dbname,
    ):
        pipe = Pipeline(emu, dbname, tmp_path, dsn=cluster.dsn)
        log = str(cluster.datadir.parent / "server.log")

        def invoices_written() -> int:
            with contextlib.suppress(psycopg.Error), pipe.connect() as conn:
                row = conn.execute("SELECT count(*) FROM raw.qb_invoices").fetchone()
                return int(row[0]) if row else 0
            return 0

        def blocked_writer() -> bool:
            with contextlib.suppress(psycopg.Error), pipe.connect() as conn:
                return (
                    conn.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'"
                    ).fetchone()
                    is not None
                )
            return False

        def settle(result: Result, suffix: str, context: str) -> None:
            if result.rc != 0:
                # The loader's own error names the cause (Meltano may add a BrokenPipeError
                # from writing to the dead loader).
                assert re.search(
                    r"Loader failed|AdminShutdown|terminating connection|server closed",
                    result.output,
                ), result.tail()
                state, loaded = pipe.state(suffix), pipe.rows()
                result = pipe.run(suffix=suffix)
                final = pipe.assert_matches_truth(context)
                pipe.assert_state_not_ahead(state, loaded, final, context)
            assert result.rc == 0, result.tail()
            pipe.assert_matches_truth(context)

        # 1. Between batches: hold the tap at its fifth page of invoices (a batch of invoices
        # is out by then); once the target has written it, restart, then let the tap go on.
        pipe.probe.hold(page_query_at("Invoice", 5))
        running = pipe.start(suffix="between-batches")
        wait_for(
            lambda: invoices_written() > 0 or running.process.poll() is not None,
            what="a batch of invoices in Postgres",
        )
        assert pipe.probe.reached.is_set(), "the run ended before the hold"
        assert invoices_written() > 0, "the run ended before any invoice was written"
        cluster.ctl("-l", log, "-m", "fast", "-w", "restart")
        pipe.probe.release()
        settle(running.wait(), "between-batches", "Postgres restarted between batches")

        # 2. Mid-transaction: a lock makes the target wait inside its write of a batch; the
        # restart cuts that transaction.
        pipe.truncate()
        pipe.probe.reset()
        locker = pipe.connect()
        locker.execute("BEGIN")
        locker.execute("LOCK TABLE raw.qb_invoices IN ACCESS EXCLUSIVE MODE")
        running = pipe.start(suffix="mid-write")
        wait_for(
            lambda: blocked_writer() or running.process.poll() is not None,
            what="the target writing invoices",
        )
        assert blocked_writer(), "the run ended without writing invoices"
        cluster.ctl("-l", log, "-m", "fast", "-w", "restart")
        with contextlib.suppress(psycopg.Error):
            locker.close()
        settle(running.wait(), "mid-write", "Postgres restarted in the middle of a write")
        pipe.assert_no_secrets()


def test_fault_runs_sent_only_fixed_queries_and_leaked_no_secret(pipe: Pipeline) -> None:
    pipe.assert_queries_well_formed()
    pipe.assert_no_secrets()
