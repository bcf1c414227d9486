"""The dbt statements against the loaded QuickBooks reports: `qbo-warehouse reconcile`'s check.

The comparison itself is the dbt model `analytics.statement_differences` (transform/): every
account of the P&L and balance sheet, and every customer and vendor of the aging, whose amount in
the models differs from the ProfitAndLoss, BalanceSheet, AgedReceivables or AgedPayables report
loaded for that month, per company and accounting basis. `analytics.statement_periods` lists the
report bodies it was built from, with an md5 of each.

This module reads both, and checks that the build is not older than the load: every report body
in the raw tables must be the one the models compared (same period, same md5), else the result
would vouch for reports it never saw.
"""

from __future__ import annotations

import dataclasses
import typing as t

from psycopg import sql

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence
    from decimal import Decimal

    import psycopg

#: Statement -> the raw report table it is compared with (the tap's report streams).
REPORT_TABLES = {
    "ProfitAndLoss": "qb_report_profit_and_loss",
    "BalanceSheet": "qb_report_balance_sheet",
    "AgedReceivables": "qb_report_aged_receivables",
    "AgedPayables": "qb_report_aged_payables",
}
MODELS = ("statement_differences", "statement_periods")
BUILD = "meltano invoke dbt-postgres:build"
SHOW = 100
"""Differences listed in the text report (the JSON report and the model have them all)."""


class NotBuilt(Exception):
    """The analytics models are missing (one line saying so and what to run)."""


class NothingLoaded(Exception):
    """No report the statements are compared with is loaded."""


@dataclasses.dataclass(frozen=True)
class Difference:
    """One account (or name) of one statement, company, basis and month."""

    realm_id: str
    accounting_method: str
    statement: str
    period_month: dt.date
    account_id: str
    account_name: str | None
    ours: Decimal
    quickbooks: Decimal

    @property
    def difference(self) -> Decimal:
        """Ours minus QuickBooks'."""
        return self.ours - self.quickbooks

    @property
    def account(self) -> str:
        """The id and, when known, the name."""
        return f"{self.account_id} {self.account_name}" if self.account_name else self.account_id

    def as_dict(self) -> dict[str, t.Any]:
        """JSON-friendly view (amounts as strings, exact)."""
        return {
            "realm_id": self.realm_id,
            "accounting_method": self.accounting_method,
            "statement": self.statement,
            "period_month": self.period_month.isoformat(),
            "account_id": self.account_id,
            "account_name": self.account_name,
            "ours": f"{self.ours:.2f}",
            "quickbooks": f"{self.quickbooks:.2f}",
            "difference": f"{self.difference:.2f}",
        }


@dataclasses.dataclass(frozen=True)
class Coverage:
    """The months compared for one company, basis and statement."""

    realm_id: str
    accounting_method: str
    statement: str
    months: int
    first: dt.date
    last: dt.date


@dataclasses.dataclass
class StatementCheck:
    """The whole statement check."""

    coverage: list[Coverage]
    differences: list[Difference]
    stale: list[str]
    """Report bodies loaded, changed or removed since the models were built."""
    not_compared: dict[str, int]
    """Reason -> loaded report bodies the models do not compare (other bases, other periods)."""

    @property
    def ok(self) -> bool:
        """Nothing differs and the build saw what is loaded."""
        return not self.differences and not self.stale

    def as_dict(self) -> dict[str, t.Any]:
        """JSON-friendly view."""
        return {
            "ok": self.ok,
            "compared": [
                {
                    "realm_id": c.realm_id,
                    "accounting_method": c.accounting_method,
                    "statement": c.statement,
                    "months": c.months,
                    "first_month": c.first.isoformat(),
                    "last_month": c.last.isoformat(),
                }
                for c in self.coverage
            ],
            "differences": [d.as_dict() for d in self.differences],
            "stale": self.stale,
            "not_compared": self.not_compared,
        }


def _exists(conn: psycopg.Connection[t.Any], schema: str, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
        (schema, name),
    ).fetchone()
    return row is not None


def _has_rows(conn: psycopg.Connection[t.Any], schema: str, name: str) -> bool:
    if not _exists(conn, schema, name):
        return False
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(schema, name))
    row = conn.execute(query).fetchone()
    return bool(row and row[0])


def available(
    conn: psycopg.Connection[t.Any], *, raw_schema: str = "raw", analytics: str = "analytics"
) -> str | None:
    """None when the check can run; else why not, in one line (no exception)."""
    loaded = [table for table in REPORT_TABLES.values() if _has_rows(conn, raw_schema, table)]
    missing = [m for m in MODELS if not _exists(conn, analytics, m)]
    if missing:
        return (
            f"the analytics models are not built (no {analytics}.{missing[0]}): "
            f"run `{BUILD}`, then reconcile again"
        )
    if not loaded:
        return (
            f"no report to compare the statements with ({raw_schema}."
            f"{', '.join(REPORT_TABLES.values())} hold no row): select the report streams"
        )
    return None


def check(
    conn: psycopg.Connection[t.Any],
    *,
    raw_schema: str = "raw",
    analytics: str = "analytics",
    realms: Sequence[str] | None = None,
) -> StatementCheck:
    """Read the differences and what was compared; raise `NotBuilt`/`NothingLoaded` when unable."""
    reason = available(conn, raw_schema=raw_schema, analytics=analytics)
    if reason is not None:
        raise (NotBuilt if "not built" in reason else NothingLoaded)(reason)
    realm_filter = sql.SQL(" AND realm_id = ANY(%(realms)s)" if realms is not None else "")
    params: dict[str, t.Any] = {"realms": list(realms or [])}
    periods = sql.Identifier(analytics, "statement_periods")
    coverage = [
        Coverage(str(r[0]), str(r[1]), str(r[2]), int(r[3]), r[4], r[5])
        for r in conn.execute(
            sql.SQL(
                "SELECT realm_id, accounting_method, statement, count(*), min(period_month),"
                " max(period_month) FROM {} WHERE is_compared{} GROUP BY 1, 2, 3"
            ).format(periods, realm_filter),
            params,
        ).fetchall()
    ]
    order = {name: n for n, name in enumerate(REPORT_TABLES)}
    coverage.sort(key=lambda c: (c.realm_id, c.accounting_method, order.get(c.statement, 9)))
    not_compared = {
        str(r[0]): int(r[1])
        for r in conn.execute(
            sql.SQL(
                "SELECT not_compared_because, count(*) FROM {} WHERE NOT is_compared{}"
                " GROUP BY 1 ORDER BY 1"
            ).format(periods, realm_filter),
            params,
        ).fetchall()
    }
    differences = [
        Difference(str(r[0]), str(r[1]), str(r[2]), r[3], str(r[4]), r[5], r[6], r[7])
        for r in conn.execute(
            sql.SQL(
                "SELECT realm_id, accounting_method, statement, period_month, account_id,"
                " account_name, model_amount, quickbooks_amount FROM {} WHERE true{}"
            ).format(sql.Identifier(analytics, "statement_differences"), realm_filter),
            params,
        ).fetchall()
    ]
    differences.sort(
        key=lambda d: (
            d.realm_id,
            d.accounting_method,
            d.period_month,
            order.get(d.statement, 9),
            d.account_id,
        )
    )
    return StatementCheck(
        coverage=coverage,
        differences=differences,
        stale=_stale(conn, raw_schema, analytics, realms),
        not_compared=not_compared,
    )


def _stale(
    conn: psycopg.Connection[t.Any],
    raw_schema: str,
    analytics: str,
    realms: Sequence[str] | None,
) -> list[str]:
    """Report bodies whose raw row is not the one the models were built from."""
    out: list[str] = []
    for statement, table in REPORT_TABLES.items():
        raw = (
            sql.SQL(
                "SELECT realm_id, accounting_method, period_start, period_end,"
                " md5(payload::text) AS payload_md5 FROM {}"
            ).format(sql.Identifier(raw_schema, table))
            if _exists(conn, raw_schema, table)
            else sql.SQL(
                "SELECT NULL::text AS realm_id, NULL::text AS accounting_method,"
                " NULL::date AS period_start, NULL::date AS period_end,"
                " NULL::text AS payload_md5 WHERE false"
            )
        )
        rows = conn.execute(
            sql.SQL(
                "SELECT coalesce(r.realm_id, b.realm_id), coalesce(r.accounting_method,"
                " b.accounting_method), coalesce(r.period_start, b.period_start),"
                " coalesce(r.period_end, b.period_end),"
                " CASE WHEN b.realm_id IS NULL THEN 'loaded after the last build'"
                " WHEN r.realm_id IS NULL THEN 'no longer loaded'"
                " ELSE 'changed since the last build' END"
                " FROM ({raw}) AS r FULL JOIN (SELECT * FROM {periods}"
                " WHERE statement = %(statement)s) AS b"
                " ON (b.realm_id, b.accounting_method, b.period_start, b.period_end)"
                " = (r.realm_id, r.accounting_method, r.period_start, r.period_end)"
                " WHERE r.payload_md5 IS DISTINCT FROM b.payload_md5{realms}"
                " ORDER BY 1, 2, 3, 4"
            ).format(
                raw=raw,
                periods=sql.Identifier(analytics, "statement_periods"),
                realms=sql.SQL(
                    " AND coalesce(r.realm_id, b.realm_id) = ANY(%(realms)s)"
                    if realms is not None
                    else ""
                ),
            ),
            {"statement": statement, "realms": list(realms or [])},
        ).fetchall()
        out += [f"{statement} realm {r[0]} {r[1]} {r[2]}..{r[3]}: {r[4]}" for r in rows]
    return out


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def render(result: StatementCheck, *, limit: int = SHOW) -> str:
    """The check as text: each difference, one line per company and basis, then the verdict."""
    lines = [
        "statements: the analytics models against the loaded QuickBooks reports "
        "(P&L and balance sheet per account, aging per customer and vendor, every month)"
    ]
    if result.differences:
        header = (
            "realm",
            "basis",
            "statement",
            "month",
            "account",
            "ours",
            "quickbooks",
            "difference",
        )
        rows = [header] + [
            (
                d.realm_id,
                d.accounting_method,
                d.statement,
                d.period_month.strftime("%Y-%m"),
                d.account,
                _money(d.ours),
                _money(d.quickbooks),
                _money(d.difference),
            )
            for d in result.differences[:limit]
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for row in rows:
            cells = [
                c.rjust(widths[i]) if i >= 5 else c.ljust(widths[i]) for i, c in enumerate(row)
            ]
            lines.append("  ".join(cells).rstrip())
        if len(result.differences) > limit:
            lines.append(
                f"... and {len(result.differences) - limit} more "
                "(all of them: --format json, or the table analytics.statement_differences)"
            )
    differing: dict[tuple[str, str, str], set[dt.date]] = {}
    for d in result.differences:
        differing.setdefault((d.realm_id, d.accounting_method, d.statement), set()).add(
            d.period_month
        )
    groups: dict[tuple[str, str], list[Coverage]] = {}
    for c in result.coverage:
        groups.setdefault((c.realm_id, c.accounting_method), []).append(c)
    for (realm, basis), covered in groups.items():
        parts = []
        for c in covered:
            bad = len(differing.get((realm, basis, c.statement), ()))
            parts.append(f"{c.statement} {c.months} months" + (f" ({bad} differ)" if bad else ""))
        first = min(c.first for c in covered).strftime("%Y-%m")
        last = max(c.last for c in covered).strftime("%Y-%m")
        ok = not any(d[:2] == (realm, basis) for d in differing)
        lines.append(
            f"{'OK      ' if ok else 'MISMATCH'} {realm} {basis}: {', '.join(parts)}"
            f" ({first}..{last})"
        )
    for reason, count in result.not_compared.items():
        lines.append(f"not compared: {count} loaded report(s), {reason}")
    for note in result.stale[:limit]:
        lines.append(f"STALE    {note}")
    if len(result.stale) > limit:
        lines.append(f"... and {len(result.stale) - limit} more")
    if result.stale:
        lines.append(
            f"statements: the models are older than the loaded reports: run `{BUILD}`, "
            "then reconcile again"
        )
    if not result.coverage:
        lines.append("statements: no report month to compare (see 'not compared' above)")
    elif result.differences:
        months = {(d.realm_id, d.accounting_method, d.period_month) for d in result.differences}
        lines.append(
            f"statements: {len(result.differences)} difference(s) in {len(months)} month(s) "
            "(ours minus QuickBooks'; transform/README.md says what the models do not cover)"
        )
    elif not result.stale:
        lines.append("statements: everything matches")
    return "\n".join(lines)
