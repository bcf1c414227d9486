"""Time handling: QBO renders instants in US Pacific time with an explicit offset."""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")

#: 2022-01-01T00:00:00-08:00 and 2026-01-01T00:00:00-08:00: seeded timestamps lie in between.
SEED_START = 1641024000
SEED_END = 1767254400

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


def _offset_at(epoch: int) -> int:
    delta = datetime.fromtimestamp(epoch, PACIFIC).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


_TABLE_LO = 946684800  # 2000-01-01
_TABLE_HI = 2871763200  # 2061-01-01


def _transitions() -> tuple[list[int], list[int]]:
    """UTC epochs where the Pacific offset changes (1970-2100) and the offset from each."""
    starts: list[int] = [_TABLE_LO]
    offsets: list[int] = [_offset_at(_TABLE_LO)]
    day = 86400
    for lo in range(_TABLE_LO, _TABLE_HI, day):
        hi = lo + day
        if _offset_at(hi) != offsets[-1]:
            a, b = lo, hi  # offset(a) == previous, offset(b) == new
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_at(mid) == offsets[-1]:
                    a = mid
                else:
                    b = mid
            starts.append(b)
            offsets.append(_offset_at(b))
    return starts, offsets


_STARTS, _OFFSETS = _transitions()


def pacific_offset(epoch: float) -> int:
    """Seconds east of UTC for US Pacific time at that instant (PST -28800, PDT -25200)."""
    if not _TABLE_LO <= epoch < _TABLE_HI - 86400:
        return _offset_at(int(epoch))
    return _OFFSETS[bisect_right(_STARTS, epoch) - 1]


def pacific_seconds(epoch: int) -> str:
    """`2015-10-01T16:48:43-07:00`: seconds precision, Pacific offset (PST or PDT)."""
    off = pacific_offset(epoch)
    t = time.gmtime(epoch + off)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
        f"{t.tm_sec:02d}-0{-off // 3600}:00"
    )


def pacific_millis(epoch: float) -> str:
    """`2020-09-29T06:51:37.512-07:00`: the `time` member of response bodies."""
    return datetime.fromtimestamp(epoch, PACIFIC).isoformat(timespec="milliseconds")


def pacific_date(epoch: int) -> str:
    t = time.gmtime(epoch + pacific_offset(epoch))
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"


def parse_instant(text: str) -> float | None:
    """Parse a query or CDC datetime literal to epoch seconds; no offset means Pacific.

    Accepts `2011-08-10T10:20:30-0700`, `…-07:00`, `…Z`, `…+00:00`, fractional seconds,
    no zone at all, and a bare date (midnight Pacific). Returns None when it is no datetime.
    """
    m = _DATETIME_RE.match(text.strip())
    if m is None:
        return None
    year, month, day, hh, mm, ss, frac, zone = m.groups()
    try:
        naive = datetime(int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0))
    except ValueError:
        return None
    micro = int((frac or "0").ljust(6, "0")[:6])
    if zone is None:
        aware = naive.replace(tzinfo=PACIFIC)
    elif zone.upper() == "Z":
        aware = naive.replace(tzinfo=UTC)
    else:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if zone[0] == "-":
            offset = -offset
        aware = naive.replace(tzinfo=UTC) - offset
    return aware.timestamp() + micro / 1e6


def parse_date(text: str) -> str | None:
    """A `YYYY-MM-DD` literal (TxnDate, DueDate) normalised, or None."""
    try:
        return date.fromisoformat(text.strip()[:10]).isoformat()
    except ValueError:
        return None


class Clock:
    """The emulator clock: wall clock plus an offset that tests can advance."""

    def __init__(self, start: float | None = None) -> None:
        self.offset = 0.0 if start is None else start - time.time()

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
