"""Console entry point: known errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys

from tap_quickbooks.errors import TapQuickBooksError
from tap_quickbooks.tap import TapQuickBooks


def main() -> None:
    """Run the tap's CLI."""
    try:
        TapQuickBooks.cli()
    except TapQuickBooksError as exc:
        print(f"tap-quickbooks: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
