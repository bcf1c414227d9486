"""The Dagster definitions, in-process: real `meltano run`s against the emulator and Postgres.

Two companies are connected through the emulator's consent screen into the Postgres token
store; the sensor turns them into partitions; each partition is one `meltano run` with its own
state id, Meltano's system database being the same Postgres (`MELTANO_DATABASE_URI`).
"""

import itertools
import sys
import threading
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
import requests
from qbo_emulator.testing import EmulatorServer
from tap_quickbooks.auth import open_store
from tap_quickbooks.authorize import authorize

from qbo_orchestrate import dbt_pool
from qbo_orchestrate import definitions as d
from qbo_orchestrate.meltano import state_id

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import _pipeline as P  # noqa: E402  (the root pipeline tests' helpers)

CLIENT_ID = "qbo-emulator-client"
CLIENT_SECRET = "qbo-emulator-secret"


@pytest.fixture(scope="module")
def emu():
    with EmulatorServer(seed=3, customers=30, items=12, invoices=80, realms=2) as server:
        yield server


@pytest.fixture
def setup(emu, tmp_path, monkeypatch):
    """A private project, a database, both companies connected, the environment of a run."""
    P.require_plugins()
    with P.database("orch") as dbname:
        dsn = P.dsn_for(dbname)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA meltano")
        project = P.private_project(tmp_path / "project")
        store = open_store(tmp_path / "unused.json", dsn)
        for realm in emu.realm_ids:
            emu.configure(consent_realm=realm)
            authorize(
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                token_url=emu.token_url,
                store=store,
                authorize_url=f"{emu.base_url}/connect/oauth2",
                port=0,
                timeout=30,
                open_url=lambda url: requests.get(url, timeout=10),
                announce=lambda text: None,
            )
        meltano_db = P.sqlalchemy_url(dbname) + "?options=-csearch_path%3Dmeltano"
        env = {
            "MELTANO_DATABASE_URI": meltano_db,
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "QBO_START_DATE": "2022-01-01",
            "TAP_QUICKBOOKS__CATALOG": str(P.catalog_file(tmp_path)),
            "TAP_QUICKBOOKS_CLIENT_ID": CLIENT_ID,
            "TAP_QUICKBOOKS_CLIENT_SECRET": CLIENT_SECRET,
            "TAP_QUICKBOOKS_API_URL": emu.base_url,
            "TAP_QUICKBOOKS_AUTH_URL": emu.token_url,
            "TAP_QUICKBOOKS_TOKEN_STORE_URL": dsn,
            "TAP_QUICKBOOKS_WINDOW_DAYS": "365",
            "TAP_QUICKBOOKS_MAX_SLEEP_SECONDS": "0",
            "TARGET_POSTGRES_SQLALCHEMY_URL": P.sqlalchemy_url(dbname),
        }
        for key in ("TAP_QUICKBOOKS_CLIENT_ID", "TAP_QUICKBOOKS_TOKEN_STORE_URL"):
            monkeypatch.setenv(key, env[key])
        yield project, dsn, env


def resources(project: Path, env: dict[str, str], **extra: str) -> dict[str, d.MeltanoProject]:
    return {
        "project": d.MeltanoProject(
            project_root=str(project), environment="dev", env={**env, **extra}
        )
    }


def rows_by_realm(dsn: str, table: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        found = conn.execute(
            f"SELECT realm_id, count(*) FROM raw.{table} GROUP BY realm_id"
        ).fetchall()
    return {str(realm): int(n) for realm, n in found}


def states(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        found = conn.execute("SELECT state_id, completed_state::text FROM meltano.state").fetchall()
    return dict(found)


def persistent_instance(
    tmp_path: Path, overrides: dict[str, Any] | None = None
) -> dg.DagsterInstance:
    """A Dagster instance with its storage on disk (as `dagster dev` makes): it has pools."""
    home = tmp_path / "dagster-home"
    home.mkdir()
    return dg.DagsterInstance.local_temp(str(home), overrides=overrides)


def partitions_from_sensor(instance: dg.DagsterInstance) -> list[str]:
    result = d.connected_companies(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SensorResult)
    added = [key for req in result.dynamic_partitions_requests for key in req.partition_keys]
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return added


def test_each_company_is_a_partition_with_its_own_state(emu, setup) -> None:
    project, dsn, env = setup
    instance = dg.DagsterInstance.ephemeral()
    assert partitions_from_sensor(instance) == sorted(emu.realm_ids)
    assert partitions_from_sensor(instance) == []  # already known
    for realm in emu.realm_ids:
        result = dg.materialize(
            [d.quickbooks_company, d.quickbooks_models],
            partition_key=realm,
            instance=instance,
            resources=resources(project, env),
        )
        assert result.success
        load, models = result.get_asset_materialization_events()
        assert load.materialization.metadata["state_id"].value == state_id("dev", realm)
        assert models.asset_key == dg.AssetKey("quickbooks_models")
        dbt = models.materialization.metadata["dbt"].value
        assert dbt == "skipped: no transform/dbt_project.yml"
    truth = emu.truth()
    for table, entity in (("qb_items", "Item"), ("qb_customers", "Customer")):
        assert rows_by_realm(dsn, table) == {r: len(truth[r][entity]) for r in emu.realm_ids}
    saved = states(dsn)
    assert set(saved) == {state_id("dev", r) for r in emu.realm_ids}
    for realm in emu.realm_ids:
        assert f'"realm_id": "{realm}"' in saved[state_id("dev", realm)]
    # Each company ran in its own Meltano system directory.
    for realm in emu.realm_ids:
        assert (project / ".meltano" / "companies" / realm / "run").is_dir()


def test_a_failed_company_is_retried_alone(emu, setup, monkeypatch) -> None:
    project, dsn, env = setup
    first, second = emu.realm_ids
    instance = dg.DagsterInstance.ephemeral()
    partitions_from_sensor(instance)
    run = resources(project, env)
    assert dg.materialize(
        [d.quickbooks_company], partition_key=first, instance=instance, resources=run
    ).success
    before = states(dsn)[state_id("dev", first)]
    # The second company's first API request fails and the tap gives up at once (no request
    # retries, one window failure): its meltano run exits non-zero, and the asset's retry
    # policy (no delay here) runs that company again.
    emu.reset_stats()
    emu.configure(fault_at={"503": [1]})
    asset = d.company_asset(dg.RetryPolicy(max_retries=1, delay=0))
    failing = resources(
        project, env, TAP_QUICKBOOKS_MAX_RETRIES="0", TAP_QUICKBOOKS_MAX_WINDOW_FAILURES="1"
    )
    result = dg.materialize(
        [asset], partition_key=second, instance=instance, resources=failing, raise_on_error=False
    )
    emu.configure(fault_at={})
    assert result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1
    assert emu.stats()["realms"].get(first, {}).get("requests", 0) == 0
    assert states(dsn)[state_id("dev", first)] == before
    truth = emu.truth()
    assert rows_by_realm(dsn, "qb_items") == {r: len(truth[r]["Item"]) for r in emu.realm_ids}


def test_a_company_that_keeps_failing_fails_alone_with_one_line(emu, setup) -> None:
    project, dsn, env = setup
    instance = dg.DagsterInstance.ephemeral()
    partitions_from_sensor(instance)
    asset = d.company_asset(dg.RetryPolicy(max_retries=0))
    broken = resources(
        project,
        env,
        TAP_QUICKBOOKS_API_URL="http://127.0.0.1:9",
        TAP_QUICKBOOKS_MAX_RETRIES="0",
        TAP_QUICKBOOKS_MAX_WINDOW_FAILURES="1",
    )
    result = dg.materialize(
        [asset],
        partition_key=emu.realm_ids[1],
        instance=instance,
        resources=broken,
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error, messages = failure.step_failure_data.error, []
    while error is not None:  # the retry policy wraps the asset's Failure
        messages.append(error.message)
        error = error.cause
    [message] = [m for m in messages if "company" in m]
    assert "\n" not in message.strip()
    assert f"company {emu.realm_ids[1]}: meltano run exited" in message
    assert CLIENT_SECRET not in message
    assert state_id("dev", emu.realm_ids[1]) not in states(dsn)


def test_dbt_runs_for_the_company_when_transform_exists(emu, setup, tmp_path) -> None:
    project, _dsn, env = setup
    (project / "transform").mkdir()
    (project / "transform" / "dbt_project.yml").write_text("name: qbo\n")
    record = tmp_path / "dbt-args.txt"
    script = f"import sys; open({str(record)!r}, 'a').write(sys.argv[1])"
    fake_dbt = f'{sys.executable} -c "{script}" {{vars}}'
    instance = persistent_instance(tmp_path)
    partitions_from_sensor(instance)
    realm = emu.realm_ids[0]
    run = {
        "project": d.MeltanoProject(
            project_root=str(project), environment="dev", env=env, dbt_command=fake_dbt
        )
    }
    result = dg.materialize(
        [d.quickbooks_company, d.quickbooks_models],
        partition_key=realm,
        instance=instance,
        resources=run,
    )
    assert result.success
    assert record.read_text() == f'{{"realm_id": "{realm}"}}'
    # The instance had no limit for the dbt pool: the load step set it to one.
    assert instance.event_log_storage.get_concurrency_info(dbt_pool.POOL).slot_count == 1


# -- several companies at once: loads side by side, one dbt build at a time --------------------

# `meltano run` of one company: notes its start, waits until every company's load has started
# (so the loads provably run side by side; it gives up after a minute), notes its end.
FAKE_MELTANO = """
import os, sys, time
from pathlib import Path
log = Path(os.environ["QBO_FAKE_LOG"])
realm = os.environ["TAP_QUICKBOOKS_REALM_ID"]
with log.open("a") as out:
    out.write(f"load-start {realm}\\n")
deadline = time.monotonic() + 60
while log.read_text().count("load-start") < int(os.environ["QBO_FAKE_LOADS"]):
    if time.monotonic() > deadline:
        sys.exit("the other companies' loads never ran beside this one")
    time.sleep(0.05)
with log.open("a") as out:
    out.write(f"load-end {realm}\\n")
"""

# dbt: holds a marker file while it builds; finding it already there means two builds at once.
FAKE_DBT = """
import json, os, sys, time
from pathlib import Path
log = Path(os.environ["QBO_FAKE_LOG"])
busy = log.with_suffix(".dbt-running")
realm = json.loads(sys.argv[1])["realm_id"]
try:
    fd = os.open(busy, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
except FileExistsError:
    with log.open("a") as out:
        out.write(f"dbt-overlap {realm}\\n")
    sys.exit("another dbt build is running")
with log.open("a") as out:
    out.write(f"dbt-start {realm} {time.time()}\\n")
time.sleep(1.5)
with log.open("a") as out:
    out.write(f"dbt-end {realm} {time.time()}\\n")
os.close(fd)
busy.unlink()
"""


def fake_project(tmp_path: Path, loads: int) -> tuple[Path, d.MeltanoProject]:
    """A project whose `meltano run` and dbt are scripts noting when they run, in a log."""
    project = tmp_path / "project"
    (project / "transform").mkdir(parents=True)
    (project / "transform" / "dbt_project.yml").write_text("name: qbo\n")
    log = tmp_path / "steps.log"
    meltano = tmp_path / "meltano"
    meltano.write_text(f"#!{sys.executable}\n{FAKE_MELTANO}")
    meltano.chmod(0o755)
    dbt = tmp_path / "dbt.py"
    dbt.write_text(FAKE_DBT)
    resource = d.MeltanoProject(
        project_root=str(project),
        environment="dev",
        meltano=str(meltano),
        env={"QBO_FAKE_LOG": str(log), "QBO_FAKE_LOADS": str(loads)},
        dbt_command=f"{sys.executable} {dbt} {{vars}}",
    )
    return log, resource


def materialize_at_once(
    instance: dg.DagsterInstance, realms: list[str], resource: d.MeltanoProject
) -> list[dg.ExecuteInProcessResult]:
    """One run per company, all started together (as the hourly schedule does)."""
    results: dict[str, dg.ExecuteInProcessResult] = {}

    def one(realm: str) -> None:
        results[realm] = dg.materialize(
            [d.quickbooks_company, d.quickbooks_models],
            partition_key=realm,
            instance=instance,
            resources={"project": resource},
            raise_on_error=False,
        )

    threads = [threading.Thread(target=one, args=(realm,)) for realm in realms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return [results[realm] for realm in realms]


def test_companies_load_side_by_side_and_dbt_builds_one_at_a_time(tmp_path) -> None:
    realms = ["9341450000000001", "9341450000000002", "9341450000000003"]
    log, resource = fake_project(tmp_path, loads=len(realms))
    instance = persistent_instance(tmp_path)
    instance.add_dynamic_partitions(d.PARTITIONS_NAME, realms)
    results = materialize_at_once(instance, realms, resource)
    lines = log.read_text().splitlines()
    assert all(result.success for result in results), lines
    # Every load started before any ended: the loads ran side by side.
    events = [line.split()[0] for line in lines]
    assert events[: len(realms)] == ["load-start"] * len(realms)
    # dbt ran once per company, never two builds at once.
    assert not [line for line in lines if line.startswith("dbt-overlap")]
    spans = {}
    for line in lines:
        kind, realm, *stamp = line.split()
        if kind in ("dbt-start", "dbt-end"):
            spans.setdefault(realm, []).append(float(stamp[0]))
    assert sorted(spans) == realms
    ordered = sorted(spans.values())
    for (_, end), (start, _) in itertools.pairwise(ordered):
        assert end <= start
    assert instance.event_log_storage.get_concurrency_info(dbt_pool.POOL).slot_count == 1


def test_dbt_is_refused_on_an_instance_that_would_run_two_builds_at_once(tmp_path) -> None:
    realm = "9341450000000001"
    log, resource = fake_project(tmp_path, loads=1)
    overrides = {"concurrency": {"pools": {"default_limit": 3}}}
    for instance in (
        dg.DagsterInstance.ephemeral(),  # no pools at all
        persistent_instance(tmp_path, overrides),
    ):
        instance.add_dynamic_partitions(d.PARTITIONS_NAME, [realm])
        [result] = materialize_at_once(instance, [realm], resource)
        assert not result.success
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert failure.step_key == "quickbooks_models"
        message = failure.step_failure_data.user_failure_data.description
        assert message.startswith(f"company {realm}: dbt not run: ")
        assert "\n" not in message
        assert f"dagster instance concurrency set {dbt_pool.POOL} 1" in message
    assert "dbt-start" not in log.read_text()
    assert "a limit of 3" in message
