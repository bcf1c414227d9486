"""A throw-away database per test session on the server named by QBO_TEST_PG_DSN."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import conninfo, sql

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    admin = os.environ.get("QBO_TEST_PG_DSN", DEFAULT_DSN)
    name = f"qbo_wh_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo.conninfo_to_dict(admin)
    params["dbname"] = name
    try:
        yield conninfo.make_conninfo("", **params)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def conn(pg_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS raw CASCADE")
        connection.execute("DROP SCHEMA IF EXISTS analytics CASCADE")
        yield connection
