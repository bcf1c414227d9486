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
* The merge is one ``INSERT ... ON CONFLICT (keys) DO UPDATE`` when the table has a
  unique index on exactly the key columns (stock tables always have one: the
  primary key); otherwise the stock insert-then-update statements run unchanged.
* Timestamps bound for ``timestamp without time zone`` columns are converted to
  UTC first. COPY would otherwise drop the offset.
"""

from __future__ import annotations

import datetime as dt
import typing as t
import uuid

import sqlalchemy
from sqlalchemy.dialects.postgresql import JSONB
from target_postgres.sinks import PostgresSink

from target_postgres_fast.encoding import Fragment, dump_jsonb, to_stock_value

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from singer_sdk.target_base import Target
    from target_postgres.connector import PostgresConnector

__all__ = ["FastPostgresSink"]

_UTC = dt.timezone.utc
_SEQ_COLUMN = "_tpf_seq"

Converter = t.Callable[[t.Any], t.Any]


def _plain(value: t.Any) -> t.Any:
    """Give a non-JSON column the value the stock reader would have produced."""
    if isinstance(value, Fragment | dict | list):
        return to_stock_value(value)
    return value


def _timestamp(value: t.Any) -> t.Any:
    """Normalise an aware datetime to naive UTC for a timestamp column."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(_UTC).replace(tzinfo=None)
    return _plain(value)


def _with_processor(processor: Callable[[t.Any], t.Any]) -> Converter:
    def convert(value: t.Any) -> t.Any:
        return processor(_plain(value))

    return convert


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
        self._rows: list[list[t.Any]] = []
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

    def setup(self) -> None:
        """Create or adapt the table as stock does, then plan the row conversion."""
        super().setup()
        self._plan = self._build_plan()

    def _timestamp_columns(self) -> set[str]:
        """Columns of the live table typed ``timestamp without time zone``."""
        if not self.schema_name:
            return set()
        with self.connector._connect() as connection:
            result = connection.execute(
                sqlalchemy.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = :schema AND table_name = :table "
                    "AND data_type = 'timestamp without time zone'"
                ),
                {"schema": self.schema_name, "table": self.table_name},
            )
            return {row[0] for row in result}

    def _build_plan(self) -> list[tuple[str, Converter]]:
        """One converter per schema column, mirroring the stock ``_do_copy``."""
        dialect = self.connector._engine.dialect
        timestamp_columns = self._timestamp_columns()
        serializer = self.connector.serialize_json
        plan: list[tuple[str, Converter]] = []
        for column in self.column_representation(self.schema):
            processor = column.type.bind_processor(dialect)
            converter: Converter
            if isinstance(column.type, JSONB):

                def converter(value: t.Any) -> str:
                    return dump_jsonb(value, serializer)

            elif processor is not None:
                converter = _with_processor(processor)
            elif column.name in timestamp_columns:
                converter = _timestamp
            else:
                converter = _plain
            plan.append((column.name, converter))
        return plan

    def _key_of(self, record: dict[str, t.Any]) -> tuple[t.Any, ...]:
        return tuple(_plain(record[key]) for key in self.key_properties)

    def process_record(self, record: dict[str, t.Any], context: dict) -> None:
        """Convert the record to its COPY row now; keep the last row per key."""
        if self._plan is None:
            self._plan = self._build_plan()
        sanitize = self.connector.sanitize_null_text_characters
        row: list[t.Any] = []
        append = row.append
        for name, convert in self._plan:
            value = record.get(name)
            if sanitize:
                value = self.sanitize_null_text_characters(value)
            append(convert(value))
        sequence = len(self._rows)
        append(sequence)
        self._rows.append(row)
        if not self.append_only:
            key = self._key_of(record)
            previous = self._row_for_key.get(key)
            if previous is not None:
                self._superseded.append(previous)
            self._row_for_key[key] = sequence

    def process_batch(self, context: dict) -> None:
        """Load the batch: COPY into a temp table, then merge in one transaction."""
        for record in context.get("records", ()):
            # BATCH-message files arrive as plain records.
            self.process_record(record, context)
        rows, superseded = self._rows, self._superseded
        self._rows, self._row_for_key, self._superseded = [], {}, []
        with self.connector._connect() as connection, connection.begin():
            table = self.connector.prepare_table(
                full_table_name=self.full_table_name,
                schema=self.schema,
                primary_keys=self.key_properties,
                as_temp_table=False,
                connection=connection,
            )
            if rows:
                self._load(connection, table, rows, superseded)

    def _load(
        self,
        connection: sqlalchemy.engine.Connection,
        table: sqlalchemy.Table,
        rows: list[list[t.Any]],
        superseded: list[int],
    ) -> None:
        assert self._plan is not None
        quote = connection.dialect.identifier_preparer.quote
        target = (
            f"{quote(table.schema)}.{quote(table.name)}"
            if table.schema
            else quote(table.name)
        )
        temp_name = f"tpf_{uuid.uuid4().hex}"
        temp = quote(temp_name)
        copy_columns = ", ".join(
            [quote(name) for name, _ in self._plan] + [quote(_SEQ_COLUMN)]
        )
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {temp} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        connection.exec_driver_sql(
            f"ALTER TABLE {temp} ADD COLUMN {quote(_SEQ_COLUMN)} bigint"
        )
        cursor = connection.connection.cursor()
        with cursor.copy(f"COPY {temp} ({copy_columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            write_row = copy.write_row
            for row in rows:
                write_row(row)
        if superseded:
            connection.exec_driver_sql(
                f"DELETE FROM {temp} WHERE {quote(_SEQ_COLUMN)} = ANY(%(seqs)s)",
                {"seqs": superseded},
            )
        if not self.append_only and self._has_key_index(connection, target):
            self._merge_on_conflict(connection, table, target, temp)
        else:
            self._merge_stock(connection, table, temp_name)
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
        table: sqlalchemy.Table,
        target: str,
        temp: str,
    ) -> None:
        """Same end state as the stock insert-missing-then-update-all merge."""
        quote = connection.dialect.identifier_preparer.quote
        columns = ", ".join(quote(column.name) for column in table.columns)
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
        temp_table = sqlalchemy.Table(
            temp_name,
            sqlalchemy.MetaData(),
            *[sqlalchemy.Column(column.name, column.type) for column in table.columns],
        )
        self.upsert(
            from_table=temp_table,
            to_table=table,
            schema=self.schema,
            join_keys=self.key_properties,
            connection=connection,
        )
