"""Record envelopes: UTC timestamps, NUL-free payloads, pre-encoded JSON (pure)."""

from __future__ import annotations

import datetime as dt
import functools
import typing as t

import orjson

NUL = "\x00"


class RawJSON:
    """A JSON value already encoded by orjson, spliced as it is into the RECORD line.

    The fetchers encode each payload as soon as its page is parsed and drop the parsed
    objects, so a page waiting for its turn holds bytes, not a tree of dicts. The
    writer copies the bytes into the line (`orjson.Fragment`); :meth:`value` decodes
    them again for stream maps that need to look inside.
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
