"""Dagster definitions: one partition per connected QuickBooks company.

- ``quickbooks_company`` (asset, dynamically partitioned by realm id): ``meltano run`` for that
  company with its own state id. Companies load side by side.
- ``quickbooks_models`` (asset, same partitions, after ``quickbooks_company``): the project's dbt
  build when ``transform/`` exists, in the concurrency pool ``qbo_dbt`` limited to one step at
  a time (``dbt_pool.py``): the models build every company's rows into the same tables.
- ``connected_companies`` (sensor): adds a partition for every company in the tap's token store
  (``tap-quickbooks authorize`` puts them there) and requests a first load of each new one.
- ``hourly_companies`` (schedule): every hour, a run per partition; each company is its own run,
  so a failed one is retried (``RetryPolicy``) or re-executed alone.

Load with ``dagster dev -m qbo_orchestrate.definitions`` from the Meltano project's root.
"""

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from qbo_orchestrate import dbt_pool
from qbo_orchestrate import meltano as loads

PARTITIONS_NAME = "quickbooks_company"
PARTITIONS = dg.DynamicPartitionsDefinition(name=PARTITIONS_NAME)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class MeltanoProject(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The Meltano project the company loads run in."""

    project_root: str = Field(
        default_factory=lambda: os.environ.get("QBO_MELTANO_PROJECT", str(PROJECT_ROOT)),
        description="Folder of meltano.yml (QBO_MELTANO_PROJECT; default this repository).",
    )
    environment: str = Field(
        default_factory=lambda: os.environ.get("MELTANO_ENVIRONMENT", "dev"),
        description="Meltano environment (MELTANO_ENVIRONMENT; default dev).",
    )
    meltano: str = Field(default_factory=loads.default_meltano)
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment of each run (e.g. settings)."
    )
    timeout_seconds: float = 6 * 3600
    dbt_command: str = Field(
        # The project's dbt utility (meltano.yml: dbt-postgres, its `build` command).
        default="{meltano} --environment={environment} invoke dbt-postgres:build --vars {vars}",
        description="Run in the project root when transform/dbt_project.yml exists; "
        "{vars} becomes the company's dbt vars ({'realm_id': ...}), {meltano} and "
        "{environment} this resource's.",
    )

    def runner(self) -> loads.Runner:
        """This project's settings for `qbo_orchestrate.meltano`'s steps."""
        return loads.Runner(
            project=Path(self.project_root),
            environment=self.environment,
            meltano=self.meltano,
            env=dict(self.env),
            timeout=self.timeout_seconds,
        )

    def load(self, realm_id: str, run_label: str) -> loads.Outcome:
        """Load one company (`qbo_orchestrate.meltano.run_company`)."""
        return loads.run_company(realm_id, self.runner(), run_label)

    def has_models(self) -> bool:
        """True when the project has dbt models (transform/dbt_project.yml)."""
        return loads.has_dbt_project(Path(self.project_root))

    def transform(self, realm_id: str, run_label: str) -> loads.Transform:
        """The dbt build after one company's load (`qbo_orchestrate.meltano.run_dbt`)."""
        return loads.run_dbt(realm_id, self.runner(), run_label, self.dbt_command)


#: A company's load is retried twice, after 1 and 2 minutes (Intuit outages are short).
RETRY = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL)


def company_asset(retry_policy: dg.RetryPolicy = RETRY) -> dg.AssetsDefinition:
    """The partitioned asset of one company's load (with this retry policy)."""

    @dg.asset(
        name="quickbooks_company",
        partitions_def=PARTITIONS,
        group_name="quickbooks",
        retry_policy=retry_policy,
        description="One company's raw tables (meltano run, own state id).",
    )
    def quickbooks_company(
        context: dg.AssetExecutionContext, project: MeltanoProject
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        realm_id = context.partition_key
        dbt_pool.ensure_limit(context.instance)  # before this run's dbt step asks for a slot
        try:
            outcome = project.load(realm_id, context.run.run_id)
        except loads.CompanyLoadError as exc:
            raise dg.Failure(description=str(exc), metadata={"realm_id": realm_id}) from None
        return dg.MaterializeResult(
            metadata={
                "realm_id": outcome.realm_id,
                "state_id": outcome.state_id,
                "log": str(outcome.log),
            }
        )

    return quickbooks_company


def models_asset(retry_policy: dg.RetryPolicy = RETRY) -> dg.AssetsDefinition:
    """The dbt build after one company's load: one at a time across all runs (pool qbo_dbt)."""

    @dg.asset(
        name="quickbooks_models",
        partitions_def=PARTITIONS,
        group_name="quickbooks",
        deps=["quickbooks_company"],
        pool=dbt_pool.POOL,
        retry_policy=retry_policy,
        description="The dbt models after this company's load (every company's rows: one dbt "
        "build at a time, pool qbo_dbt).",
    )
    def quickbooks_models(
        context: dg.AssetExecutionContext, project: MeltanoProject
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        realm_id = context.partition_key
        if project.has_models():
            problem = dbt_pool.problem(context.instance)
            if problem is not None:
                raise dg.Failure(
                    description=f"company {realm_id}: dbt not run: {problem}",
                    metadata={"realm_id": realm_id},
                    allow_retries=False,
                )
        try:
            done = project.transform(realm_id, context.run.run_id)
        except loads.CompanyLoadError as exc:
            raise dg.Failure(description=str(exc), metadata={"realm_id": realm_id}) from None
        return dg.MaterializeResult(
            metadata={"realm_id": done.realm_id, "dbt": done.dbt, "log": str(done.log)}
        )

    return quickbooks_models


quickbooks_company = company_asset()
quickbooks_models = models_asset()


company_job = dg.define_asset_job(
    "quickbooks_company_job", selection=[quickbooks_company, quickbooks_models]
)


def connected_companies_now() -> list[str]:
    """Realm ids in the tap's token store for this app (settings from TAP_QUICKBOOKS_*)."""
    from tap_quickbooks.auth import open_store
    from tap_quickbooks.settings import DEFAULTS

    client_id = os.environ.get("TAP_QUICKBOOKS_CLIENT_ID", "")
    if not client_id:
        return []
    path = os.environ.get("TAP_QUICKBOOKS_TOKEN_STORE_PATH") or _project_token_store()
    store = open_store(
        Path(os.path.expanduser(path or DEFAULTS["token_store_path"])),
        os.environ.get("TAP_QUICKBOOKS_TOKEN_STORE_URL") or None,
    )
    return store.companies(client_id)


def _project_token_store() -> str:
    """The store meltano.yml gives the tap: .meltano/tokens/<environment>/tap-quickbooks.json."""
    root = os.environ.get("QBO_MELTANO_PROJECT", str(PROJECT_ROOT))
    environment = os.environ.get("MELTANO_ENVIRONMENT", "dev")
    return str(Path(root) / ".meltano" / "tokens" / environment / "tap-quickbooks.json")


@dg.sensor(job=company_job, minimum_interval_seconds=300)
def connected_companies(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """A partition, and a first load, for each newly connected company."""
    known = set(context.instance.get_dynamic_partitions(PARTITIONS_NAME))
    new = [realm for realm in connected_companies_now() if realm not in known]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=realm, run_key=realm) for realm in new],
        dynamic_partitions_requests=[PARTITIONS.build_add_request(new)] if new else [],
    )


@dg.schedule(job=company_job, cron_schedule="0 * * * *")
def hourly_companies(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """Every hour, one run per company (they run side by side, each with its own state)."""
    realms = context.instance.get_dynamic_partitions(PARTITIONS_NAME)
    stamp = context.scheduled_execution_time.isoformat()
    return [dg.RunRequest(partition_key=r, run_key=f"{r}:{stamp}") for r in realms]


defs = dg.Definitions(
    assets=[quickbooks_company, quickbooks_models],
    jobs=[company_job],
    sensors=[connected_companies],
    schedules=[hourly_companies],
    resources={"project": MeltanoProject()},
)
