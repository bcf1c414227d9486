"""STARTPOSITION pages as frozen dataclasses, and in-order delivery of concurrent fetches."""

from __future__ import annotations

import contextlib
import math
import typing as t
from collections import deque
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from concurrent.futures import Executor, Future

_T = t.TypeVar("_T")


@dataclass(frozen=True)
class Page:
    """One page of a window: 1-based `number`, 1-based `start_position`, `max_results`."""

    number: int
    start_position: int
    max_results: int


def plan_pages(total: int, page_size: int, *, first_number: int = 1) -> list[Page]:
    """The ceil(total / page_size) pages that cover `total` rows."""
    if page_size < 1:
        msg = "page_size must be >= 1"
        raise ValueError(msg)
    if total < 0:
        msg = "total must be >= 0"
        raise ValueError(msg)
    return [
        Page(first_number + i, i * page_size + 1, page_size)
        for i in range(math.ceil(total / page_size))
    ]


def chunked(pages: Sequence[Page], size: int) -> list[tuple[Page, ...]]:
    """Split pages into consecutive chunks of at most `size` (the verification unit)."""
    if size < 1:
        msg = "chunk size must be >= 1"
        raise ValueError(msg)
    return [tuple(pages[i : i + size]) for i in range(0, len(pages), size)]


def fetch_in_order(
    items: Iterable[_T],
    fetch: Callable[[_T], t.Any],
    executor: Executor,
    max_in_flight: int,
) -> Iterator[tuple[_T, t.Any]]:
    """Run `fetch` on items concurrently, yielding `(item, result)` strictly in input order.

    At most `max_in_flight` fetches are submitted and not yet consumed at any time, so
    memory is bounded by the concurrency, never by the number of items. Stopping the
    iteration early cancels what has not started; an exception from `fetch` is raised
    when its item's turn comes.
    """
    if max_in_flight < 1:
        msg = "max_in_flight must be >= 1"
        raise ValueError(msg)
    pending: deque[tuple[_T, Future[t.Any]]] = deque()
    source = iter(items)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < max_in_flight:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((item, executor.submit(fetch, item)))
            if not pending:
                return
            item, future = pending.popleft()
            yield item, future.result()
    finally:
        for _, future in pending:
            future.cancel()
        for _, future in pending:  # let running fetches finish before the caller moves on
            if not future.cancelled():
                with contextlib.suppress(Exception):  # the caller has stopped caring
                    future.result()
