"""``qbo-warehouse``: checks on the raw QuickBooks tables in Postgres."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

import psycopg

try:
    from qbo_warehouse import reconcile
    from qbo_warehouse import reports as report_totals
except ModuleNotFoundError as exc:  # the tap is installed beside the package, not by it
    if exc.name is None or not exc.name.startswith("tap_quickbooks"):
        raise
    sys.exit(
        "qbo-warehouse: this repository's tap is not installed: pip install ./tap-quickbooks "
        "(PyPI's tap-quickbooks is another project)"
    )
from qbo_warehouse.db import DsnError, connect
from qbo_warehouse.summary import render_json, render_table, summarize

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qbo-warehouse", description="Checks on the raw QuickBooks tables in Postgres."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser(
        "summary", help="rows, distinct keys, windows and LastUpdatedTime range per table"
    )
    summary.add_argument("--dsn", help="Postgres DSN or SQLAlchemy URL (default: $PG_DSN)")
    summary.add_argument("--schema", default="raw", help="schema of the raw tables (default: raw)")
    summary.add_argument("--format", choices=("table", "json"), default="table")
    views = commands.add_parser(
        "report-views", help="create the raw.qb_report_<name>_lines views of the report tables"
    )
    views.add_argument("--dsn", help="Postgres DSN or SQLAlchemy URL (default: $PG_DSN)")
    views.add_argument("--schema", default="raw", help="schema of the raw tables (default: raw)")
    reconcile.add_arguments(
        commands.add_parser(
            "reconcile",
            help="compare QuickBooks COUNT(*) with Postgres per stream and window, and the dbt "
            "statements with the loaded reports",
        )
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "reconcile":
        try:
            return reconcile.run(args)
        except reconcile.ReconcileError as exc:
            print(f"qbo-warehouse: {exc}", file=sys.stderr)
            return 2
    try:
        with connect(args.dsn) as conn:
            if args.command == "report-views":
                made = report_totals.create_line_views(conn, args.schema)
                print(f"{len(made)} views: {', '.join(made) or 'no report tables yet'}")
                return 0
            summaries = summarize(conn, schema=args.schema)
    except DsnError as exc:
        print(f"qbo-warehouse: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"qbo-warehouse: dsn: cannot connect to Postgres: {first}", file=sys.stderr)
        return 2
    print(render_json(summaries) if args.format == "json" else render_table(summaries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
