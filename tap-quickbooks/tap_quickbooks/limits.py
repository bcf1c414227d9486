"""Waiting: the one sleep function, back-off delays and the per-realm request budget.

Every wait in the tap goes through :func:`sleep`, so tests patch this one function
(``monkeypatch.setattr(tap_quickbooks.limits, "sleep", fake)``) and never wait for real.
Tests that run the tap as a subprocess (e.g. under ``meltano run``) cannot patch it: they
set the environment variable ``TAP_QUICKBOOKS_MAX_SLEEP_SECONDS`` (``0``: never wait), which
caps every wait. It is not a setting on purpose: against Intuit a 429 asks for 60 s.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

THROTTLE_WAIT_SECONDS = 60.0  # Intuit: "wait 60 seconds before retrying" after a 429
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
MAX_SLEEP_ENV = "TAP_QUICKBOOKS_MAX_SLEEP_SECONDS"  # caps every wait (subprocess tests)


def sleep(seconds: float) -> None:
    """Block for `seconds` (the single patch point for tests), capped by `MAX_SLEEP_ENV`."""
    cap = os.environ.get(MAX_SLEEP_ENV)
    if cap:
        with contextlib.suppress(ValueError):
            seconds = min(seconds, max(0.0, float(cap)))
    if seconds > 0:
        time.sleep(seconds)


def backoff_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Exponential back-off with full jitter for retry number `attempt` (1-based)."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def throttle_delay(retry_after: str | None) -> float:
    """Seconds to wait after a 429: `Retry-After` (seconds) when present, else 60."""
    if retry_after:
        try:
            value = float(retry_after.strip())
        except ValueError:
            return THROTTLE_WAIT_SECONDS
        if 0 <= value <= 3600:
            return value
    return THROTTLE_WAIT_SECONDS


class RateLimiter:
    """At most `per_minute` request starts in any 60-second span (thread-safe).

    One instance is shared by every stream of a realm, mirroring Intuit's
    500 requests / minute / realm limit with a margin. Each caller reserves the
    earliest free slot under a lock and then waits outside it, so callers never spin.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] | None = None) -> None:
        """Allow `per_minute` requests per rolling minute."""
        if per_minute < 1:
            msg = "per_minute must be >= 1"
            raise ValueError(msg)
        self.per_minute = per_minute
        self._clock = clock or time.monotonic
        self._slots: deque[float] = deque()
        self._lock = threading.Lock()
        self.waits = 0

    def reserve(self) -> float:
        """Reserve the next start slot; return how many seconds to wait for it."""
        with self._lock:
            now = self._clock()
            while self._slots and now - self._slots[0] >= 60.0:
                self._slots.popleft()
            slot = now
            if len(self._slots) >= self.per_minute:
                slot = max(now, self._slots.popleft() + 60.0)
            self._slots.append(slot)
            return slot - now

    def acquire(self) -> None:
        """Block (through :func:`sleep`) until one more request may start."""
        wait = self.reserve()
        if wait > 0:
            self.waits += 1
            sleep(wait)
