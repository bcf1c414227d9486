"""The record envelope: every stream's schema, and the one place records are built (pure).

Every QuickBooks object reaches its table the same way, keyed by `(realm_id, id)`: a
few columns copied out of the object, the whole object in `payload`, and where it came
from. Rows of a query page, of a `/cdc` answer and of a `/batch` answer, and tombstones
of deleted objects, are all built by :func:`envelopes`.
"""

from __future__ import annotations

import datetime as dt
import typing as t
import zlib
from dataclasses import dataclass

from singer_sdk import typing as th

from tap_quickbooks import records

ENVELOPE_SCHEMA = th.PropertiesList(
    th.Property("realm_id", th.StringType, required=True, description="QuickBooks company id"),
    th.Property("id", th.StringType, required=True, description="QBO `Id`"),
    th.Property("sync_token", th.StringType, description="QBO `SyncToken` (null on tombstones)"),
    th.Property(
        "last_updated_time",
        th.DateTimeType,
        required=True,
        description="`MetaData.LastUpdatedTime` in UTC (the replication key)",
    ),
    th.Property("payload", th.ObjectType(), description="The whole QBO object as returned"),
    th.Property("ingested_at_utc", th.DateTimeType),
    th.Property("extract_window_start_utc", th.DateTimeType),
    th.Property("extract_window_end_utc", th.DateTimeType),
    th.Property("page_number", th.IntegerType),
    th.Property("page_size", th.IntegerType),
    th.Property("request_payload", th.ObjectType(), description="Query text and paging; no token"),
    th.Property("_sdc_deleted_at", th.DateTimeType, description="Set on CDC tombstones only"),
).to_dict()

# One row of an answer: `(Id, SyncToken, LastUpdatedTime in UTC, the object)`.
Row = tuple[t.Any, t.Any, str | None, t.Any]


@dataclass(frozen=True)
class Source:
    """Where a group of rows came from (the same for every row of one answer)."""

    realm_id: str
    window_start: str | None
    window_end: str | None
    request_payload: dict[str, t.Any]
    page_number: int | None = None
    page_size: int | None = None
    deleted: bool = False  # the rows are tombstones: `_sdc_deleted_at` = their time


def envelopes(
    rows: t.Iterable[Row], source: Source, ingested: str | None = None
) -> list[dict[str, t.Any]]:
    """The records of `rows` (the only place a record is built), received at `ingested`."""
    ingested = ingested or dt.datetime.now(dt.UTC).isoformat()
    realm = source.realm_id
    start = source.window_start
    end = source.window_end if source.window_end is not None else ingested
    number = source.page_number
    size = source.page_size
    request = source.request_payload
    if source.deleted:
        return [
            {
                "realm_id": realm,
                "id": row_id,
                "sync_token": None,
                "last_updated_time": last_updated or ingested,
                "payload": payload,
                "ingested_at_utc": ingested,
                "extract_window_start_utc": start,
                "extract_window_end_utc": end,
                "page_number": number,
                "page_size": size,
                "request_payload": request,
                "_sdc_deleted_at": last_updated or ingested,
            }
            for row_id, _, last_updated, payload in rows
        ]
    return [
        {
            "realm_id": realm,
            "id": row_id,
            "sync_token": sync_token,
            "last_updated_time": last_updated,
            "payload": payload,
            "ingested_at_utc": ingested,
            "extract_window_start_utc": start,
            "extract_window_end_utc": end,
            "page_number": number,
            "page_size": size,
            "request_payload": request,
            "_sdc_deleted_at": None,
        }
        for row_id, sync_token, last_updated, payload in rows
    ]


class Held:
    """The records of one answer, kept until their stream's turn.

    Rows kept as their exact bytes (:class:`records.Spliced`, one line each) wait
    compressed, and their records are built when they are taken: the small streams a plan
    reads ahead for many companies at once then hold about a tenth of the memory. Parsed
    objects wait as records.
    """

    __slots__ = ("_packed", "_records", "count", "received", "source")

    def __init__(self, objects: t.Sequence[t.Any], source: Source) -> None:
        """Keep `objects` (parsed or spliced) of an answer from `source`."""
        self.source = source
        self.received = dt.datetime.now(dt.UTC).isoformat()  # the records' ingested_at_utc
        self._records: list[dict[str, t.Any]] | None = None
        self._packed = b""
        if all(isinstance(obj, records.Spliced) for obj in objects):
            self._packed = zlib.compress(b"\n".join(obj.raw for obj in objects), 1)
            self.count = sum(1 for obj in objects if obj.head.Id is not None)
        else:
            self._records = envelopes(object_rows(objects), source, self.received)
            self.count = len(self._records)

    def records(self) -> list[dict[str, t.Any]]:
        """The records (built now for rows kept compressed)."""
        if self._records is not None:
            return self._records
        if not self.count:
            return []
        lines = zlib.decompress(self._packed).split(b"\n")
        rows = object_rows(records.spliced(line) for line in lines)
        return envelopes(rows, self.source, self.received)


def object_rows(objects: t.Iterable[t.Any]) -> list[Row]:
    """Rows of QBO objects, parsed or :class:`records.Spliced`.

    A parsed object's payload is encoded once (NULs already stripped); a spliced row's
    payload is its bytes as received.
    """
    rows: list[Row] = []
    for obj in objects:
        if isinstance(obj, records.Spliced):
            head = obj.head
            if head.Id is not None:
                rows.append(
                    (head.Id, head.SyncToken, head.last_updated(), records.RawJSON(obj.raw))
                )
        elif isinstance(obj, dict) and obj.get("Id") is not None:
            rows.append(
                (
                    str(obj["Id"]),
                    obj.get("SyncToken"),
                    records.last_updated(obj),
                    records.RawJSON.encode(obj),
                )
            )
    return rows


def is_tombstone(obj: dict[str, t.Any]) -> bool:
    """A `/cdc` object that stands for a deleted one (`status: "Deleted"`)."""
    return obj.get("status") == "Deleted"
