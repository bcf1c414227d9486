"""Fixtures: a real Postgres, throw-away schemas, and a runner for both targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import typing as t
import uuid
from dataclasses import dataclass

import psycopg
import pytest

if t.TYPE_CHECKING:
    from pathlib import Path

DSN = os.environ.get("QBO_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

STOCK = "from target_postgres.target import TargetPostgres as T; T.cli()"
FAST = "from target_postgres_fast.target import TargetPostgresFast as T; T.cli()"

# Values that depend on the wall clock of the run; only their nullness is compared.
TIME_DEPENDENT = {
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_sequence",
    "_sdc_sync_started_at",
}


def sqlalchemy_url(dsn: str) -> str:
    scheme, rest = dsn.split("://", 1)
    assert scheme in {"postgresql", "postgres"}, "QBO_TEST_PG_DSN must be postgresql://"
    return f"postgresql+psycopg://{rest}"


@dataclass
class Run:
    returncode: int
    states: list[t.Any]
    stderr: str
    started_ms: int
    ended_ms: int


@dataclass
class Harness:
    """Runs stock and fast target-postgres into their own schemas and compares."""

    prefix: str
    tmp_path: Path
    conn: psycopg.Connection[t.Any]

    def schema(self, label: str) -> str:
        return f"{self.prefix}_{label}"

    def run(
        self,
        which: str,
        messages: list[dict[str, t.Any]] | str,
        schema: str,
        **config: t.Any,
    ) -> Run:
        cfg = {
            "sqlalchemy_url": sqlalchemy_url(DSN),
            "default_target_schema": schema,
            **config,
        }
        config_path = self.tmp_path / f"{schema}.config.json"
        config_path.write_text(json.dumps(cfg))
        input_path = self.tmp_path / f"{schema}.input.jsonl"
        if isinstance(messages, str):
            input_path.write_text(messages)
        else:
            input_path.write_text("".join(json.dumps(m) + "\n" for m in messages))
        started = int(time.time() * 1000)
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                STOCK if which == "stock" else FAST,
                "--config",
                str(config_path),
                "--input",
                str(input_path),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        ended = int(time.time() * 1000) + 1
        states = [json.loads(line) for line in proc.stdout.splitlines() if line]
        return Run(proc.returncode, states, proc.stderr, started, ended)

    def run_both(
        self,
        messages: list[dict[str, t.Any]] | str,
        label: str,
        stock_config: dict[str, t.Any] | None = None,
        **config: t.Any,
    ) -> tuple[Run, Run, str, str]:
        stock_schema = self.schema(f"{label}_stock")
        fast_schema = self.schema(f"{label}_fast")
        stock = self.run(
            "stock", messages, stock_schema, **{**config, **(stock_config or {})}
        )
        fast = self.run("fast", messages, fast_schema, **config)
        return stock, fast, stock_schema, fast_schema

    # -- inspection -------------------------------------------------------------

    def tables(self, schema: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s ORDER BY table_name",
            (schema,),
        ).fetchall()
        return [r[0] for r in rows]

    def columns(self, schema: str, table: str) -> list[tuple[t.Any, ...]]:
        return self.conn.execute(
            "SELECT column_name, data_type, udt_name, is_nullable, "
            "character_maximum_length, numeric_precision, numeric_scale, "
            "datetime_precision, column_default "
            "FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        ).fetchall()

    def primary_key(self, schema: str, table: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu "
            "ON tc.constraint_name = kcu.constraint_name "
            "AND tc.table_schema = kcu.table_schema "
            "WHERE tc.table_schema = %s AND tc.table_name = %s "
            "AND tc.constraint_type = 'PRIMARY KEY' ORDER BY kcu.ordinal_position",
            (schema, table),
        ).fetchall()
        return [r[0] for r in rows]

    def rows(self, schema: str, table: str) -> list[tuple[t.Any, ...]]:
        """Every row as text, time-dependent values reduced to their nullness."""
        names = [c[0] for c in self.columns(schema, table)]
        select = ", ".join(
            f'("{n}" IS NULL)::text' if n in TIME_DEPENDENT else f'"{n}"::text'
            for n in names
        )
        rows = self.conn.execute(
            f'SELECT {select} FROM "{schema}"."{table}"'
        ).fetchall()
        return sorted(rows, key=lambda r: tuple("" if v is None else v for v in r))

    def values(self, schema: str, table: str, column: str) -> list[t.Any]:
        return [
            r[0]
            for r in self.conn.execute(
                f'SELECT "{column}" FROM "{schema}"."{table}"'
            ).fetchall()
        ]

    def assert_same(self, stock_schema: str, fast_schema: str) -> None:
        tables = self.tables(stock_schema)
        assert tables, "stock wrote no table"
        assert self.tables(fast_schema) == tables
        for table in tables:
            assert self.columns(fast_schema, table) == self.columns(stock_schema, table)
            assert self.primary_key(fast_schema, table) == self.primary_key(
                stock_schema, table
            )
            assert self.rows(fast_schema, table) == self.rows(stock_schema, table)


@pytest.fixture(scope="session")
def pg() -> t.Iterator[psycopg.Connection[t.Any]]:
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        yield conn


@pytest.fixture(scope="session")
def session_prefix(pg: psycopg.Connection[t.Any]) -> t.Iterator[str]:
    prefix = f"tpf_test_{uuid.uuid4().hex[:8]}"
    yield prefix
    schemas = pg.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
        (prefix + "%",),
    ).fetchall()
    for (schema,) in schemas:
        pg.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def harness(
    pg: psycopg.Connection[t.Any],
    session_prefix: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Harness:
    label = "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[
        :30
    ]
    return Harness(prefix=f"{session_prefix}_{label}", tmp_path=tmp_path, conn=pg)
