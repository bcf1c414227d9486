"""The token store in Postgres (`token_store_url`), for runs on more than one machine.

A file lock protects a rotating refresh token only among processes of one host. Here a
refresh holds a row lock (``SELECT ... FOR UPDATE``) from reading the token until the
rotated one is committed, so runs on any number of hosts spend each token once.

Tables (schema ``tap_quickbooks``, created on first use when missing; see the tap's
README, "Token store in Postgres", for the privileges to grant instead):

- ``tokens``: one row per app (sha256 of the client id) and company: the current refresh
  token, the hash of the configured token it derives from, when it was issued, when it
  expires, when it was last used.
- ``token_rotations``: one row per refresh, authorization or refusal: when, which company,
  what happened, which host and process. It holds no token values.

Needs psycopg 3: ``pip install 'tap-quickbooks[postgres]'``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import typing as t
from urllib.parse import urlsplit, urlunsplit

from tap_quickbooks.auth import sha256_hex
from tap_quickbooks.errors import AuthError, SettingError, TapQuickBooksError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import psycopg

    from tap_quickbooks.auth import Slot

SCHEMA = "tap_quickbooks"
CONNECT_TIMEOUT = 10
# Serializes the first-use creation of the tables between hosts (any fixed number).
_DDL_LOCK = 7_361_429_001
DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.tokens (
    app text NOT NULL,
    realm_id text NOT NULL,
    refresh_token text NOT NULL,
    seed_sha256 text,
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    PRIMARY KEY (app, realm_id)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.token_rotations (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    app text NOT NULL,
    realm_id text NOT NULL,
    event text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL
);
REVOKE ALL ON {SCHEMA}.tokens, {SCHEMA}.token_rotations FROM PUBLIC;
"""


class TokenStoreError(TapQuickBooksError):
    """The token store cannot be read or written."""


def redact(url: str) -> str:
    """The URL without its password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def validate_url(url: str) -> str:
    """A libpq URL (`postgresql://` or `postgres://`), else SettingError."""
    text = url.strip()
    if urlsplit(text).scheme not in {"postgresql", "postgres"}:
        raise SettingError(
            "token_store_url", "must be a postgresql:// URL, e.g. postgresql://qbo@db:5432/etl"
        )
    return text


def _problem(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__


class PostgresTokenStore:
    """Refresh tokens in the tables above; each method opens a short-lived connection."""

    def __init__(self, url: str) -> None:
        """Use the database at `url` (nothing is connected until a token is needed)."""
        self.url = validate_url(url)
        self._ready = False
        self._ready_lock = threading.Lock()

    def describe(self) -> str:
        """The URL without its password."""
        return redact(self.url)

    # ------------------------------------------------------------------ connection
    def _connect(self) -> psycopg.Connection[t.Any]:
        try:
            import psycopg
        except ImportError:
            raise SettingError(
                "token_store_url", "needs psycopg: pip install 'tap-quickbooks[postgres]'"
            ) from None
        try:
            conn = psycopg.connect(
                self.url, connect_timeout=CONNECT_TIMEOUT, application_name="tap-quickbooks"
            )
        except psycopg.Error as exc:
            msg = (
                f"token store {self.describe()} (setting token_store_url): cannot connect "
                f"({_problem(exc)})"
            )
            raise TokenStoreError(msg) from None
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: psycopg.Connection[t.Any]) -> None:
        """Create the tables once when missing (only then is CREATE needed)."""
        with self._ready_lock:
            if self._ready:
                return
            import psycopg

            try:
                with conn.transaction():
                    found = conn.execute(
                        "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
                        (f"{SCHEMA}.tokens", f"{SCHEMA}.token_rotations"),
                    ).fetchone()
                    if not (found and found[0]):
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                        conn.execute(DDL)
            except psycopg.Error as exc:
                msg = (
                    f"token store {self.describe()}: cannot create the tables {SCHEMA}.tokens "
                    f"and {SCHEMA}.token_rotations ({_problem(exc)}); create them as the "
                    "tap's README shows, or grant this role CREATE on the database"
                )
                raise TokenStoreError(msg) from None
            self._ready = True

    @contextlib.contextmanager
    def _session(self) -> Iterator[psycopg.Connection[t.Any]]:
        conn = self._connect()  # first: it names the missing extra when psycopg is absent
        import psycopg

        try:
            yield conn
        except psycopg.Error as exc:
            msg = f"token store {self.describe()} (setting token_store_url): {_problem(exc)}"
            raise TokenStoreError(msg) from None
        finally:
            conn.close()

    # ------------------------------------------------------------------ the Store protocol
    @contextlib.contextmanager
    def rotation(self, client_id: str, realm_id: str, configured: str) -> Iterator[Slot]:
        """Lock the company's row from reading the token until the rotated one is committed.

        A configured token that is not the seed of the stored one wins (the user connected
        the company again); without a row, the configured token seeds it.
        """
        app = sha256_hex(client_id)
        with self._session() as conn:
            with conn.cursor() as cur:
                if configured:
                    cur.execute(
                        f"INSERT INTO {SCHEMA}.tokens (app, realm_id, refresh_token, seed_sha256) "  # noqa: S608
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (app, realm_id) DO NOTHING",
                        (app, realm_id, configured, sha256_hex(configured)),
                    )
                cur.execute(
                    f"SELECT refresh_token, seed_sha256 FROM {SCHEMA}.tokens "  # noqa: S608
                    "WHERE app = %s AND realm_id = %s FOR UPDATE",
                    (app, realm_id),
                )
                row = cur.fetchone()
            token = ""
            if row is not None:
                stored, seed = row
                token = configured if configured and seed != sha256_hex(configured) else stored
            slot = _PgSlot(conn, app, realm_id, configured, token)
            try:
                yield slot
            except AuthError:
                conn.rollback()
                slot.log("refused")
                conn.commit()
                raise
            if not slot.saved:
                conn.rollback()

    def connect(
        self,
        client_id: str,
        realm_id: str,
        refresh_token: str,
        expires_in: float | None,
        configured: str = "",
    ) -> None:
        """Keep the refresh token of a newly authorized company."""
        app = sha256_hex(client_id)
        seed = sha256_hex(configured) if configured else None
        with self._session() as conn:
            conn.execute(
                f"INSERT INTO {SCHEMA}.tokens AS t "  # noqa: S608
                "(app, realm_id, refresh_token, seed_sha256, issued_at, expires_at) "
                "VALUES (%s, %s, %s, %s, now(), now() + make_interval(secs => %s)) "
                "ON CONFLICT (app, realm_id) DO UPDATE SET refresh_token = excluded.refresh_token,"
                " seed_sha256 = COALESCE(excluded.seed_sha256, t.seed_sha256),"
                " issued_at = now(), expires_at = excluded.expires_at",
                (app, realm_id, refresh_token, seed, expires_in),
            )
            _log(conn, app, realm_id, "authorized")
            conn.commit()

    def companies(self, client_id: str) -> list[str]:
        """The realm ids connected for this app."""
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT realm_id FROM {SCHEMA}.tokens WHERE app = %s ORDER BY realm_id",  # noqa: S608
                (sha256_hex(client_id),),
            ).fetchall()
            conn.rollback()
        return [str(r[0]) for r in rows]


def _log(conn: psycopg.Connection[t.Any], app: str, realm_id: str, event: str) -> None:
    conn.execute(
        f"INSERT INTO {SCHEMA}.token_rotations (app, realm_id, event, host, pid) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s)",
        (app, realm_id, event, socket.gethostname()[:255], os.getpid()),
    )


class _PgSlot:
    def __init__(
        self,
        conn: psycopg.Connection[t.Any],
        app: str,
        realm_id: str,
        configured: str,
        refresh_token: str,
    ) -> None:
        self._conn = conn
        self._app = app
        self._realm_id = realm_id
        self._configured = configured
        self.refresh_token = refresh_token
        self.saved = False

    def log(self, event: str) -> None:
        _log(self._conn, self._app, self._realm_id, event)

    def rotated(self, refresh_token: str, expires_in: float | None) -> None:
        """Save the token and commit (which releases the row lock)."""
        changed = refresh_token != self.refresh_token
        seed = sha256_hex(self._configured) if self._configured else None
        self._conn.execute(
            f"UPDATE {SCHEMA}.tokens SET refresh_token = %s,"  # noqa: S608
            " seed_sha256 = COALESCE(%s, seed_sha256),"
            " issued_at = CASE WHEN %s THEN now() ELSE issued_at END,"
            " expires_at = COALESCE(now() + make_interval(secs => %s), expires_at),"
            " last_used_at = now() WHERE app = %s AND realm_id = %s",
            (refresh_token, seed, changed, expires_in, self._app, self._realm_id),
        )
        self.log("rotated" if changed else "refreshed")
        self._conn.commit()
        self.refresh_token = refresh_token
        self.saved = True
