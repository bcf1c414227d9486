"""Record envelopes: UTC timestamps and NUL-free payloads (pure)."""

from __future__ import annotations

import datetime as dt
import functools
import typing as t

NUL = "\x00"


def strip_nul(value: t.Any) -> t.Any:
    """Remove NUL characters from every string (keys included) in a JSON value."""
    if isinstance(value, str):
        return value.replace(NUL, "") if NUL in value else value
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    return value


@functools.lru_cache(maxsize=65536)
def utc_iso(value: str) -> str:
    """An ISO-8601 timestamp with any offset, as UTC ISO-8601 with `+00:00`.

    A value without an offset is taken as UTC.
    """
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat()


def last_updated(obj: dict[str, t.Any]) -> str | None:
    """`MetaData.LastUpdatedTime` of a QBO object, in UTC, or None."""
    meta = obj.get("MetaData")
    if isinstance(meta, dict):
        value = meta.get("LastUpdatedTime")
        if isinstance(value, str) and value:
            return utc_iso(value)
    return None
