"""Record envelopes: UTC timestamps, NUL-free payloads, pre-encoded JSON (pure)."""

from __future__ import annotations

import datetime as dt
import functools
import typing as t

import msgspec
import orjson

NUL = "\x00"


class RawJSON:
    """A JSON value already encoded, spliced as it is into the RECORD line.

    The fetchers keep each payload as the row's bytes from the response (see
    :func:`split_page`; or, for pages that must be parsed, its orjson encoding) and drop
    everything else, so a page waiting for its turn holds bytes, not a tree of dicts.
    The writer copies the bytes into the line (`orjson.Fragment`); :meth:`value`
    decodes them for stream maps that need to look inside.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        """Wrap `raw`, the orjson encoding of one JSON value."""
        self.raw = raw

    @classmethod
    def encode(cls, value: t.Any) -> RawJSON:
        """Encode `value` (as parsed by orjson) once."""
        # orjson returns its output buffer with several KB of spare capacity; pages wait
        # in memory, so keep an exact-size copy instead (a memcpy, well under 1 us).
        return cls(b"".join((orjson.dumps(value), b"")))

    def value(self) -> t.Any:
        """The decoded JSON value."""
        return orjson.loads(self.raw)


def encode_default(value: t.Any) -> orjson.Fragment:
    """`default` hook of `orjson.dumps`: splice a :class:`RawJSON`; refuse anything else."""
    if isinstance(value, RawJSON):
        return orjson.Fragment(value.raw)
    msg = f"Type is not JSON serializable: {type(value).__name__}"
    raise TypeError(msg)


def strip_nul(value: t.Any) -> t.Any:
    """Remove NUL characters from every string (keys included) in a JSON value."""
    if isinstance(value, str):
        return value.replace(NUL, "") if NUL in value else value
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    return value


@functools.lru_cache(maxsize=4096)  # rows in a page often share one timestamp
def utc_iso(value: str) -> str:
    """An ISO-8601 timestamp with any offset, as UTC ISO-8601 with `+00:00`.

    A value without an offset is taken as UTC.
    """
    # QuickBooks' own shape, `2024-03-10T01:59:59-08:00` (whole seconds, whole-hour
    # offset): only the date and hour change, so convert them once per hour and offset.
    if len(value) == 25 and value[19] in "+-" and value[22:] == ":00" and value[16] == ":":
        return _utc_hour(value[:13], value[19:]) + value[13:19] + "+00:00"
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat()


@functools.lru_cache(maxsize=8192)
def _utc_hour(local_hour: str, offset: str) -> str:
    """`YYYY-MM-DDTHH` in UTC of the local hour `local_hour` at `offset` (`-08:00`)."""
    moment = dt.datetime.fromisoformat(f"{local_hour}:00:00{offset}")
    return moment.astimezone(dt.UTC).isoformat()[:13]


def last_updated(obj: dict[str, t.Any]) -> str | None:
    """`MetaData.LastUpdatedTime` of a QBO object, in UTC, or None."""
    meta = obj.get("MetaData")
    if isinstance(meta, dict):
        value = meta.get("LastUpdatedTime")
        if isinstance(value, str) and value:
            return utc_iso(value)
    return None


class _MetaData(msgspec.Struct, frozen=True):
    LastUpdatedTime: str | None = None


class RowHead(msgspec.Struct, frozen=True):
    """The fields of a QBO object that the record envelope needs (decoded without the rest)."""

    Id: str | None = None
    SyncToken: str | None = None
    MetaData: _MetaData | None = None

    def last_updated(self) -> str | None:
        """`MetaData.LastUpdatedTime` in UTC, or None (as :func:`last_updated`)."""
        value = self.MetaData.LastUpdatedTime if self.MetaData else None
        return utc_iso(value) if value else None


_ROW_HEAD = msgspec.json.Decoder(RowHead)


def spliced(raw: bytes) -> Spliced:
    """A row kept as its exact bytes (one JSON object on one line), with its head fields."""
    return Spliced(_ROW_HEAD.decode(raw), raw)


@functools.cache
def _rows_decoder(entity: str) -> msgspec.json.Decoder[t.Any]:
    """Decoder of a `QueryResponse` object of `entity`: each row left as its raw JSON bytes."""
    rows = msgspec.defstruct(
        f"{entity}Response",
        [("rows", list[msgspec.Raw], msgspec.field(default_factory=list))],
        rename={"rows": entity},
    )
    return msgspec.json.Decoder(rows)


class Spliced(t.NamedTuple):
    """A row of a `/batch` answer kept as its exact bytes (see :func:`split_batch`)."""

    head: RowHead
    raw: bytes


class _BatchItem(msgspec.Struct):
    bId: str = ""
    QueryResponse: msgspec.Raw = msgspec.Raw()  # empty: absent
    Fault: msgspec.Raw = msgspec.Raw()


class _Batch(msgspec.Struct):
    BatchItemResponse: list[_BatchItem] = msgspec.field(default_factory=list)


_BATCH = msgspec.json.Decoder(_Batch)


def split_batch(body: bytes, entities: t.Sequence[str | None]) -> list[dict[str, t.Any]] | None:
    """The `QueryResponse` of each item of a `/batch` answer, in `bId` order (0, 1, ...).

    For an item whose entity is given, the rows are :class:`Spliced` (their exact bytes, as
    :func:`split_page` keeps them); for the others (counts) the response is parsed. None when
    the body is not a plain answer (a fault, an item missing, unusual rows): parse it whole.
    """
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            return None
    try:
        batch = _BATCH.decode(body)
    except msgspec.DecodeError:
        return None
    by_id = {item.bId: item for item in batch.BatchItemResponse}
    answers: list[dict[str, t.Any]] = []
    for index, entity in enumerate(entities):
        item = by_id.get(str(index))
        if item is None or len(item.Fault) or not len(item.QueryResponse):
            return None
        raw = bytes(item.QueryResponse)
        if entity is None:
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return None
            if not isinstance(parsed, dict):
                return None
            answers.append(parsed)
            continue
        rows = _split_rows(raw, entity)
        if rows is None:
            return None
        answers.append({entity: [Spliced(head, data) for head, data in rows]})
    return answers


def _split_rows(raw: bytes, entity: str) -> list[tuple[RowHead, bytes]] | None:
    try:
        response = _rows_decoder(entity).decode(raw)
    except msgspec.DecodeError:
        return None
    rows: list[tuple[RowHead, bytes]] = []
    for item in response.rows:
        data = bytes(item)
        if b"\n" in data or b"\r" in data:
            return None
        try:
            rows.append((_ROW_HEAD.decode(data), data))
        except msgspec.DecodeError:
            return None
    return rows


@functools.cache
def _page_decoder(entity: str) -> msgspec.json.Decoder[t.Any]:
    """Decoder of a query page of `entity`: each row left as its raw JSON bytes."""
    rows = msgspec.defstruct(
        f"{entity}Rows",
        [("rows", list[msgspec.Raw], msgspec.field(default_factory=list))],
        rename={"rows": entity},
    )
    page = msgspec.defstruct(
        f"{entity}Page",
        [("QueryResponse", rows | None, None), ("Fault", msgspec.Raw | None, None)],
    )
    return msgspec.json.Decoder(page)


def split_page(body: bytes, entity: str) -> list[tuple[RowHead, bytes]] | None:
    """The rows of a query response body: `(head fields, the row's exact JSON bytes)`.

    The bytes are spliced into RECORD lines as they are, so numbers stay exactly as
    QuickBooks wrote them (`16.00`). None when the body is not a plain page of JSON
    objects on one line each (a fault, invalid JSON or UTF-8, a row that is not an
    object or has unusual field types, a line break between tokens): the caller then
    parses it as a whole.
    """
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            return None
    try:
        page = _page_decoder(entity).decode(body)
    except msgspec.DecodeError:
        return None
    if page.Fault is not None or page.QueryResponse is None:
        return None
    rows: list[tuple[RowHead, bytes]] = []
    for raw in page.QueryResponse.rows:
        data = bytes(raw)
        if b"\n" in data or b"\r" in data:
            return None
        try:
            rows.append((_ROW_HEAD.decode(data), data))
        except msgspec.DecodeError:
            return None
    return rows
