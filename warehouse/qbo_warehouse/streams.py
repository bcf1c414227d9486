"""The tap's streams as the project sees them: one list, read from the tap's `STREAM_TYPES`.

Every other list of streams in this repository (the summary's tables, reconcile, the demo, the
pipeline tests, the README's table) comes from here, so adding a stream to the tap adds it
everywhere. Each stream lands in `raw.qb_<name>`, keyed by the tap's key properties.
"""

from __future__ import annotations

import dataclasses
import typing as t

from tap_quickbooks.streams import STREAM_TYPES

NAME_LIST = "name_list"
TRANSACTION = "transaction"
SINGLETON = "singleton"
REPORT = "report"
KINDS = (NAME_LIST, TRANSACTION, SINGLETON, REPORT)
ENTITY_KINDS = (NAME_LIST, TRANSACTION, SINGLETON)
"""Kinds whose rows are QuickBooks objects keyed by (realm_id, id)."""

KIND_LABELS = {
    NAME_LIST: "name list",
    TRANSACTION: "transaction",
    SINGLETON: "singleton",
    REPORT: "report",
}


@dataclasses.dataclass(frozen=True)
class Stream:
    """One tap stream and the raw table it lands in."""

    name: str
    entity: str
    kind: str
    cdc: bool
    tombstones: bool
    include_inactive: bool
    key: tuple[str, ...]

    @property
    def table(self) -> str:
        """The table name (`qb_<stream>`, the alias meltano.yml's stream map gives it)."""
        return f"qb_{self.name}"

    @property
    def is_entity(self) -> bool:
        """Rows are QuickBooks objects with an `Id` and a `SyncToken`."""
        return self.kind in ENTITY_KINDS

    @property
    def deletes(self) -> str:
        """How a delete in QuickBooks reaches the table (one line, for docs and reports)."""
        if self.tombstones:
            return "tombstone: `_sdc_deleted_at` set (read from CDC)"
        if self.kind == NAME_LIST:
            return "deactivated, never deleted: `Active` false, row kept"
        if self.kind == SINGLETON:
            return "never deleted: one row per company, read again every run"
        if self.kind == REPORT:
            return "read again every run"
        return "row kept (CDC does not serve it): `reconcile --mark-deleted` marks it"


def _stream(cls: type[t.Any]) -> Stream:
    # The SDK declares `Stream.name` per instance (a property), hence getattr on the class.
    name = str(getattr(cls, "name"))  # noqa: B009
    kind = str(getattr(cls, "kind", TRANSACTION))
    if kind not in KINDS:
        msg = f"stream {name}: unknown kind {kind!r} (expected one of {', '.join(KINDS)})"
        raise ValueError(msg)
    return Stream(
        name=name,
        entity=str(getattr(cls, "entity", "")),
        kind=kind,
        cdc=bool(getattr(cls, "cdc", False)),
        tombstones=bool(getattr(cls, "tombstones", False)),
        include_inactive=bool(getattr(cls, "include_inactive", kind == NAME_LIST)),
        key=tuple(getattr(cls, "primary_keys", None) or ("realm_id", "id")),
    )


STREAMS: tuple[Stream, ...] = tuple(_stream(cls) for cls in STREAM_TYPES)
"""Every stream of the tap, in the tap's order."""

TABLES: tuple[str, ...] = tuple(s.table for s in STREAMS)
"""The raw tables, one per stream, in the tap's order."""


def by_name(name: str) -> Stream:
    """The stream called `name` (KeyError when the tap has none)."""
    for stream in STREAMS:
        if stream.name == name:
            return stream
    raise KeyError(name)


def by_table(table: str) -> Stream | None:
    """The stream whose raw table is `table` (None when none is)."""
    return next((s for s in STREAMS if s.table == table), None)


def markdown_table(streams: t.Sequence[Stream] = STREAMS) -> str:
    """The README's table of streams: table, QuickBooks entity, kind, key, deletes."""
    lines = [
        "| table | QuickBooks entity | kind | key | deletes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in streams:
        entity = f"`{s.entity}`" if s.entity else "-"
        key = ", ".join(s.key)
        lines.append(
            f"| `raw.{s.table}` | {entity} | {KIND_LABELS[s.kind]} | ({key}) | {s.deletes} |"
        )
    return "\n".join(lines)
