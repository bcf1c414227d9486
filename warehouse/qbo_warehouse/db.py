"""Connection helpers shared by the commands."""

from __future__ import annotations

import os
import re

import psycopg

_DRIVER = re.compile(r"^(postgres(?:ql)?)\+[a-z0-9_]+://")


class DsnError(ValueError):
    """No usable connection string was given."""


def libpq_dsn(dsn: str | None) -> str:
    """Return a libpq connection string from a DSN or SQLAlchemy URL (``+driver`` removed)."""
    value = dsn if dsn is not None else os.environ.get("PG_DSN", "")
    value = value.strip()
    if not value:
        msg = "dsn: no Postgres connection given (pass --dsn or set PG_DSN)"
        raise DsnError(msg)
    return _DRIVER.sub(r"\1://", value)


def connect(dsn: str | None) -> psycopg.Connection[tuple[object, ...]]:
    """Open an autocommit connection for read-only checks."""
    try:
        return psycopg.connect(libpq_dsn(dsn), autocommit=True, connect_timeout=10)
    except psycopg.ProgrammingError:  # unparsable; psycopg's message repeats it, password too
        msg = (
            "dsn: not a Postgres connection string "
            "(postgresql://user@host:port/db, or host=... dbname=...)"
        )
        raise DsnError(msg) from None
