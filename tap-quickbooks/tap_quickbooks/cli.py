"""Console entry point: known errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

from tap_quickbooks.errors import TapQuickBooksError
from tap_quickbooks.tap import TapQuickBooks

_M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (unless `MALLOC_ARENA_MAX` is set).

    Ten page fetchers would otherwise each get an arena of their own and keep the peak
    of every one of them: the tap's resident memory about 1.5x what it holds. No-op
    where the C library is not glibc.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, arenas)


def main() -> None:
    """Run the tap's CLI."""
    limit_malloc_arenas()
    try:
        TapQuickBooks.cli()
    except TapQuickBooksError as exc:
        print(f"tap-quickbooks: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
