"""QuickBooks reports computed from the ledger, in the API's JSON shape.

`GET /v3/company/<realm>/reports/<Name>` answers ProfitAndLoss, BalanceSheet, CashFlow,
TrialBalance, GeneralLedger, AgedReceivables, AgedPayables and ProfitAndLossDetail. A report is
`{"Header": …, "Columns": {"Column": […]}, "Rows": {"Row": […]}}`; rows are `Section`s (a
`Header`, nested `Rows` and a `Summary`, often with a `group`) and `Data` rows, each a list of
`ColData` cells (`value`, and `id` where the cell names an account, transaction or name).
Shapes follow the real bodies in `tests/fixtures/` (see SOURCES.md there).

A report bigger than `report_max_cells` cells is cut short, as QuickBooks does: the answer is
still a 200, and its last row reads "Unable to display more data. Please reduce the date range."
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from qbo_emulator.ledger import ACCRUAL, CASH, RETAINED, Account, Ledger, Posting

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

REPORTS = (
    "ProfitAndLoss",
    "BalanceSheet",
    "CashFlow",
    "TrialBalance",
    "GeneralLedger",
    "AgedReceivables",
    "AgedPayables",
    "ProfitAndLossDetail",
)
TRUNCATED = "Unable to display more data. Please reduce the date range."
SUMMARIZE = ("Total", "Month", "Quarter", "Year")
DETAIL_COLUMNS = {
    "tx_date": ("Date", "Date"),
    "txn_type": ("Transaction Type", "String"),
    "doc_num": ("Num", "String"),
    "name": ("Name", "String"),
    "memo": ("Memo/Description", "String"),
    "split_acc": ("Split", "String"),
    "account_name": ("Account", "String"),
    "subt_nat_amount": ("Amount", "Money"),
    "rbal_nat_amount": ("Balance", "Money"),
}
DEFAULT_DETAIL = (
    "tx_date",
    "txn_type",
    "doc_num",
    "name",
    "memo",
    "split_acc",
    "subt_nat_amount",
    "rbal_nat_amount",
)
TXN_TITLES = {
    "SalesReceipt": "Sales Receipt",
    "CreditMemo": "Credit Memo",
    "RefundReceipt": "Refund",
    "BillPayment": "Bill Payment (Check)",
    "VendorCredit": "Vendor Credit",
    "Purchase": "Expense",
    "JournalEntry": "Journal Entry",
}


class ReportError(ValueError):
    """A bad report request: answered with QuickBooks' 400 fault."""

    def __init__(self, code: str, message: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.message = message
        self.detail = detail


def money(c: int) -> str:
    sign = "-" if c < 0 else ""
    c = abs(c)
    return f"{sign}{c // 100}.{c % 100:02d}"


def _cell(value: str, id: str | None = None) -> dict[str, str]:
    return {"value": value, "id": id} if id is not None else {"value": value}


def _amount(c: int) -> dict[str, str]:
    """An account's cell: empty where the account has nothing in that column.

    An account is listed when it has an amount in some column; a column where it has none shows
    an empty cell, so one column of a report summarised by month holds the accounts of that month
    only: its non-empty lines are the report of that month alone.
    """
    return _cell(money(c) if c else "")


def _blank(n: int) -> list[dict[str, str]]:
    return [{"value": ""} for _ in range(n)]


# ---------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Params:
    start: str
    end: str
    basis: str
    summarize: str
    columns: tuple[str, ...]
    report_date: str
    aging_period: int
    num_periods: int


def _date(name: str, value: str | None, default: str) -> str:
    if value is None or value == "":
        return default
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ReportError(
            "2020", "Invalid Date", f"{name}: {value!r} is not a date (YYYY-MM-DD)"
        ) from None


def _int(name: str, value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise ReportError("2010", "Invalid Number", f"{name}: {value!r} is not a positive number")
    return int(value)


def parse_params(params: Mapping[str, str | None], today: str) -> Params:
    """Validate the query parameters (Intuit's defaults: this fiscal year to date, accrual)."""
    end = _date("end_date", params.get("end_date"), today)
    start = _date("start_date", params.get("start_date"), end[:4] + "-01-01")
    if start > end:
        raise ReportError("2020", "Invalid Date", "start_date is after end_date")
    method = (params.get("accounting_method") or ACCRUAL).strip()
    basis = {"accrual": ACCRUAL, "cash": CASH}.get(method.lower())
    if basis is None:
        raise ReportError(
            "2010", "Invalid accounting_method", f"accounting_method: {method!r} (Cash, Accrual)"
        )
    summarize = params.get("summarize_column_by") or "Total"
    canonical = {s.lower(): s for s in SUMMARIZE}.get(summarize.lower())
    if canonical is None:
        raise ReportError(
            "2010",
            "Invalid summarize_column_by",
            f"summarize_column_by: {summarize!r} ({', '.join(SUMMARIZE)})",
        )
    columns = tuple(c for c in (params.get("columns") or "").split(",") if c)
    unknown = [c for c in columns if c not in DETAIL_COLUMNS]
    if unknown:
        raise ReportError("2010", "Invalid columns", f"columns: unknown {', '.join(unknown)}")
    return Params(
        start=start,
        end=end,
        basis=basis,
        summarize=canonical,
        columns=columns or DEFAULT_DETAIL,
        report_date=_date("report_date", params.get("report_date"), end),
        aging_period=_int("aging_period", params.get("aging_period"), 30),
        num_periods=_int("num_periods", params.get("num_periods"), 4),
    )


# ---------------------------------------------------------------------------- periods


def month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def column_periods(start: str, end: str, by: str) -> list[tuple[str, str, str]]:
    """`(title, first day, last day)` of each column of a report summarised by `by`."""
    if by == "Total":
        return [("Total", start, end)]
    out = []
    d, stop = date.fromisoformat(start), date.fromisoformat(end)
    while d <= stop:
        if by == "Month":
            last = month_end(d)
            title = d.strftime("%b %Y")
        elif by == "Quarter":
            q_end_month = ((d.month - 1) // 3) * 3 + 3
            last = month_end(d.replace(month=q_end_month, day=1))
            title = f"Q{(d.month - 1) // 3 + 1} {d.year}"
        else:
            last = d.replace(month=12, day=31)
            title = str(d.year)
        last = min(last, stop)
        out.append((title, d.isoformat(), last.isoformat()))
        d = last + timedelta(days=1)
    return out


def fiscal_start(day: str) -> str:
    """First day of the fiscal year containing `day` (the emulator's company: January)."""
    return day[:4] + "-01-01"


def _before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


# ---------------------------------------------------------------------------- shapes


def header(name: str, p: Params, currency: str, time_text: str, **extra: Any) -> dict[str, Any]:
    h: dict[str, Any] = {
        "Time": time_text,
        "ReportName": name,
        "ReportBasis": p.basis,
        "StartPeriod": p.start,
        "EndPeriod": p.end,
        "SummarizeColumnsBy": p.summarize,
        "Currency": currency,
    }
    h.update(extra)
    h["Option"] = [
        {"Name": "AccountingStandard", "Value": "GAAP"},
        {"Name": "NoReportData", "Value": "false"},
    ]
    return h


def _column(title: str, kind: str, key: str | None, **meta: str) -> dict[str, Any]:
    col: dict[str, Any] = {"ColTitle": title, "ColType": kind}
    md = [{"Name": k, "Value": v} for k, v in meta.items()]
    if key is not None:
        md.append({"Name": "ColKey", "Value": key})
    if md:
        col["MetaData"] = md
    return col


def _section(
    title: str | None,
    rows: list[dict[str, Any]],
    summary: list[dict[str, str]] | None,
    group: str | None = None,
    width: int = 2,
    title_id: str | None = None,
) -> dict[str, Any]:
    sec: dict[str, Any] = {}
    if title is not None:
        sec["Header"] = {"ColData": [_cell(title, title_id), *_blank(width - 1)]}
    if rows:
        sec["Rows"] = {"Row": rows}
    if summary is not None:
        sec["Summary"] = {"ColData": summary}
    sec["type"] = "Section"
    if group is not None:
        sec["group"] = group
    return sec


def _data(cells: list[dict[str, str]], group: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"ColData": cells, "type": "Data"}
    if group is not None:
        row["group"] = group
    return row


# ---------------------------------------------------------------------------- P&L
PL_GROUPS = (
    ("Income", "Income", ("Income",), -1),
    ("COGS", "Cost of Goods Sold", ("Cost of Goods Sold",), 1),
    ("Expenses", "Expenses", ("Expense",), 1),
    ("OtherIncome", "Other Income", ("Other Income",), -1),
    ("OtherExpenses", "Other Expenses", ("Other Expense",), 1),
)


def _accounts_of(ledger: Ledger, types: tuple[str, ...], ids: set[str]) -> list[Account]:
    found = [ledger.account(a) for a in ids]
    return sorted((a for a in found if a.type in types), key=lambda a: (a.name.lower(), a.id))


def _period_columns(
    periods: list[tuple[str, str, str]], *, with_total: bool
) -> list[dict[str, Any]]:
    """The account column, then a Money column per period (with its dates) and the total; a
    report of one period has the total column alone."""
    if not with_total:
        return [
            _column("", "Account", "account"),
            *(_column("Total", "Money", "total") for _ in periods),
        ]
    columns = [_column("", "Account", "account")]
    columns += [_column(t, "Money", t, StartDate=s, EndDate=e) for t, s, e in periods]
    return [*columns, _column("Total", "Money", "total")]


def profit_and_loss(ledger: Ledger, p: Params, hdr: dict[str, Any]) -> dict[str, Any]:
    periods = column_periods(p.start, p.end, p.summarize)
    nets = [ledger.net(p.basis, s, e) for _, s, e in periods]
    with_total = len(periods) > 1
    if with_total:
        nets.append(ledger.net(p.basis, p.start, p.end))
    width = 1 + len(nets)
    columns = _period_columns(periods, with_total=with_total)
    used = {a for net in nets for a, v in net.items() if v}
    totals: dict[str, list[int]] = {}
    sections: dict[str, dict[str, Any]] = {}
    for group, title, types, sign in PL_GROUPS:
        rows = []
        sums = [0] * len(nets)
        for acc in _accounts_of(ledger, types, used):
            values = [sign * net.get(acc.id, 0) for net in nets]
            sums = [a + b for a, b in zip(sums, values, strict=True)]
            rows.append(_data([_cell(acc.name, acc.id), *(_amount(v) for v in values)]))
        totals[group] = sums
        summary = [_cell(f"Total {title}"), *(_cell(money(v)) for v in sums)]
        sections[group] = _section(title, rows, summary, group, width)

    def line(label: str, values: list[int], group: str) -> dict[str, Any]:
        return _section(None, [], [_cell(label), *(_cell(money(v)) for v in values)], group)

    def combine(*parts: tuple[str, int]) -> list[int]:
        return [sum(s * totals[g][i] for g, s in parts) for i in range(len(nets))]

    gross = combine(("Income", 1), ("COGS", -1))
    operating = [g - e for g, e in zip(gross, totals["Expenses"], strict=True)]
    other = combine(("OtherIncome", 1), ("OtherExpenses", -1))
    net_income = [a + b for a, b in zip(operating, other, strict=True)]
    rows = [
        sections["Income"],
        sections["COGS"],
        line("Gross Profit", gross, "GrossProfit"),
        sections["Expenses"],
        line("Net Operating Income", operating, "NetOperatingIncome"),
        sections["OtherIncome"],
        sections["OtherExpenses"],
        line("Net Other Income", other, "NetOtherIncome"),
        line("Net Income", net_income, "NetIncome"),
    ]
    return {"Header": hdr, "Columns": {"Column": columns}, "Rows": {"Row": rows}}


# ---------------------------------------------------------------------------- balance sheet
BS_LAYOUT = (
    (
        "TotalAssets",
        "ASSETS",
        "TOTAL ASSETS",
        (
            (
                "CurrentAssets",
                "Current Assets",
                (
                    ("BankAccounts", "Bank Accounts", ("Bank",)),
                    ("AR", "Accounts Receivable", ("Accounts Receivable",)),
                    ("OtherCurrentAssets", "Other Current Assets", ("Other Current Asset",)),
                ),
            ),
            ("FixedAssets", "Fixed Assets", ("Fixed Asset",)),
            ("OtherAssets", "Other Assets", ("Other Asset",)),
        ),
    ),
    (
        "TotalLiabilitiesAndEquity",
        "LIABILITIES AND EQUITY",
        "TOTAL LIABILITIES AND EQUITY",
        (
            (
                "Liabilities",
                "Liabilities",
                (
                    (
                        "CurrentLiabilities",
                        "Current Liabilities",
                        (
                            ("AP", "Accounts Payable", ("Accounts Payable",)),
                            ("CreditCards", "Credit Cards", ("Credit Card",)),
                            (
                                "OtherCurrentLiabilities",
                                "Other Current Liabilities",
                                ("Other Current Liability",),
                            ),
                        ),
                    ),
                    ("LongTermLiabilities", "Long-Term Liabilities", ("Long Term Liability",)),
                ),
            ),
            ("Equity", "Equity", ("Equity",)),
        ),
    ),
)


def balance_columns(ledger: Ledger, basis: str, as_of: str) -> dict[str, int]:
    """Balance-sheet balances as of a day, in each account's natural sign.

    Retained Earnings carries the profit of every fiscal year before the one `as_of` lies in;
    the key "NetIncome" carries the profit of that fiscal year up to `as_of`.
    """
    fy = fiscal_start(as_of)
    out: dict[str, int] = {}
    prior_profit = 0
    year_profit = 0
    for p in ledger.between(basis, None, as_of):
        acc = ledger.account(p.account_id)
        if acc.is_pl:
            if p.date < fy:
                prior_profit -= p.amount
            else:
                year_profit -= p.amount
            continue
        out[acc.id] = out.get(acc.id, 0) + (-p.amount if acc.credit_normal else p.amount)
    if prior_profit or RETAINED in out:
        out[RETAINED] = out.get(RETAINED, 0) + prior_profit
    out["NetIncome"] = year_profit
    return out


def balance_sheet(ledger: Ledger, p: Params, hdr: dict[str, Any]) -> dict[str, Any]:
    periods = column_periods(p.start, p.end, p.summarize)
    balances = [balance_columns(ledger, p.basis, e) for _, _, e in periods]
    width = 1 + len(balances)
    columns = [_column("", "Account", "account")]
    for title, s, e in periods:
        if len(periods) > 1:
            columns.append(_column(title, "Money", title, StartDate=s, EndDate=e))
        else:
            columns.append(_column("Total", "Money", "total"))
    used = {a for b in balances for a, v in b.items() if v and a != "NetIncome"}

    def build(node: tuple[Any, ...]) -> tuple[dict[str, Any] | None, list[int]]:
        group, title = node[0], node[1]
        rows: list[dict[str, Any]] = []
        sums = [0] * len(balances)
        if isinstance(node[2][0], str):  # a leaf: account types
            for acc in _accounts_of(ledger, node[2], used):
                values = [b.get(acc.id, 0) for b in balances]
                sums = [a + v for a, v in zip(sums, values, strict=True)]
                rows.append(_data([_cell(acc.name, acc.id), *(_amount(v) for v in values)]))
            if group == "Equity":
                values = [b["NetIncome"] for b in balances]
                sums = [a + v for a, v in zip(sums, values, strict=True)]
                rows.append(
                    _data([_cell("Net Income"), *(_cell(money(v)) for v in values)], "NetIncome")
                )
        else:
            for child in node[2]:
                sec, child_sums = build(child)
                if sec is not None:
                    rows.append(sec)
                    sums = [a + v for a, v in zip(sums, child_sums, strict=True)]
        if not rows:
            return None, sums
        summary = [_cell(f"Total {title}"), *(_cell(money(v)) for v in sums)]
        return _section(title, rows, summary, group, width), sums

    rows = []
    for group, title, total_title, children in BS_LAYOUT:
        inner: list[dict[str, Any]] = []
        sums = [0] * len(balances)
        for child in children:
            sec, child_sums = build(child)
            if sec is not None:
                inner.append(sec)
                sums = [a + v for a, v in zip(sums, child_sums, strict=True)]
        rows.append(
            _section(
                title, inner, [_cell(total_title), *(_cell(money(v)) for v in sums)], group, width
            )
        )
    return {"Header": hdr, "Columns": {"Column": columns}, "Rows": {"Row": rows}}


# ---------------------------------------------------------------------------- cash flow


#: (group, title, key, what) of the sections after the operating activities, and account types.
CF_ACTIVITIES = (
    (
        "InvestingActivities",
        "INVESTING ACTIVITIES",
        "inv",
        "investing",
        ("Fixed Asset", "Other Asset"),
    ),
    (
        "FinancingActivities",
        "FINANCING ACTIVITIES",
        "fin",
        "financing",
        ("Long Term Liability", "Equity"),
    ),
)
CF_ADJUSTMENTS = "Adjustments to reconcile Net Income to Net Cash provided by operations:"


@dataclass(frozen=True)
class _CashColumn:
    """One column of a cash flow statement: what moved cash from `start` to `end`."""

    net_income: int
    moves: dict[str, dict[str, int]]  # "op" | "inv" | "fin" -> account id -> cash effect
    begin: int  # bank balances the day before `start`


def _cash_column(ledger: Ledger, basis: str, start: str, end: str) -> _CashColumn:
    net = ledger.net(basis, start, end)
    net_income = -sum(v for a, v in net.items() if ledger.account(a).is_pl)
    moves: dict[str, dict[str, int]] = {"op": {}, "inv": {}, "fin": {}}
    for a, v in net.items():
        acc = ledger.account(a)
        if acc.is_pl or acc.type == "Bank" or not v:
            continue
        kind = next((k for _, _, k, _, types in CF_ACTIVITIES if acc.type in types), "op")
        moves[kind][a] = -v
    opening = ledger.net(basis, None, _before(start))
    begin = sum(v for a, v in opening.items() if ledger.account(a).type == "Bank")
    return _CashColumn(net_income, moves, begin)


def cash_flow(ledger: Ledger, p: Params, hdr: dict[str, Any]) -> dict[str, Any]:
    periods = column_periods(p.start, p.end, p.summarize)
    spans = [(s, e) for _, s, e in periods]
    with_total = len(periods) > 1
    if with_total:
        spans.append((p.start, p.end))
    cols = [_cash_column(ledger, p.basis, s, e) for s, e in spans]
    width = 1 + len(cols)

    def amounts(values: list[int]) -> list[dict[str, str]]:
        return [_cell(money(v)) for v in values]

    def rows_of(kind: str) -> tuple[list[dict[str, Any]], list[int]]:
        ids = {a for col in cols for a in col.moves[kind]}
        accounts = sorted((ledger.account(a) for a in ids), key=lambda a: (a.name.lower(), a.id))
        rows = [
            _data([_cell(a.name, a.id), *(_amount(col.moves[kind].get(a.id, 0)) for col in cols)])
            for a in accounts
        ]
        return rows, [sum(col.moves[kind].values()) for col in cols]

    def line(label: str, values: list[int], group: str) -> dict[str, Any]:
        return _section(None, [], [_cell(label), *amounts(values)], group)

    net_income = [col.net_income for col in cols]
    adj_rows, adj = rows_of("op")
    operating_rows = [_data([_cell("Net Income"), *amounts(net_income)])]
    if adj_rows:  # an empty section is left out, as the balance sheet leaves out its own
        summary = [_cell(f"Total {CF_ADJUSTMENTS}"), *amounts(adj)]
        operating_rows.append(_section(CF_ADJUSTMENTS, adj_rows, summary, None, width))
    increase = [a + b for a, b in zip(net_income, adj, strict=True)]
    sections = [
        _section(
            "OPERATING ACTIVITIES",
            operating_rows,
            [_cell("Net cash provided by operating activities"), *amounts(increase)],
            "OperatingActivities",
            width,
        )
    ]
    for group, title, key, label, _types in CF_ACTIVITIES:
        rows, sums = rows_of(key)
        increase = [a + b for a, b in zip(increase, sums, strict=True)]
        summary = [_cell(f"Net cash provided by {label} activities"), *amounts(sums)]
        sections.append(_section(title, rows, summary, group, width))
    begin = [col.begin for col in cols]
    ending = [a + b for a, b in zip(begin, increase, strict=True)]
    rows = [
        *sections,
        line("NET CASH INCREASE FOR PERIOD", increase, "CashIncrease"),
        line("Cash at beginning of period", begin, "BeginningCash"),
        line("CASH AT END OF PERIOD", ending, "EndingCash"),
    ]
    columns = _period_columns(periods, with_total=with_total)
    return {"Header": hdr, "Columns": {"Column": columns}, "Rows": {"Row": rows}}


# ---------------------------------------------------------------------------- trial balance


def trial_balance_amounts(ledger: Ledger, basis: str, as_of: str) -> dict[str, int]:
    """Account id -> debit minus credit as of a day: balance-sheet accounts since the start,
    profit-and-loss accounts for the fiscal year to date, prior years' profit in Retained Earnings.
    """
    fy = fiscal_start(as_of)
    out: dict[str, int] = {}
    for p in ledger.between(basis, None, as_of):
        acc = ledger.account(p.account_id)
        key = RETAINED if acc.is_pl and p.date < fy else acc.id
        out[key] = out.get(key, 0) + p.amount
    return out


def trial_balance(ledger: Ledger, p: Params, hdr: dict[str, Any]) -> dict[str, Any]:
    amounts = trial_balance_amounts(ledger, p.basis, p.end)
    accounts = sorted(
        (ledger.account(a) for a, v in amounts.items() if v),
        key=lambda a: (_CLASS_ORDER.get(a.classification, 9), a.name.lower(), a.id),
    )
    rows = []
    debit = credit = 0
    for acc in accounts:
        v = amounts[acc.id]
        debit += max(v, 0)
        credit += max(-v, 0)
        rows.append(
            _data(
                [
                    _cell(acc.name, acc.id),
                    _cell(money(v) if v > 0 else ""),
                    _cell(money(-v) if v < 0 else ""),
                ]
            )
        )
    rows.append(
        _section(
            None, [], [_cell("TOTAL"), _cell(money(debit)), _cell(money(credit))], "GrandTotal"
        )
    )
    columns = [
        _column("", "Account", "account"),
        _column("Debit", "Money", "debt_amt"),
        _column("Credit", "Money", "credit_amt"),
    ]
    return {"Header": hdr, "Columns": {"Column": columns}, "Rows": {"Row": rows}}


_CLASS_ORDER = {"Asset": 0, "Liability": 1, "Equity": 2, "Revenue": 3, "Expense": 4}


# ---------------------------------------------------------------------------- detail reports


class _Detail:
    """Transaction rows shared by the GeneralLedger and ProfitAndLossDetail reports."""

    def __init__(self, ledger: Ledger, p: Params) -> None:
        self.ledger = ledger
        self.p = p
        self.others: dict[tuple[str, str], set[str]] = {}
        for post in ledger.between(p.basis, p.start, p.end):
            self.others.setdefault((post.txn_type, post.txn_id), set()).add(post.account_id)

    def natural(self, acc: Account, amount: int) -> int:
        return -amount if acc.credit_normal else amount

    def cells(self, post: Posting, acc: Account, amount: int, running: int) -> list[dict[str, str]]:
        out = []
        for key in self.p.columns:
            if key == "tx_date":
                out.append(_cell(post.date))
            elif key == "txn_type":
                out.append(_cell(TXN_TITLES.get(post.txn_type, post.txn_type), post.txn_id))
            elif key == "doc_num":
                out.append(_cell(post.doc_number))
            elif key == "name":
                who = post.name_id
                out.append(_cell(self.ledger.names.get(who, "") if who else "", who))
            elif key == "memo":
                out.append(_cell(post.memo))
            elif key == "split_acc":
                others = self.others.get((post.txn_type, post.txn_id), set()) - {acc.id}
                if len(others) == 1:
                    other = self.ledger.account(next(iter(others)))
                    out.append(_cell(other.name, other.id))
                else:
                    out.append(_cell("-Split-" if others else ""))
            elif key == "account_name":
                out.append(_cell(acc.name, acc.id))
            elif key == "subt_nat_amount":
                out.append(_cell(money(amount)))
            else:  # rbal_nat_amount
                out.append(_cell(money(running)))
        return out

    def columns(self) -> list[dict[str, Any]]:
        return [_column(*DETAIL_COLUMNS[k], k) for k in self.p.columns]

    def summary(self, label: str, subtotal: int, running: int | None) -> list[dict[str, str]]:
        out = [_cell(label)]
        for key in self.p.columns[1:]:
            if key == "subt_nat_amount":
                out.append(_cell(money(subtotal)))
            elif key == "rbal_nat_amount" and running is not None:
                out.append(_cell(money(running)))
            else:
                out.append(_cell(""))
        return out

    def account_section(self, acc: Account, begin: int) -> tuple[dict[str, Any] | None, int]:
        rows = []
        running = begin
        if begin:
            first = [_cell("Beginning Balance")] + [_cell("") for _ in self.p.columns[1:]]
            for i, key in enumerate(self.p.columns):
                if key == "rbal_nat_amount":
                    first[i] = _cell(money(begin))
            rows.append(_data(first))
        subtotal = 0
        for post in self.ledger.between(self.p.basis, self.p.start, self.p.end):
            if post.account_id != acc.id:
                continue
            amount = self.natural(acc, post.amount)
            subtotal += amount
            running += amount
            rows.append(_data(self.cells(post, acc, amount, running)))
        if subtotal == 0 and not rows:
            return None, 0
        width = len(self.p.columns)
        summary = self.summary(f"Total for {acc.name}", subtotal, running)
        return _section(acc.name, rows, summary, None, width, acc.id), subtotal


def general_ledger(ledger: Ledger, p: Params, hdr: dict[str, Any]) -> dict[str, Any]:
    d = _Detail(ledger, p)
    active = {post.account_id for post in ledger.between(p.basis, p.start, p.end)}
    before = trial_balance_amounts(ledger, p.basis, _before(p.start))
    fy = fiscal_start(p.start)
    if fy == p.start:  # a new fiscal year: profit and loss accounts start from zero
        before = {a: v for a, v in before.items() if not ledger.account(a).is_pl}
    accounts = sorted(
        (ledger.account(a) for a in active),
        key=lambda a: (_CLASS_ORDER.get(a.classification, 9), a.name.lower(), a.id),
    )
    rows = []
    for acc in accounts:
        sec, _ = d.account_section(acc, d.natural(acc, before.get(acc.id, 0)))
        if sec is not None:
            rows.append(sec)
    return {"Header": hdr, "Columns": {"Column": d.columns()}, "Rows": {"Row": rows}}


def profit_and_loss_detail(ledger: Ledger, p: Params, hdr: dict[str, Any]) -> dict[str, Any]:
    d = _Detail(ledger, p)
    active = {post.account_id for post in ledger.between(p.basis, p.start, p.end)}
    width = len(p.columns)
    totals: dict[str, int] = {}
    sections = {}
    for group, title, types, _sign in PL_GROUPS:
        rows = []
        total = 0
        for acc in _accounts_of(ledger, types, active):
            sec, subtotal = d.account_section(acc, 0)
            if sec is not None:
                rows.append(sec)
                total += subtotal
        totals[group] = total
        sections[group] = _section(
            title, rows, d.summary(f"Total {title}", total, None), group, width
        )

    def line(label: str, value: int, group: str) -> dict[str, Any]:
        return _section(None, [], d.summary(label, value, None), group)

    gross = totals["Income"] - totals["COGS"]
    operating = gross - totals["Expenses"]
    other = totals["OtherIncome"] - totals["OtherExpenses"]
    rows = [
        sections["Income"],
        sections["COGS"],
        line("Gross Profit", gross, "GrossProfit"),
        sections["Expenses"],
        line("Net Operating Income", operating, "NetOperatingIncome"),
        sections["OtherIncome"],
        sections["OtherExpenses"],
        line("Net Other Income", other, "NetOtherIncome"),
        line("Net Income", operating + other, "NetIncome"),
    ]
    return {"Header": hdr, "Columns": {"Column": d.columns()}, "Rows": {"Row": rows}}


# ---------------------------------------------------------------------------- aging


def open_items(ledger: Ledger, account_type: str, as_of: str) -> dict[tuple[str, str], int]:
    """Open amount (debit minus credit) per document on A/R or A/P accounts as of a day."""
    out: dict[tuple[str, str], int] = {}
    for post in ledger.between(ACCRUAL, None, as_of):
        if ledger.account(post.account_id).type != account_type:
            continue
        key = post.applies_to or (post.txn_type, post.txn_id)
        out[key] = out.get(key, 0) + post.amount
    return {k: v for k, v in out.items() if v}


def aging(ledger: Ledger, p: Params, hdr: dict[str, Any], payables: bool) -> dict[str, Any]:
    items = open_items(
        ledger, "Accounts Payable" if payables else "Accounts Receivable", p.report_date
    )
    as_of = date.fromisoformat(p.report_date)
    n, step = p.num_periods, p.aging_period
    per_name: dict[str, list[int]] = {}
    for key, amount in items.items():
        doc = ledger.documents.get(key)
        value = -amount if payables else amount
        due = doc.due_date if doc is not None else _posting_date(ledger, key)
        days = (as_of - date.fromisoformat(due)).days
        bucket = 0 if days <= 0 else min(1 + (days - 1) // step, n)
        who = (doc.vendor_id if payables else doc.customer_id) if doc is not None else None
        name_id = who or _posting_name(ledger, key) or ""
        per_name.setdefault(name_id, [0] * (n + 1))[bucket] += value
    titles = ["Current"]
    for i in range(1, n):
        titles.append(f"{(i - 1) * step + 1} - {i * step}")
    titles.append(f"{(n - 1) * step + 1} and over")
    rows = []
    totals = [0] * (n + 1)

    def order(name_id: str) -> tuple[str, str]:
        return (ledger.names.get(name_id, name_id).lower(), name_id)

    for who in sorted(per_name, key=order):
        values = per_name[who]
        totals = [a + b for a, b in zip(totals, values, strict=True)]
        name = ledger.names.get(who, who or "(no name)")
        cells_ = [
            _cell(name, who or None),
            *(_cell(money(v) if v else "") for v in values),
            _cell(money(sum(values))),
        ]
        rows.append({"ColData": cells_})  # Intuit's example: aging rows carry no "type"
    rows.append(
        _section(
            None,
            [],
            [_cell("TOTAL"), *(_cell(money(v)) for v in totals), _cell(money(sum(totals)))],
            "GrandTotal",
        )
    )
    kind = "Vendor" if payables else "Customer"
    columns = [{"ColType": kind, "ColTitle": ""}]
    columns += [{"ColType": "Money", "ColTitle": t} for t in titles]
    columns.append({"ColType": "Money", "ColTitle": "Total"})
    return {"Header": hdr, "Rows": {"Row": rows}, "Columns": {"Column": columns}}


def _postings_of(ledger: Ledger, key: tuple[str, str]) -> Iterator[Posting]:
    for post in ledger.postings[ACCRUAL]:
        if (post.txn_type, post.txn_id) == key:
            yield post


def _posting_date(ledger: Ledger, key: tuple[str, str]) -> str:
    return next((post.date for post in _postings_of(ledger, key)), "1970-01-01")


def _posting_name(ledger: Ledger, key: tuple[str, str]) -> str | None:
    return next((post.name_id for post in _postings_of(ledger, key) if post.name_id), None)


# ---------------------------------------------------------------------------- entry point


def build_report(
    ledger: Ledger,
    name: str,
    params: Mapping[str, str | None],
    *,
    today: str,
    time_text: str,
    currency: str = "USD",
) -> dict[str, Any]:
    """The report `name` for the request parameters; raises ReportError on a bad request."""
    if name not in REPORTS:
        raise ReportError("2010", "Unsupported report", f"report {name!r} is not supported")
    p = parse_params(params, today)
    if name in ("AgedReceivables", "AgedPayables"):
        hdr = header(name, p, currency, time_text)
        del hdr["ReportBasis"], hdr["SummarizeColumnsBy"]
        hdr["Option"].insert(0, {"Name": "report_date", "Value": p.report_date})
        return aging(ledger, p, hdr, payables=name == "AgedPayables")
    hdr = header(name, p, currency, time_text)
    builders = {
        "ProfitAndLoss": profit_and_loss,
        "BalanceSheet": balance_sheet,
        "CashFlow": cash_flow,
        "TrialBalance": trial_balance,
        "GeneralLedger": general_ledger,
        "ProfitAndLossDetail": profit_and_loss_detail,
    }
    report = builders[name](ledger, p, hdr)
    if not report["Rows"]["Row"]:
        hdr["Option"][-1]["Value"] = "true"  # NoReportData
    return report


def cells(report: Mapping[str, Any]) -> int:
    """Cells of a report body (rows times columns), the measure of its size limit."""
    width = len(report.get("Columns", {}).get("Column", []))
    return width * sum(1 for _ in _walk(report.get("Rows", {}).get("Row", [])))


def _walk(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield row
        yield from _walk(row.get("Rows", {}).get("Row", []))


def truncate(report: dict[str, Any], max_cells: int) -> dict[str, Any]:
    """Cut a report after `max_cells` cells and end it with QuickBooks' notice, as it does."""
    width = max(1, len(report.get("Columns", {}).get("Column", [])))
    budget = [max_cells // width]

    def cut(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
        out: list[dict[str, Any]] = []
        for row in rows:
            if budget[0] <= 0:
                return out, True
            budget[0] -= 1
            kept = {k: v for k, v in row.items() if k != "Rows"}
            if "Rows" in row:
                inner, stopped = cut(row["Rows"]["Row"])
                kept["Rows"] = {"Row": inner}
                if stopped:  # a section cut short never reaches its Summary
                    kept.pop("Summary", None)
                    out.append(kept)
                    return out, True
            out.append(kept)
        return out, False

    rows, stopped = cut(report.get("Rows", {}).get("Row", []))
    if not stopped:
        return report
    rows.append(_data([_cell(TRUNCATED), *_blank(width - 1)]))
    return {**report, "Rows": {"Row": rows}}
