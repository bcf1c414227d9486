"""Date windows over MetaData.LastUpdatedTime as frozen dataclasses (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tap_quickbooks.query import Range


def floor_second(value: dt.datetime) -> dt.datetime:
    """Drop sub-second precision (QBO timestamps have whole seconds)."""
    return value.replace(microsecond=0)


def to_utc(value: dt.datetime) -> dt.datetime:
    """Convert an aware datetime to UTC; naive values are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


@dataclass(frozen=True)
class Window:
    """One `[start, end)` slice of the extraction range, UTC, whole seconds."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        """Check the invariants the query builder relies on."""
        for value in (self.start, self.end):
            if value.tzinfo is None or value.utcoffset() != dt.timedelta(0):
                msg = "window bounds must be UTC"
                raise ValueError(msg)
            if value.microsecond:
                msg = "window bounds must be whole seconds"
                raise ValueError(msg)
        if not self.start < self.end:
            msg = f"empty or reversed window {self.start.isoformat()} .. {self.end.isoformat()}"
            raise ValueError(msg)

    @property
    def range(self) -> Range:
        """The query range of this window."""
        return Range(self.start, self.end)

    def starting_at(self, start: dt.datetime) -> Window:
        """The rest of this window from `start` (used to restart after churn)."""
        return Window(max(self.start, floor_second(to_utc(start))), self.end)

    @property
    def label(self) -> str:
        """Human-readable `[start, end)` text for logs and error messages."""
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def plan_windows(start: dt.datetime, end: dt.datetime, window_days: int) -> list[Window]:
    """Cut `[start, end)` into consecutive windows of `window_days` (the last may be shorter).

    `start` is floored to the second (inclusive bound: taking more is safe) and so is
    `end` (exclusive bound: a row in the dropped fraction belongs to the next run).
    """
    if window_days < 1:
        msg = "window_days must be >= 1"
        raise ValueError(msg)
    lo = floor_second(to_utc(start))
    hi = floor_second(to_utc(end))
    step = dt.timedelta(days=window_days)
    windows: list[Window] = []
    while lo < hi:
        nxt = min(lo + step, hi)
        windows.append(Window(lo, nxt))
        lo = nxt
    return windows
