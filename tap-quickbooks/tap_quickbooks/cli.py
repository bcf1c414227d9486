"""Console entry point: known errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
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


# Bytes the tap asks for in the pipe it writes to (Linux caps it at fs/pipe-max-size).
PIPE_BYTES = 1024 * 1024


def widen_stdout_pipe() -> None:
    """Give a pipe on stdout room for about 400 records instead of Linux's default 64 KB.

    Whoever reads the pipe (Meltano, a target) is then woken once per several hundred
    lines rather than every 26, which saves CPU on both sides of it. A no-op where
    stdout is not a pipe, off Linux, or when the system refuses.
    """
    try:
        import fcntl  # POSIX only
    except ImportError:
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if set_size is None:
        return
    with contextlib.suppress(OSError, ValueError):
        if not stat.S_ISFIFO(os.fstat(1).st_mode):
            return
        size = PIPE_BYTES
        with open("/proc/sys/fs/pipe-max-size", encoding="ascii") as limit:
            size = min(size, int(limit.read()))
        fcntl.fcntl(1, set_size, size)


def main() -> None:
    """Run the tap's CLI."""
    argv = sys.argv[1:]
    if "authorize" in argv:  # `meltano invoke` puts its `--config FILE` before the command
        from tap_quickbooks import authorize

        at = argv.index("authorize")
        try:
            sys.exit(authorize.main(argv[:at] + argv[at + 1 :]))
        except TapQuickBooksError as exc:
            print(f"tap-quickbooks authorize: error: {exc}", file=sys.stderr)
            sys.exit(exc.exit_code)
    tune_malloc()
    widen_stdout_pipe()
    try:
        TapQuickBooks.cli()
    except TapQuickBooksError as exc:
        print(f"tap-quickbooks: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
