"""Posting-rule tests: hand-made QuickBooks payloads in raw tables, `dbt build`, then the ledger.

Each module gets its own Postgres database (on QBO_TEST_PG_DSN, default the local server) and one
`dbt build` run with the dbt that `meltano install` put under .meltano/utilities/dbt-postgres.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import conninfo, sql
from psycopg.rows import dict_row

if TYPE_CHECKING:
    from collections.abc import Iterator

TRANSFORM = Path(__file__).resolve().parent.parent
ROOT = TRANSFORM.parent
DBT = ROOT / ".meltano" / "utilities" / "dbt-postgres" / "venv" / "bin" / "dbt"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

RAW_DDL = """
create table if not exists raw.{table} (
    realm_id text not null,
    id text not null,
    sync_token text,
    last_updated_time timestamp,
    payload jsonb,
    _sdc_deleted_at timestamp,
    primary key (realm_id, id)
)
"""


def admin_dsn() -> str:
    return os.environ.get("QBO_TEST_PG_DSN", DEFAULT_DSN)


def require_dbt() -> None:
    if not DBT.exists():
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "meltano"), "install", "utility", "dbt-postgres"],
            cwd=ROOT,
            check=True,
        )


class Warehouse:
    """One throw-away database with raw tables the tests fill and dbt builds on."""

    def __init__(self, dsn: str, workdir: Path) -> None:
        self.dsn = dsn
        self.workdir = workdir

    def load(
        self, stream: str, realm: str, objects: list[dict[str, Any]], *, deleted: bool = False
    ) -> None:
        """Insert QuickBooks objects into raw.qb_<stream> (created when missing)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("create schema if not exists raw")
            conn.execute(RAW_DDL.format(table=f"qb_{stream}"))
            statement = sql.SQL(
                "insert into raw.{} (realm_id, id, sync_token, last_updated_time,"
                " payload, _sdc_deleted_at) values (%s, %s, '0', now(), %s, {})"
            ).format(sql.Identifier(f"qb_{stream}"), sql.SQL("now()" if deleted else "null"))
            with conn.cursor() as cur:
                cur.executemany(statement, [(realm, o["Id"], json.dumps(o)) for o in objects])

    def execute(self, statement: str, rows: list[tuple[Any, ...]] | None = None) -> None:
        """Run one statement (for each of `rows` when given)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn, conn.cursor() as cur:
            if rows is None:
                cur.execute(statement)
            else:
                cur.executemany(statement, rows)

    def dbt(self, *args: str) -> subprocess.CompletedProcess[str]:
        params = conninfo.conninfo_to_dict(self.dsn)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "TARGET_POSTGRES_"))
        }
        env.update(
            {
                "DBT_POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
                "DBT_POSTGRES_PORT": str(params.get("port", "5432")),
                "DBT_POSTGRES_USER": str(params.get("user", "postgres")),
                "DBT_POSTGRES_PASSWORD": str(params.get("password", "")),
                "DBT_POSTGRES_DBNAME": str(params["dbname"]),
                "DBT_PROFILES_DIR": str(TRANSFORM / "profiles" / "postgres"),
                "DBT_PROJECT_DIR": str(TRANSFORM),
                "DBT_TARGET_PATH": str(self.workdir / "target"),
                "DBT_LOG_PATH": str(self.workdir / "logs"),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            }
        )
        return subprocess.run(
            [str(DBT), *args],
            cwd=TRANSFORM,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )

    def query(self, text: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, row_factory=dict_row) as conn:
            return list(conn.execute(text, params).fetchall())


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    require_dbt()
    admin = admin_dsn()
    name = f"qbo_transform_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo.conninfo_to_dict(admin)
    params["dbname"] = name
    try:
        yield Warehouse(conninfo.make_conninfo("", **params), tmp_path_factory.mktemp("dbt"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
