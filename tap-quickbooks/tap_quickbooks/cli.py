"""Console entry point: known errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

from tap_quickbooks.errors import TapQuickBooksError
from tap_quickbooks.tap import TapQuickBooks

# glibc mallopt parameters, and the values the tap sets unless the environment sets them.
_MALLOPT = {
    # Ten page fetchers would otherwise each get an arena of their own and keep the peak of
    # every one of them: the tap's resident memory about 1.5x what it holds.
    "MALLOC_ARENA_MAX": (-8, 2),
    # Fixed thresholds (glibc raises the mmap one as large blocks are freed): a response
    # body (about 2 MB a page) is mapped and unmapped on its own instead of fragmenting
    # the heap, and freed heap memory goes back to the system, so the peak stays flat
    # however long the run.
    "MALLOC_MMAP_THRESHOLD_": (-3, 256 * 1024),
    "MALLOC_TRIM_THRESHOLD_": (-1, 128 * 1024),
}


def tune_malloc() -> None:
    """Set glibc's malloc parameters above; no-op where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        for variable, (parameter, value) in _MALLOPT.items():
            if not os.environ.get(variable):
                libc.mallopt(parameter, value)


def main() -> None:
    """Run the tap's CLI."""
    tune_malloc()
    try:
        TapQuickBooks.cli()
    except TapQuickBooksError as exc:
        print(f"tap-quickbooks: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
