"""A faster PostgresSink that stores exactly what target-postgres 0.8.1 stores.

What stays stock: table creation and evolution (``prepare_table``), column types,
the temp-table-then-merge shape of every batch, the in-batch de-duplication rule
(the last record for a key wins), the ``_sdc_*`` metadata (added by the SDK before
a record reaches the sink), ``activate_version`` and STATE handling.

What changes:

* Each record is turned into its COPY row when it arrives, with the stock
  per-column bind processors, except that JSONB values are serialized by orjson
  (floats kept as their literal text) instead of simplejson; Postgres parses both
  into the same jsonb.
* Every batch is loaded with COPY (the stock ``use_copy: true`` path), whatever
  ``use_copy`` says.
* A batch of a keyed stream is first streamed straight into the table, when a unique
  index covers exactly the key columns: new keys are then all there is to merge, and
  the index proves it. A key that is already in the table, or twice in the batch,
  ends that attempt before anything is committed (so does a deadlock with another
  session writing the table); the batch is replayed into a staging table and
  merged, and the stream stays on staging for the rest of the run.
* The merge is one ``INSERT ... ON CONFLICT (keys) DO UPDATE`` when the table has a
  unique index on exactly the key columns (stock tables always have one: the
  primary key); otherwise the stock insert-then-update statements run unchanged.
* Unless the server or the connection chooses ``default_toast_compression``
  itself, a batch's values are compressed with lz4 instead of pglz where the server
  has lz4: the same values, about a third less Postgres CPU for the JSONB payloads.
* Timestamps bound for ``timestamp without time zone`` columns are converted to
  UTC first. COPY would otherwise drop the offset.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import functools
import itertools
import time
import typing as t
import uuid

import orjson
import psycopg
import sqlalchemy
from singer_sdk.helpers._compat import (
    date_fromisoformat,
    datetime_fromisoformat,
    time_fromisoformat,
)
from singer_sdk.helpers._typing import (
    get_datelike_property_type,
    handle_invalid_timestamp_in_record,
)
from sqlalchemy.dialects.postgresql import JSONB
from target_postgres.sinks import PostgresSink
from typing_extensions import override

from target_postgres_fast.encoding import (
    Fragment,
    dump_jsonb,
    json_default,
    to_stock_value,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
    from singer_sdk.target_base import Target
    from target_postgres.connector import PostgresConnector

__all__ = ["FastPostgresSink"]

_UTC = dt.UTC
_SEQ_COLUMN = "_tpf_seq"
MAX_OPEN_BATCHES = 8
"""Batches held open at once, across the streams of a run.

Each open batch holds a pooled connection in a running COPY until it is drained,
and the sinks share one SQLAlchemy pool (5 connections plus 10 overflow, which
``prepare_table`` and the merge need too). Opening a batch beyond this number
first drains the batch that was opened longest ago: a run of many streams then
loads each one in turn instead of timing out on the pool.
"""
_opened = itertools.count()

Converter = t.Callable[[t.Any], t.Any]


def _plain(value: t.Any) -> t.Any:
    """Give a non-JSON column the value the stock reader would have produced."""
    if isinstance(value, Fragment | dict | list):
        return to_stock_value(value)
    return value


# Values the stock reader and the lean reader build alike; bound unchanged.
_AS_IS = frozenset(
    {str, int, bool, type(None), decimal.Decimal, dt.datetime, dt.date, dt.time}
)


def _timestamp(value: t.Any) -> t.Any:
    """Bring an aware datetime to UTC for a ``timestamp without time zone`` column.

    COPY ignores the offset written after an aware value, so a UTC value can go
    as it is; any other offset is converted first.
    """
    if type(value) is dt.datetime:
        zone = value.tzinfo
        if zone is None or zone is _UTC:
            return value
        return value.astimezone(_UTC)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is None else value.astimezone(_UTC)
    return _plain(value)


def _with_processor(processor: Callable[[t.Any], t.Any]) -> Converter:
    def convert(value: t.Any) -> t.Any:
        return processor(_plain(value))

    return convert


# Why a straight-into-the-table batch gives way to staging and the merge (SQLSTATE).
_STAGE_ON = {
    "23505": "a key of the batch is already in the table",
    # Another session writing the same keys (a second job on the same tables) waited on
    # this batch's uncommitted rows while this batch waited on its rows.
    "40P01": "a deadlock with another session writing the table",
}


class _BatchAbandoned(Exception):
    """Ends a COPY whose batch is rolled back (sent to Postgres as CopyFail)."""


def _stage_reason(error: psycopg.Error) -> str | None:
    """Why `error` sends a straight batch to staging (None: it does not)."""
    return _STAGE_ON.get(error.sqlstate or "")


@dataclasses.dataclass
class _Stream:
    """An open batch: a transaction whose COPY is running.

    ``direct``: the COPY goes straight into the table, and ``kept`` holds each row
    (with its key) so the batch can be replayed into staging. Otherwise the COPY
    goes into the staging table ``temp_name``.
    """

    connection: sqlalchemy.engine.Connection
    transaction: sqlalchemy.engine.Transaction
    temp_name: str | None
    copy_context: t.Any
    copy: t.Any
    direct: bool = False
    copy_open: bool = True
    kept: list[tuple[tuple[t.Any, ...], list[t.Any]]] = dataclasses.field(
        default_factory=list
    )
    rows: int = 0
    opened: int = dataclasses.field(default_factory=lambda: next(_opened))


class FastPostgresSink(PostgresSink):
    """PostgresSink with a lean record path and a single-statement upsert."""

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict[str, t.Any],
        key_properties: Sequence[str] | None,
        connector: PostgresConnector | None = None,
    ) -> None:
        """Initialize the sink (see ``PostgresSink``)."""
        super().__init__(
            target=target,
            stream_name=stream_name,
            schema=schema,
            key_properties=key_properties,
            connector=connector,
        )
        self._fast_target = target
        self._stream: _Stream | None = None
        # Straight-into-the-table attempts stop after the first one that fails.
        self._direct_allowed = True
        self._column_sql: dict[str, str] = {}
        self._row_for_key: dict[tuple[t.Any, ...], int] = {}
        self._superseded: list[int] = []
        self._plan: list[tuple[str, Converter]] | None = None

    @property
    def accepts_fragments(self) -> bool:
        """Whether records may arrive from the lean reader (floats as fragments).

        Only when nothing between the reader and ``process_record`` looks at values:
        no record validation and no ``preprocess_record`` override.
        """
        return (
            self._validator is None
            and type(self).preprocess_record is PostgresSink.preprocess_record
        )

    @functools.cached_property
    def _datelike_properties(self) -> dict[str, str]:
        """Date-like properties of the (fixed) schema and their format."""
        return {
            name: kind
            for name, prop in self.schema["properties"].items()
            if (kind := get_datelike_property_type(prop))
        }

    @override
    def _parse_timestamps_in_record(
        self,
        record: dict[str, t.Any],
        schema: dict[str, t.Any],
        treatment: DatetimeErrorTreatmentEnum,
    ) -> None:
        """The stock parse, with the schema's date-like properties looked up once."""
        if schema is not self.schema:
            super()._parse_timestamps_in_record(record, schema, treatment)
            return
        datelike = self._datelike_properties
        properties = schema["properties"]
        for key, value in record.items():
            kind = datelike.get(key)
            if kind is None:
                if (
                    key not in properties
                    and value is not None
                    and not schema.get("additionalProperties", False)
                    and key not in self._warned_missing_fields
                ):
                    self.logger.warning("No schema for record field '%s'", key)
                    self._warned_missing_fields.add(key)
                continue
            if value is None:
                continue
            parsed: t.Any
            try:
                if kind == "time":
                    parsed = time_fromisoformat(value)
                elif kind == "date":
                    parsed = date_fromisoformat(value)
                else:
                    parsed = datetime_fromisoformat(value)
            except ValueError as ex:
                parsed = handle_invalid_timestamp_in_record(
                    record, [key], value, kind, ex, treatment, self.logger
                )
            record[key] = parsed

    @override
    def setup(self) -> None:
        """Create or adapt the table as stock does, then plan the row conversion.

        Another sink of the same table (the one this sink replaces after a schema
        change) may be streaming a batch straight into it; that batch moves to
        staging first, so the table can be altered without waiting on it.
        """
        for sink in self._table_neighbours():
            sink._stage("another sink now writes the table")
        super().setup()
        self._plan = self._build_plan()

    def _table_neighbours(self) -> list[FastPostgresSink]:
        """The target's other sinks (active or retired) writing this sink's table."""
        target = self._fast_target
        sinks = [*target._sinks_active.values(), *target._sinks_to_clear]
        return [
            sink
            for sink in sinks
            if sink is not self
            and isinstance(sink, FastPostgresSink)
            and sink.full_table_name == self.full_table_name
        ]

    @functools.cached_property
    def _compression(self) -> str | None:
        """The TOAST compression to set for a batch (None: the server's choice).

        lz4 when the server has it and neither the server configuration nor the
        connection chose a default; Postgres before 14 has no such setting.
        """
        with self.connector._connect() as connection:
            row = connection.exec_driver_sql(
                "SELECT source, enumvals FROM pg_settings "
                "WHERE name = 'default_toast_compression'"
            ).fetchone()
        if row is None or row[0] != "default" or "lz4" not in (row[1] or ()):
            return None
        return "lz4"

    def _live_column_types(self) -> dict[str, str]:
        """SQL types of the live table's columns (``format_type`` spelling)."""
        if not self.schema_name:
            return {}
        with self.connector._connect() as connection:
            result = connection.execute(
                sqlalchemy.text(
                    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) "
                    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :schema AND c.relname = :table "
                    "AND a.attnum > 0 AND NOT a.attisdropped"
                ),
                {"schema": self.schema_name, "table": self.table_name},
            )
            return {str(row[0]): str(row[1]) for row in result}

    def _build_plan(self) -> list[tuple[str, Converter]]:
        """One converter per schema column, mirroring the stock ``_do_copy``.

        Columns are grouped by converter (the COPY column list follows the plan),
        so the common kinds are converted without a call per value.
        """
        dialect = self.connector._engine.dialect
        live_types = self._live_column_types()
        serializer = self.connector.serialize_json
        plain: list[str] = []
        timestamps: list[str] = []
        jsons: list[str] = []
        others: list[tuple[str, Converter]] = []
        self._column_sql = {}
        for column in self.column_representation(self.schema):
            # The staging table takes the live column's type, as stock's does.
            self._column_sql[column.name] = live_types.get(
                column.name, str(column.type.compile(dialect=dialect))
            )
            processor = column.type.bind_processor(dialect)
            if isinstance(column.type, JSONB):
                jsons.append(column.name)
            elif processor is not None:
                others.append((column.name, _with_processor(processor)))
            elif live_types.get(column.name) == "timestamp without time zone":
                timestamps.append(column.name)
            else:
                plain.append(column.name)
        self._plain_columns = plain
        self._timestamp_columns = timestamps
        self._json_columns = jsons
        self._other_columns = others
        self._serializer = serializer

        def as_json(value: t.Any) -> str:
            return dump_jsonb(value, serializer)

        return (
            [(name, _plain) for name in plain]
            + [(name, _timestamp) for name in timestamps]
            + [(name, as_json) for name in jsons]
            + others
        )

    def _key_of(self, record: dict[str, t.Any]) -> tuple[t.Any, ...]:
        return tuple(_plain(record[key]) for key in self.key_properties)

    def _make_room(self) -> None:
        """Drain the oldest open batches of other streams (``MAX_OPEN_BATCHES``)."""
        target = self._fast_target
        open_sinks = sorted(
            (
                sink
                for sink in target._sinks_active.values()
                if isinstance(sink, FastPostgresSink)
                and sink is not self
                and sink._stream is not None
            ),
            key=lambda sink: sink._stream.opened if sink._stream else 0,
        )
        for sink in open_sinks[: max(0, len(open_sinks) - MAX_OPEN_BATCHES + 1)]:
            self.logger.info(
                "Draining the open batch of stream %s: more than %d batches open",
                sink.stream_name,
                MAX_OPEN_BATCHES,
            )
            target.drain_one(sink)

    def _open_stream(self) -> _Stream:
        """Start a transaction and a COPY, straight into the table if allowed."""
        assert self._plan is not None
        connection = self.connector._engine.connect()
        transaction = connection.begin()
        try:
            if self._compression:
                connection.exec_driver_sql(
                    f"SET LOCAL default_toast_compression = {self._compression}"
                )
            stream = self._open_direct(connection, transaction)
            if stream is None:
                stream = self._open_staged(connection, transaction)
        except BaseException:
            transaction.rollback()
            connection.close()
            raise
        return stream

    def _open_direct(
        self,
        connection: sqlalchemy.engine.Connection,
        transaction: sqlalchemy.engine.Transaction,
    ) -> _Stream | None:
        """A COPY straight into the table, when a conflict is sure to raise.

        Only for keyed streams whose table has a unique index on exactly the keys
        (a key already present then fails the COPY instead of adding a row), and
        only while no other sink writes the same table: this transaction holds the
        batch's uncommitted rows until the drain.
        """
        if not self._direct_allowed or self.append_only or self._table_neighbours():
            return None
        assert self._plan is not None
        table = self._prepare(connection)
        quote = connection.dialect.identifier_preparer.quote
        target = (
            f"{quote(table.schema)}.{quote(table.name)}"
            if table.schema
            else quote(table.name)
        )
        if not self._has_key_index(connection, target):
            self._direct_allowed = False
            return None
        columns = ", ".join(quote(name) for name, _ in self._plan)
        cursor = connection.connection.cursor()
        copy_context = cursor.copy(f"COPY {target} ({columns}) FROM STDIN")
        copy = copy_context.__enter__()
        return _Stream(connection, transaction, None, copy_context, copy, direct=True)

    def _open_staged(
        self,
        connection: sqlalchemy.engine.Connection,
        transaction: sqlalchemy.engine.Transaction,
    ) -> _Stream:
        """A COPY into a new staging table.

        The staging table is built from column types, not ``LIKE`` the target, so
        the open transaction holds no lock on the target table while the batch
        fills (another sink of the stream may alter it meanwhile).
        """
        assert self._plan is not None
        quote = connection.dialect.identifier_preparer.quote
        temp_name = f"tpf_{uuid.uuid4().hex}"
        definitions = ", ".join(
            [f"{quote(name)} {self._column_sql[name]}" for name, _ in self._plan]
            + [f"{quote(_SEQ_COLUMN)} bigint"]
        )
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {quote(temp_name)} ({definitions}) ON COMMIT DROP"
        )
        columns = ", ".join(
            [quote(name) for name, _ in self._plan] + [quote(_SEQ_COLUMN)]
        )
        cursor = connection.connection.cursor()
        copy_context = cursor.copy(f"COPY {quote(temp_name)} ({columns}) FROM STDIN")
        copy = copy_context.__enter__()
        return _Stream(connection, transaction, temp_name, copy_context, copy)

    def _stage(self, reason: str) -> None:
        """Move an open straight-into-the-table batch to staging.

        Its transaction is rolled back (nothing of it was committed) and its rows
        are replayed, in order, into a staging table. Later batches of this sink
        go to staging from the start.
        """
        self._direct_allowed = False
        stream = self._stream
        if stream is None or not stream.direct:
            return
        self._stream, self._row_for_key, self._superseded = None, {}, []
        self._abandon(stream)
        self.logger.info(
            "Staging the open batch of %d rows instead of loading it straight "
            "into the table: %s",
            len(stream.kept),
            reason,
        )
        for key, row in stream.kept:
            self._write(key, row)

    def _prepare(self, connection: sqlalchemy.engine.Connection) -> sqlalchemy.Table:
        """Create or adapt the table as stock does, in the given transaction."""
        table: sqlalchemy.Table = self.connector.prepare_table(
            full_table_name=self.full_table_name,
            schema=self.schema,
            primary_keys=self.key_properties,
            as_temp_table=False,
            connection=connection,
        )
        return table

    @classmethod
    def _commit(cls, stream: _Stream) -> None:
        """Commit a batch and give its connection back (rolled back if that fails)."""
        try:
            stream.transaction.commit()
        except BaseException:
            cls._abandon(stream)
            raise
        stream.connection.close()

    @staticmethod
    def _abandon(stream: _Stream) -> None:
        """Roll back an open batch and give its connection back.

        A COPY still running is ended first (a rollback would wait for its end).
        """
        try:
            if stream.copy_open:
                stream.copy_open = False
                with contextlib.suppress(psycopg.Error):
                    stream.copy_context.__exit__(
                        _BatchAbandoned, _BatchAbandoned("batch abandoned"), None
                    )
            stream.transaction.rollback()
        finally:
            stream.connection.close()

    @override
    def process_record(
        self, record: dict[str, t.Any], context: dict[str, t.Any]
    ) -> None:
        """Convert the record to its COPY row and stream it to Postgres now."""
        if self._plan is None:
            self._plan = self._build_plan()
        get: t.Callable[[str], t.Any] = record.get
        if self.connector.sanitize_null_text_characters:
            sanitize = self.sanitize_null_text_characters

            def get(name: str) -> t.Any:
                return sanitize(record.get(name))

        row = [
            value if type(value) in _AS_IS else _plain(value)
            for value in map(get, self._plain_columns)
        ]
        row += [_timestamp(get(name)) for name in self._timestamp_columns]
        serializer = self._serializer
        for name in self._json_columns:
            value = get(name)
            try:
                row.append(orjson.dumps(value, default=json_default).decode())
            except (orjson.JSONEncodeError, TypeError):
                row.append(dump_jsonb(value, serializer))
        row += [convert(get(name)) for name, convert in self._other_columns]
        self._write(() if self.append_only else self._key_of(record), row)

    def _write(self, key: tuple[t.Any, ...], row: list[t.Any]) -> None:
        """Send one converted row to the open batch (opened here if needed)."""
        stream = self._stream
        if stream is None:
            self._make_room()
            stream = self._stream = self._open_stream()
        if stream.direct:
            if key in self._row_for_key:
                self._stage("a key appears twice in the batch")
                self._write(key, row)
                return
            self._row_for_key[key] = stream.rows
            stream.rows += 1
            stream.kept.append((key, row))
            try:
                stream.copy.write_row(row)
            except psycopg.Error as ex:
                reason = _stage_reason(ex)
                if reason is None:
                    raise
                self._stage(reason)
            return
        sequence = stream.rows
        stream.rows += 1
        stream.copy.write_row([*row, sequence])
        if not self.append_only:
            # Stock keeps the last record per key tuple of the batch.
            previous = self._row_for_key.get(key)
            if previous is not None:
                self._superseded.append(previous)
            self._row_for_key[key] = sequence

    @override
    def process_batch(self, context: dict[str, t.Any]) -> None:
        """Finish the COPY, then prepare the table and merge, in one transaction."""
        for record in context.get("records", ()):
            # BATCH-message files arrive as plain records.
            self.process_record(record, context)
        if (
            self._stream is not None
            and self._stream.direct
            and self._finish_direct(self._stream)
        ):
            return
        stream, superseded = self._stream, self._superseded
        self._stream, self._row_for_key, self._superseded = None, {}, []
        if stream is None:
            with self.connector._connect() as connection, connection.begin():
                self._prepare(connection)
            return
        try:
            started = time.perf_counter()
            stream.copy_open = False
            stream.copy_context.__exit__(None, None, None)
            copied = time.perf_counter()
            self._merge(stream, self._prepare(stream.connection), superseded)
        except BaseException:
            self._abandon(stream)
            raise
        self._commit(stream)
        self.logger.info(
            "Loaded %d rows (%d superseded in the batch): COPY end %.2fs, merge %.2fs",
            stream.rows,
            len(superseded),
            copied - started,
            time.perf_counter() - copied,
        )

    def _finish_direct(self, stream: _Stream) -> bool:
        """End a straight-into-the-table COPY and commit it.

        Returns False when a key of the batch turned out to be in the table already
        (or the COPY lost a deadlock): the batch is then staged (``_stage``) for the
        merge.
        """
        started = time.perf_counter()
        try:
            stream.copy_open = False
            stream.copy_context.__exit__(None, None, None)
        except psycopg.Error as ex:
            reason = _stage_reason(ex)
            if reason is None:
                self._stream, self._row_for_key = None, {}
                self._abandon(stream)
                raise
            self._stage(reason)
            return False
        self._stream, self._row_for_key = None, {}
        self._commit(stream)
        self.logger.info(
            "Loaded %d rows straight into the table (all keys new): COPY end %.2fs",
            stream.rows,
            time.perf_counter() - started,
        )
        return True

    @override
    def clean_up(self) -> None:
        """Abandon a batch that was never drained, then clean up as stock does."""
        stream, self._stream = self._stream, None
        if stream is not None:
            self._abandon(stream)
        super().clean_up()

    def _merge(
        self, stream: _Stream, table: sqlalchemy.Table, superseded: list[int]
    ) -> None:
        assert stream.temp_name is not None
        connection = stream.connection
        quote = connection.dialect.identifier_preparer.quote
        temp = quote(stream.temp_name)
        target = (
            f"{quote(table.schema)}.{quote(table.name)}"
            if table.schema
            else quote(table.name)
        )
        if superseded:
            connection.exec_driver_sql(
                f"DELETE FROM {temp} WHERE {quote(_SEQ_COLUMN)} = ANY(%(seqs)s)",
                {"seqs": superseded},
            )
        if not self.append_only and self._has_key_index(connection, target):
            self._merge_on_conflict(connection, target, temp)
        else:
            self._merge_stock(connection, table, stream.temp_name)
        connection.exec_driver_sql(f"DROP TABLE {temp}")

    def _has_key_index(
        self, connection: sqlalchemy.engine.Connection, target: str
    ) -> bool:
        """Whether a plain unique index covers exactly the key columns."""
        result = connection.exec_driver_sql(
            "SELECT ARRAY(SELECT a.attname::text FROM unnest(i.indkey) AS k(attnum) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) "
            "FROM pg_index i WHERE i.indrelid = %(target)s::regclass "
            "AND i.indisunique AND i.indimmediate AND i.indisvalid "
            "AND i.indpred IS NULL AND i.indexprs IS NULL",
            {"target": target},
        )
        keys = sorted(self.key_properties)
        return any(sorted(row[0]) == keys for row in result)

    def _merge_on_conflict(
        self,
        connection: sqlalchemy.engine.Connection,
        target: str,
        temp: str,
    ) -> None:
        """Same end state as the stock insert-missing-then-update-all merge.

        Columns outside the schema are left out of the insert, so they take the
        target's default, which is what stock's staging table (a copy of the target
        columns with their defaults) hands them.
        """
        assert self._plan is not None
        quote = connection.dialect.identifier_preparer.quote
        columns = ", ".join(quote(name) for name, _ in self._plan)
        keys = ", ".join(quote(key) for key in self.key_properties)
        updates = ", ".join(
            f"{quote(name)} = EXCLUDED.{quote(name)}"
            for name in self.schema["properties"]
        )
        connection.exec_driver_sql(
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {temp} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
        )

    def _merge_stock(
        self,
        connection: sqlalchemy.engine.Connection,
        table: sqlalchemy.Table,
        temp_name: str,
    ) -> None:
        """Run 0.8.1's own merge (append, or insert-then-update) from the temp table."""
        assert self._plan is not None
        temp_table = sqlalchemy.Table(
            temp_name,
            sqlalchemy.MetaData(),
            *[
                sqlalchemy.Column(column.name, column.type)
                for column in table.columns
                if column.name in self._column_sql
            ],
        )
        self.upsert(
            from_table=temp_table,
            to_table=table,
            schema=self.schema,
            join_keys=self.key_properties,
            connection=connection,
        )
