"""Crash: `meltano run` killed with SIGKILL at seeded points, then rerun.

Each case kills meltano, the tap and the target at once (one process group) at one
point: after the emulator has served request k (k drawn by a seeded RNG over the
requests of a full run), at the first COUNT(*) of a later window (between windows),
or while the target is blocked writing a table (a lock held by the test). After the
kill, the saved state must not be ahead of what Postgres holds; a rerun must end with
Postgres equal to the emulator's truth and no key twice.

After a SIGKILL, Meltano still sees the dead run as running: a plain rerun is refused
(with a message that names `--force`) until its heartbeat is 5 minutes old. The first
case checks that message and that nothing changed; the reruns then use `--force`.
"""

from __future__ import annotations

import json
import random
import typing as t
from dataclasses import dataclass

import pytest
from _pipeline import (
    BOOKMARKED,
    CLIENT_ID,
    CLIENT_SECRET,
    Pipeline,
    bookmarks,
    database,
    page_query_at,
    wait_for,
)
from qbo_emulator.testing import EmulatorServer

if t.TYPE_CHECKING:
    from collections.abc import Iterator

RNG_SEED = 20261127


@dataclass(frozen=True)
class KillPoint:
    """Where to kill: `paging` (fraction of a full run's requests), `page` (entity, page
    read by a query, mid-stream), `target` (table the target is writing) or `incremental`."""

    name: str
    kind: str
    fraction: float = 0.0
    entity: str = ""
    window: int = 0
    table: str = ""


def _kill_points() -> list[KillPoint]:
    rng = random.Random(RNG_SEED)
    paging = sorted(rng.uniform(0.03, 0.97) for _ in range(5))
    return [
        KillPoint("incremental-run", "incremental"),
        *(KillPoint(f"after-request-{i}-of-5", "paging", fraction=f) for i, f in enumerate(paging)),
        KillPoint("mid-customers", "page", entity="Customer", window=2),
        KillPoint("mid-invoices", "page", entity="Invoice", window=6),
        KillPoint("target-writing-invoices", "target", table="qb_invoices"),
        KillPoint("target-writing-customers", "target", table="qb_customers"),
    ]


POINTS = _kill_points()


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, int]]:
    """A small company, one database for every case, and a first complete run."""
    with (
        EmulatorServer(
            seed=7,
            customers=25,
            items=10,
            invoices=200,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        ) as emu,
        database("crash") as dbname,
    ):
        pipe = Pipeline(emu, dbname, tmp_path_factory.mktemp("crash"))
        first = pipe.run()
        assert first.rc == 0, first.tail()
        pipe.assert_matches_truth("first complete run")
        yield pipe, pipe.probe.requests


def _blocked_writer(pipe: Pipeline) -> str | None:
    with pipe.connect() as conn:
        row = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchone()
    return None if row is None else str(row[0])


@pytest.mark.parametrize("point", POINTS, ids=[p.name for p in POINTS])
def test_kill_then_rerun_loads_exactly_quickbooks(
    crash: tuple[Pipeline, int], point: KillPoint
) -> None:
    pipe, full_run_requests = crash
    pipe.probe.reset()
    suffix = None
    if point.kind == "incremental":
        # Changes since the first run; the incremental run is killed mid-way.
        for op, entity in (
            ("update", "Invoice"),
            ("update", "Invoice"),
            ("create", "Invoice"),
            ("delete", "Invoice"),
            ("deactivate", "Customer"),
            ("update", "Item"),
        ):
            ids = sorted(pipe.emu.truth()[pipe.realm][entity], key=int)
            pipe.emu.mutate(pipe.realm, entity, op, None if op == "create" else ids[len(ids) // 3])
        # An incremental run is one /cdc and one /batch request: hold the second.
        pipe.probe.hold(lambda n, _q: n == 2)
    else:
        suffix = point.name
        pipe.truncate()
        if point.kind == "paging":
            k = max(2, int(point.fraction * full_run_requests))
            pipe.probe.hold(lambda n, _q: n == k)
        elif point.kind == "page":
            pipe.probe.hold(page_query_at(point.entity, point.window))

    if point.kind == "target":
        with pipe.connect() as locker, locker.transaction():
            locker.execute(f"LOCK TABLE raw.{point.table} IN ACCESS EXCLUSIVE MODE")
            running = pipe.start(suffix=suffix)
            wait_for(
                lambda: _blocked_writer(pipe) is not None or running.process.poll() is not None,
                what="the target to block on the locked table",
            )
            writer = _blocked_writer(pipe)
            assert writer is not None, "the run ended without writing " + point.table
            killed = running.kill()
    else:
        running = pipe.start(suffix=suffix)
        wait_for(
            lambda: pipe.probe.reached.is_set() or running.process.poll() is not None,
            what="the kill point",
        )
        assert pipe.probe.reached.is_set(), f"the run ended before {point.name}"
        killed = running.kill()
        pipe.probe.release()
    assert killed.rc < 0

    state_at_kill = pipe.state(suffix)
    loaded_at_kill = pipe.rows()

    if point is POINTS[1]:
        # Meltano still counts the killed run as running: a plain rerun is refused, clearly,
        # and changes nothing.
        refused = pipe.run(suffix=suffix)
        assert refused.rc != 0
        assert "already running" in refused.output, refused.tail()
        assert "--force" in refused.output
        assert pipe.state(suffix) == state_at_kill
        assert pipe.rows() == loaded_at_kill

    rerun = pipe.run(suffix=suffix, force=True)
    assert rerun.rc == 0, rerun.tail()
    final = pipe.assert_matches_truth(f"rerun after kill at {point.name}")
    pipe.assert_state_not_ahead(state_at_kill, loaded_at_kill, final, f"kill at {point.name}")
    state = pipe.state(suffix)
    assert {stream for stream, _realm in bookmarks(state)} == BOOKMARKED
    pipe.assert_state_not_ahead(state, final, final, f"after the rerun of {point.name}")

    if point.kind == "incremental":
        deleted = pipe.emu.truth()[pipe.realm]["deleted"]["Invoice"]
        rows = pipe.rows()["invoices"]
        tombstones = {key for (_r, key), row in rows.items() if row.deleted is not None}
        assert tombstones & set(deleted), "the invoice deleted between runs has no tombstone"
        # What `meltano state get` prints is the state these checks read.
        printed = pipe.meltano("state", "get", pipe.state_id(suffix))
        assert printed.rc == 0, printed.tail()
        assert json.loads(printed.output[printed.output.index("{") :].splitlines()[0]) == state


def test_crash_runs_sent_only_fixed_queries_and_leaked_no_secret(
    crash: tuple[Pipeline, int],
) -> None:
    pipe, _ = crash
    pipe.assert_queries_well_formed()
    pipe.assert_no_secrets()
