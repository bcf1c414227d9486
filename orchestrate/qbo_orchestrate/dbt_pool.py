"""One dbt build at a time, across every company's run: the `qbo_dbt` concurrency pool.

The dbt models build every company's rows into the same tables (`staging`, `analytics`), so
two builds at once would replace each other's tables mid-build. The dbt step of each run is
in the pool `qbo_dbt`; Dagster's instance gives a step of a pool a slot only while fewer steps
than the pool's limit hold one, across all runs and machines sharing the instance's storage.
The limit lives in the instance, not in the code: :func:`ensure_limit` sets it to 1 when it
is unset (each run's load step calls it before its dbt step asks for a slot), and
:func:`problem` names what is wrong when the instance cannot or does not hold the builds to
one (the dbt step then fails instead of building beside another).
"""

from __future__ import annotations

import contextlib
import typing as t

if t.TYPE_CHECKING:
    import dagster as dg

POOL = "qbo_dbt"
LIMIT = 1
FIX = (
    f"run the orchestrator on a persistent Dagster instance (DAGSTER_HOME; `dagster dev` makes "
    f"one) and keep `dagster instance concurrency set {POOL} {LIMIT}`"
)


def _limit(instance: dg.DagsterInstance) -> int | None:
    for pool in instance.event_log_storage.get_pool_limits():
        if pool.name == POOL:
            return pool.limit
    return None


def ensure_limit(instance: dg.DagsterInstance) -> None:
    """Limit the pool to one dbt build when the instance has no limit for it yet."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or _limit(instance) is not None:
        return
    if storage.get_pool_config().default_pool_limit is not None:
        return  # dagster.yaml's `concurrency: pools: default_limit` applies (checked below)
    with contextlib.suppress(Exception):  # another run set it at the same moment
        storage.set_concurrency_slots(POOL, LIMIT)


def problem(instance: dg.DagsterInstance) -> str | None:
    """Why this instance does not hold dbt builds to one at a time (None: it does)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return f"this Dagster instance has no concurrency pools (an ephemeral one?): {FIX}"
    config = storage.get_pool_config()
    if getattr(config.pool_granularity, "value", None) == "run":
        return (
            "the instance limits pools per run (`concurrency: pools: granularity: run`), which "
            f"does not hold a step of a run; set `granularity: op` and {FIX}"
        )
    limit = _limit(instance)
    if limit is None:
        limit = config.default_pool_limit
    if limit != LIMIT:
        shown = "no limit" if limit is None else f"a limit of {limit}"
        return f"the pool {POOL} has {shown}: {FIX}"
    return None
