"""STARTPOSITION pages as frozen dataclasses, and their chunks (pure)."""

from __future__ import annotations

import math
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Sequence


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
