"""QuickBooks reports (pure): settings, periods, restatement, splitting, merging, years.

A year read with a column per period is split into one report per period (`split_columns`).
No HTTP, no config reading beyond the mapping handed in: tested without a server. The streams
that use this live in `report_streams.py`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import typing as t
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tap_quickbooks.errors import SettingError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

ACCRUAL = "Accrual"
CASH = "Cash"
#: QuickBooks cuts a report past its size cap (about 400,000 cells) and still answers 200; the
#: last row then carries this sentence instead of data.
TRUNCATED = "Unable to display more data. Please reduce the date range."
METHODS = {"accrual": (ACCRUAL,), "cash": (CASH,), "both": (ACCRUAL, CASH)}
#: The report settings (declared, with defaults and bounds, in `settings.SPECS`).
REPORT_SETTINGS = (
    "report_period",
    "report_accounting_method",
    "report_restate_months",
    "report_start_date",
    "report_requests_per_minute",
)


@dataclass(frozen=True)
class ReportSettings:
    period: str = "month"
    methods: tuple[str, ...] = (ACCRUAL,)
    restate_months: int = 3
    # Older Intuit docs: 200 report requests / minute / realm (PROTOCOL.md, [PARTIAL]).
    requests_per_minute: int = 200
    start_date: dt.date | None = None  # reports from here (default: the tap's start_date)


def report_fields(report: ReportSettings) -> dict[str, t.Any]:
    """The `Settings` fields (named as the settings) of validated report settings."""
    method = next(name for name, methods in METHODS.items() if methods == report.methods)
    return {
        "report_period": report.period,
        "report_accounting_method": method,
        "report_restate_months": report.restate_months,
        "report_start_date": report.start_date,
        "report_requests_per_minute": report.requests_per_minute,
    }


def load_report_settings(config: Mapping[str, t.Any]) -> ReportSettings:
    """The report settings of a tap config; SettingError names a bad one."""
    from tap_quickbooks.settings import SPEC  # settings reads this module: import when used

    def get(name: str) -> t.Any:
        value = config.get(name)
        return SPEC[name].default if value in (None, "") else value

    def choice(name: str) -> str:
        value = str(get(name)).lower()
        allowed = SPEC[name].allowed or ()
        if value not in allowed:
            raise SettingError(name, f"must be {' or '.join(allowed)}, got {value!r}")
        return value

    def number(name: str) -> int:
        value = get(name)
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            raise SettingError(name, f"must be an integer, got {value!r}") from None
        lo, hi = SPEC[name].minimum, SPEC[name].maximum
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise SettingError(name, f"must be from {lo:g} to {hi:g}, got {number}")
        return number

    start = get("report_start_date")
    start_date = None
    if start is not None:
        try:
            start_date = dt.date.fromisoformat(str(start)[:10])
        except ValueError:
            raise SettingError(
                "report_start_date", f"must be a date (YYYY-MM-DD), got {start!r}"
            ) from None
    return ReportSettings(
        period=choice("report_period"),
        methods=METHODS[choice("report_accounting_method")],
        restate_months=number("report_restate_months"),
        requests_per_minute=number("report_requests_per_minute"),
        start_date=start_date,
    )


# ---------------------------------------------------------------------------- periods


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def period_of(day: dt.date, period: str) -> tuple[dt.date, dt.date]:
    """The calendar month or quarter containing `day`: (first day, last day)."""
    if period == "quarter":
        first = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
        return first, month_end(first.replace(month=first.month + 2))
    first = day.replace(day=1)
    return first, month_end(first)


def complete_periods(start: dt.date, end: dt.date, period: str) -> list[tuple[dt.date, dt.date]]:
    """Periods from the one containing `start` to the last one ending before `end` (exclusive)."""
    out = []
    first, last = period_of(start, period)
    while last < end:
        out.append((first, last))
        first, last = period_of(last + dt.timedelta(days=1), period)
    return out


def months_back(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months - 1` months before the month of `day`."""
    index = day.year * 12 + day.month - 1 - (months - 1)
    return dt.date(index // 12, index % 12 + 1, 1)


def plan(
    start: dt.date,
    end: dt.date,
    period: str,
    bookmark: dt.date | None,
    restate_months: int,
) -> list[tuple[dt.date, dt.date]]:
    """The periods a run reads.

    Every complete period after the bookmark, and the periods of the last `restate_months`
    complete months again: QuickBooks lets users post into closed months (a backdated bill, an
    accountant's adjusting entry), so a month's report can still change after it was read.
    Older periods are read again only when the bookmark is reset (`meltano state clear`).
    """
    periods = complete_periods(start, end, period)
    if bookmark is None or not periods:
        return periods
    restate_from = months_back(periods[-1][1], restate_months) if restate_months else None
    return [
        p for p in periods if p[1] > bookmark or (restate_from is not None and p[1] >= restate_from)
    ]


def split(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]] | None:
    """A range cut in smaller pieces: months, else weeks, else days; None for a single day."""
    days = (last - first).days + 1
    if days <= 1:
        return None
    out = []
    d = first
    while d <= last:
        if days > 31:
            stop = month_end(d)
        elif days > 7:
            stop = d + dt.timedelta(days=6)
        else:
            stop = d
        stop = min(stop, last)
        out.append((d, stop))
        d = stop + dt.timedelta(days=1)
    return out


# ---------------------------------------------------------------------------- bodies


def is_truncated(body: Mapping[str, t.Any]) -> bool:
    """True when QuickBooks cut the report short (the notice sits in a row of the body)."""

    def walk(rows: t.Any) -> bool:
        for row in rows or []:
            for cells in (row.get("ColData"), (row.get("Summary") or {}).get("ColData")):
                for cell in cells or []:
                    if TRUNCATED in str(cell.get("value", "")):
                        return True
            if walk((row.get("Rows") or {}).get("Row")):
                return True
        return False

    return walk((body.get("Rows") or {}).get("Row"))


def _column_rules(columns: list[Mapping[str, t.Any]]) -> list[str]:
    """How each column combines across pieces: 'label', 'sum', 'last' or 'first'."""
    rules = []
    for n, col in enumerate(columns):
        key = next(
            (m.get("Value") for m in col.get("MetaData") or [] if m.get("Name") == "ColKey"), ""
        )
        if n == 0:
            rules.append("label")
        elif str(key).startswith("rbal"):
            rules.append("last")
        elif col.get("ColType") == "Money":
            rules.append("sum")
        else:
            rules.append("first")
    return rules


def _combine(cells: list[list[Mapping[str, t.Any]]], rules: list[str]) -> list[dict[str, t.Any]]:
    out: list[dict[str, t.Any]] = []
    for i, rule in enumerate(rules):
        values = [c[i] for c in cells if i < len(c)]
        if not values:
            break
        if rule == "sum":
            total = Decimal(0)
            seen = False
            for v in values:
                try:
                    total += Decimal(str(v.get("value")))
                    seen = True
                except InvalidOperation:
                    continue
            out.append({"value": f"{total:.2f}"} if seen else dict(values[0]))
        elif rule == "last":
            nonempty = [v for v in values if v.get("value") not in (None, "")]
            out.append(dict(nonempty[-1] if nonempty else values[-1]))
        else:
            out.append(dict(values[0]))
    return out


def _row_key(row: Mapping[str, t.Any]) -> tuple[t.Any, ...] | None:
    if "Rows" not in row and "Header" not in row:
        return ("summary-only", row.get("group")) if "Summary" in row else None
    first = ((row.get("Header") or {}).get("ColData") or [{}])[0]
    return ("section", row.get("group"), first.get("value"), first.get("id"))


def _merge_rows(pieces: list[list[dict[str, t.Any]]], rules: list[str]) -> list[dict[str, t.Any]]:
    merged: list[dict[str, t.Any]] = []
    sections: dict[tuple[t.Any, ...], list[dict[str, t.Any]]] = {}
    order: list[tuple[t.Any, ...] | int] = []
    for n, rows in enumerate(pieces):
        keys = [_row_key(row) for row in rows]
        for i, (row, key) in enumerate(zip(rows, keys, strict=True)):
            if key is None:
                label = ((row.get("ColData") or [{}])[0]).get("value")
                if label == "Beginning Balance" and n > 0:
                    continue  # the running balance already carries it
                order.append(len(merged))
                merged.append(row)
                continue
            if key not in sections:
                sections[key] = []
                # Pieces list sections in the same order: a section new in this piece goes
                # before the next section of this piece already placed (else at the end).
                later = next((k for k in keys[i + 1 :] if k is not None and k in sections), None)
                order.insert(order.index(later) if later is not None else len(order), key)
            sections[key].append(row)
    out: list[dict[str, t.Any]] = []
    for entry in order:
        if isinstance(entry, int):
            out.append(merged[entry])
            continue
        group = sections[entry]
        row = {k: v for k, v in group[0].items() if k not in ("Rows", "Summary")}
        inner = [(g.get("Rows") or {}).get("Row") or [] for g in group]
        if any(inner):
            row["Rows"] = {"Row": _merge_rows(inner, rules)}
        summaries = [g["Summary"]["ColData"] for g in group if "Summary" in g]
        if summaries:
            row["Summary"] = {"ColData": _combine(summaries, rules)}
        # keep QuickBooks' key order: Header, Rows, Summary, type, group
        out.append({k: row[k] for k in ("Header", "Rows", "Summary", "type", "group") if k in row})
    return out


def merge(pieces: list[dict[str, t.Any]], first: dt.date, last: dt.date) -> dict[str, t.Any]:
    """One report from the reports of consecutive date ranges (detail reports).

    Sections with the same header (an account) are joined; their data rows follow each other;
    money summaries are added up and running balances ("rbal_*" columns) come from the last
    piece. Only the first piece keeps its "Beginning Balance" row. A section first seen in a
    later piece is placed before the next section that piece shares with the earlier ones; one
    whose neighbours are all new goes last (QuickBooks' own order may then differ).
    """
    if len(pieces) == 1:
        return pieces[0]
    header = dict(pieces[0].get("Header") or {})
    header["StartPeriod"] = first.isoformat()
    header["EndPeriod"] = last.isoformat()
    columns = pieces[0].get("Columns") or {"Column": []}
    rules = _column_rules(columns.get("Column") or [])
    rows = _merge_rows([(p.get("Rows") or {}).get("Row") or [] for p in pieces], rules)
    return {"Header": header, "Columns": columns, "Rows": {"Row": rows}}


# ---------------------------------------------------------------------------- years


#: `summarize_column_by` of a year read with one column per period.
COLUMNS_BY = {"month": "Month", "quarter": "Quarter"}
ONE_DAY = dt.timedelta(days=1)


def by_year(periods: list[tuple[dt.date, dt.date]]) -> list[list[tuple[dt.date, dt.date]]]:
    """Periods grouped by the calendar year they lie in (months and quarters do).

    A group holds periods that follow each other without a gap.
    """
    groups: list[list[tuple[dt.date, dt.date]]] = []
    for first, last in periods:
        previous = groups[-1][-1] if groups else None
        if previous and previous[0].year == first.year and previous[1] + ONE_DAY == first:
            groups[-1].append((first, last))
        else:
            groups.append([(first, last)])
    return groups


def _column_period(column: Mapping[str, t.Any]) -> tuple[dt.date, dt.date] | None:
    meta = {m.get("Name"): m.get("Value") for m in column.get("MetaData") or []}
    try:
        return dt.date.fromisoformat(str(meta["StartDate"])), dt.date.fromisoformat(
            str(meta["EndDate"])
        )
    except (KeyError, ValueError):
        return None


def _one_column(rows: list[dict[str, t.Any]], index: int, depth: int) -> list[dict[str, t.Any]]:
    """Rows with the label cell and the cell at `index` only, without the lines empty there."""
    out = []
    for row in rows:
        kept: dict[str, t.Any] = {}
        for key, value in row.items():
            if key == "ColData":
                cells = value or []
                cell = cells[index] if index < len(cells) else {"value": ""}
                if cell.get("value") in (None, ""):  # nothing in this column: not its line
                    kept = {}
                    break
                kept[key] = [cells[0], cell] if cells else []
            elif key in ("Header", "Summary"):
                cells = (value or {}).get("ColData") or []
                pick = [cells[0], cells[index]] if index < len(cells) and cells else cells[:1]
                kept[key] = {**value, "ColData": pick}
            elif key == "Rows":
                inner = (value or {}).get("Row") or []
                pruned = _one_column(inner, index, depth + 1)
                if pruned or not inner:
                    kept[key] = {**value, "Row": pruned} if inner else value
                elif depth > 0:  # a section with lines in other columns only
                    kept = {}
                    break
            else:
                kept[key] = value
        if kept:
            out.append(kept)
    return out


def split_columns(
    body: Mapping[str, t.Any], periods: list[tuple[dt.date, dt.date]]
) -> dict[tuple[dt.date, dt.date], dict[str, t.Any]] | None:
    """The one-period reports of a report with one column per period (`summarize_column_by`).

    Each is shaped as QuickBooks answers a report of that period alone: the header's
    `StartPeriod`/`EndPeriod` are the period's and `SummarizeColumnsBy` is `Total`; the columns
    are the label column and the period's, keyed `total`; every line keeps its label and the
    period's cell. A line whose cell is empty there (listed for another period) is left out, and
    so is a section (below the top level) left without lines. Columns are found by their
    `StartDate`/`EndDate` metadata, so a `Total` column is ignored. None when a period has no
    column of its own.
    """
    columns = (body.get("Columns") or {}).get("Column") or []
    where = {}
    for n, column in enumerate(columns):
        span = _column_period(column) if n else None
        if span is not None:
            where[span] = n
    if not columns or any(p not in where for p in periods):
        return None
    rows = (body.get("Rows") or {}).get("Row") or []
    out = {}
    for first, last in periods:
        n = where[(first, last)]
        header = dict(body.get("Header") or {})
        header["StartPeriod"] = first.isoformat()
        header["EndPeriod"] = last.isoformat()
        if "SummarizeColumnsBy" in header:
            header["SummarizeColumnsBy"] = "Total"
        kept = _one_column(rows, n, 0)
        if isinstance(header.get("Option"), list):
            header["Option"] = [
                {**o, "Value": "false" if kept else "true"}
                if o.get("Name") == "NoReportData"
                else o
                for o in header["Option"]
            ]
        total = {
            "ColTitle": "Total",
            "ColType": columns[n].get("ColType", "Money"),
            "MetaData": [{"Name": "ColKey", "Value": "total"}],
        }
        part = {**body, "Header": header, "Columns": {"Column": [columns[0], total]}}
        part["Rows"] = {**(body.get("Rows") or {}), "Row": kept}
        out[(first, last)] = part
    return out
