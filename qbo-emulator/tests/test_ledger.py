"""Posting rules and reports on a small hand-made company (no server)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from qbo_emulator.ledger import (
    ACCRUAL,
    CASH,
    LINE_SIGN,
    SETTLE_SIGN,
    Entry,
    LedgerError,
    Line,
    build_ledger,
    post,
)
from qbo_emulator.reports import (
    TRUNCATED,
    ReportError,
    build_report,
    cells,
    truncate,
)


def ref(value: str, name: str | None = None) -> dict[str, str]:
    return {"value": value, "name": name} if name else {"value": value}


def sales_line(n: int, item: str, amount: str) -> dict[str, Any]:
    return {
        "Id": str(n),
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": ref(item)},
    }


def expense_line(n: int, account: str, amount: str) -> dict[str, Any]:
    return {
        "Id": str(n),
        "Amount": amount,
        "DetailType": "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": {"AccountRef": ref(account)},
    }


ITEMS = [
    {"Id": "1", "Name": "Design", "Type": "Service", "IncomeAccountRef": ref("1")},
    {"Id": "2", "Name": "Pump", "Type": "Service", "IncomeAccountRef": ref("79")},
]
CUSTOMERS = [{"Id": "10", "DisplayName": "Amy's Bird Sanctuary"}]
VENDORS = [{"Id": "20", "DisplayName": "Books by Bessie"}]


def company(**extra: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    objects: dict[str, list[dict[str, Any]]] = {
        "Item": ITEMS,
        "Customer": CUSTOMERS,
        "Vendor": VENDORS,
        "Invoice": [
            {
                "Id": "100",
                "TxnDate": "2024-01-10",
                "DueDate": "2024-02-09",
                "DocNumber": "1001",
                "CustomerRef": ref("10", "Amy's Bird Sanctuary"),
                "Line": [
                    sales_line(1, "1", "300.00"),
                    sales_line(2, "2", "100.00"),
                    {"Amount": 400.0, "DetailType": "SubTotalLineDetail"},
                ],
                "TxnTaxDetail": {"TotalTax": 32},
                "TotalAmt": 432.0,
            }
        ],
        "Payment": [
            {
                "Id": "200",
                "TxnDate": "2024-02-05",
                "CustomerRef": ref("10"),
                "TotalAmt": 216.0,
                "DepositToAccountRef": ref("35"),
                "Line": [{"Amount": 216.0, "LinkedTxn": [{"TxnId": "100", "TxnType": "Invoice"}]}],
            }
        ],
        "Bill": [
            {
                "Id": "300",
                "TxnDate": "2024-01-20",
                "DueDate": "2024-01-30",
                "VendorRef": ref("20", "Books by Bessie"),
                "Line": [expense_line(1, "58", "1000.00"), expense_line(2, "76", "50.00")],
                "TotalAmt": 1050.0,
            }
        ],
        "BillPayment": [
            {
                "Id": "400",
                "TxnDate": "2024-02-10",
                "VendorRef": ref("20"),
                "TotalAmt": 1050.0,
                "PayType": "Check",
                "CheckPayment": {"BankAccountRef": ref("35")},
                "Line": [{"Amount": 1050.0, "LinkedTxn": [{"TxnId": "300", "TxnType": "Bill"}]}],
            }
        ],
        "JournalEntry": [
            {
                "Id": "500",
                "TxnDate": "2024-01-01",
                "Line": [
                    {
                        "Id": "0",
                        "Amount": 5000,
                        "DetailType": "JournalEntryLineDetail",
                        "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": ref("35")},
                    },
                    {
                        "Id": "1",
                        "Amount": 5000,
                        "DetailType": "JournalEntryLineDetail",
                        "JournalEntryLineDetail": {
                            "PostingType": "Credit",
                            "AccountRef": ref("34"),
                        },
                    },
                ],
            }
        ],
    }
    objects.update(extra)
    return objects


def values(report: dict[str, Any]) -> dict[str, list[str]]:
    """Label -> the other cells, for Data and Summary rows anywhere in a report."""
    out: dict[str, list[str]] = {}

    def walk(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            for cells_ in (row.get("ColData"), (row.get("Summary") or {}).get("ColData")):
                if cells_:
                    out[cells_[0]["value"]] = [c["value"] for c in cells_[1:]]
            walk((row.get("Rows") or {}).get("Row", []))

    walk(report["Rows"]["Row"])
    return out


def report(objects: dict[str, Any], name: str, **params: str) -> dict[str, Any]:
    return build_report(build_ledger(objects), name, params, today="2024-12-31", time_text="t")


# ------------------------------------------------------------------ the rules, entry by entry
EUR = Decimal("1.0833")


def payment(
    kind: str, txn_id: str, bank: str, open_account: str, total: int, *settles: tuple[str, str, int]
) -> Entry:
    """A payment entry: `settles` as (document type, id, amount) on its A/R or A/P account."""
    lines = [Line(open_account, cents, applies_to=(doc, iid)) for doc, iid, cents in settles]
    return Entry(kind, txn_id, bank, lines, total=total, open_account=open_account)


RULES = [
    (
        Entry("Invoice", "1", "84", [Line("1", 1000), Line("86", -100), Line("89", 72)]),
        [("1", -1000), ("86", 100), ("89", -72), ("84", 972)],
    ),
    (Entry("SalesReceipt", "2", "4", [Line("79", 500)]), [("79", -500), ("4", 500)]),
    (Entry("CreditMemo", "3", "84", [Line("1", 300)]), [("1", 300), ("84", -300)]),
    (Entry("RefundReceipt", "4", "35", [Line("1", 300)]), [("1", 300), ("35", -300)]),
    (
        payment("Payment", "5", "4", "84", 600, ("Invoice", "1", 700), ("CreditMemo", "3", 200)),
        # the unapplied 100 stays on A/R as the payment's own credit
        [("84", -700), ("84", 200), ("84", -100), ("4", 600)],
    ),
    (
        Entry("Bill", "6", "33", [Line("58", 1000), Line("76", 50)]),
        [("58", 1000), ("76", 50), ("33", -1050)],
    ),
    (Entry("VendorCredit", "7", "33", [Line("58", 100)]), [("58", -100), ("33", 100)]),
    (
        payment(
            "BillPayment", "8", "35", "33", 1000, ("Bill", "6", 1050), ("VendorCredit", "7", 100)
        ),
        [("33", 1050), ("33", -100), ("33", 50), ("35", -1000)],
    ),
    (Entry("Purchase", "9", "41", [Line("7", 500)]), [("7", 500), ("41", -500)]),
    (Entry("Purchase", "10", "41", [Line("7", 500)], reversed=True), [("7", -500), ("41", 500)]),
    (
        Entry("Deposit", "11", "35", [Line("4", 300), Line("59", 20)]),
        [("4", -300), ("59", -20), ("35", 320)],
    ),
    (Entry("Transfer", "12", "36", [Line("35", 100)]), [("35", -100), ("36", 100)]),
    (
        Entry("JournalEntry", "13", None, [Line("58", 100), Line("60", 20), Line("35", -120)]),
        [("58", 100), ("60", 20), ("35", -120)],
    ),
    (
        # foreign currency: each line converted, the last takes the rounding, A/P the total's value
        Entry("Bill", "14", "300", [Line("58", 3333), Line("76", 3333)], EUR),
        [("58", 3611), ("76", 3610), ("300", -7221)],
    ),
]


@pytest.mark.parametrize(("entry", "legs"), RULES, ids=[e.txn_type for e, _ in RULES])
def test_each_document_posts_its_rule_and_balances(
    entry: Entry, legs: list[tuple[str, int]]
) -> None:
    posted = post(entry)
    assert [(leg.account, leg.amount) for leg in posted] == legs
    assert sum(leg.amount for leg in posted) == 0
    assert sum(leg.txn_amount for leg in posted) == 0


def test_every_posting_type_has_a_rule() -> None:
    tested = {entry.txn_type for entry, _ in RULES}
    assert tested == set(LINE_SIGN) | set(SETTLE_SIGN)


def test_foreign_legs_keep_the_document_amounts() -> None:
    (entry, _) = RULES[-1]
    assert [leg.txn_amount for leg in post(entry)] == [3333, 3333, -6666]


def test_a_payment_line_must_settle_a_document() -> None:
    bad = Entry("Payment", "1", "4", [Line("84", 100)], total=100, open_account="84")
    with pytest.raises(LedgerError, match="settles no document"):
        post(bad)


# ------------------------------------------------------------------ accrual against cash


def cash_legs(objects: dict[str, Any], txn_type: str, txn_id: str) -> list[tuple[str, str, int]]:
    ledger = build_ledger(objects)
    return [
        (p.date, p.account_id, p.amount)
        for p in ledger.postings[CASH]
        if (p.txn_type, p.txn_id) == (txn_type, txn_id)
    ]


def unpaid_invoice(iid: str, amount: str) -> dict[str, Any]:
    return {
        "Id": iid,
        "TxnDate": "2024-03-01",
        "CustomerRef": ref("10"),
        "Line": [sales_line(1, "1", amount)],
        "TotalAmt": float(amount),
    }


def test_an_unpaid_invoice_posts_on_accrual_only() -> None:
    objects = company()
    objects["Invoice"] = [*objects["Invoice"], unpaid_invoice("101", "250.00")]
    ledger = build_ledger(objects)
    accrual = {p.account_id: p.amount for p in ledger.postings[ACCRUAL] if p.txn_id == "101"}
    assert accrual == {"1": -25000, "84": 25000}
    assert not [
        p for p in ledger.postings[CASH] if p.txn_id == "101" or p.applies_to == ("Invoice", "101")
    ]


def test_a_paid_invoice_posts_its_lines_on_the_payment_date_on_cash() -> None:
    objects = company()
    objects["Invoice"] = [*objects["Invoice"], unpaid_invoice("102", "100.00")]
    payment = {
        "Id": "202",
        "TxnDate": "2024-04-15",
        "CustomerRef": ref("10"),
        "TotalAmt": 100.0,
        "DepositToAccountRef": ref("35"),
        "Line": [{"Amount": 100.0, "LinkedTxn": [{"TxnId": "102", "TxnType": "Invoice"}]}],
    }
    objects["Payment"] = [*objects["Payment"], payment]
    # accrual: income when invoiced, the payment only moves A/R to the bank
    ledger = build_ledger(objects)
    paid = {p.account_id: p.amount for p in ledger.postings[ACCRUAL] if p.txn_id == "202"}
    assert paid == {"84": -10000, "35": 10000}
    # cash: the income moves to the payment's date, A/R is never touched
    assert sorted(cash_legs(objects, "Payment", "202")) == [
        ("2024-04-15", "1", -10000),
        ("2024-04-15", "35", 10000),
    ]
    assert not cash_legs(objects, "Invoice", "102")


def test_a_bill_payment_recognises_the_bill_expenses_on_cash() -> None:
    objects = company()
    assert sorted(cash_legs(objects, "BillPayment", "400")) == [
        ("2024-02-10", "35", -105000),
        ("2024-02-10", "58", 100000),
        ("2024-02-10", "76", 5000),
    ]
    assert not cash_legs(objects, "Bill", "300")
    accrual = build_ledger(objects).postings[ACCRUAL]
    assert {p.account_id for p in accrual if p.txn_id == "400"} == {"33", "35"}


def in_euros(obj: dict[str, Any], rate: float) -> dict[str, Any]:
    return {**obj, "CurrencyRef": ref("EUR"), "ExchangeRate": rate}


def test_a_foreign_bill_paid_at_another_rate_on_both_bases() -> None:
    bill = {
        "Id": "301",
        "TxnDate": "2024-05-01",
        "VendorRef": ref("20"),
        "Line": [expense_line(1, "58", "33.33"), expense_line(2, "76", "33.33")],
        "TotalAmt": 66.66,
    }
    payment = {
        "Id": "401",
        "TxnDate": "2024-06-01",
        "VendorRef": ref("20"),
        "TotalAmt": 66.66,
        "CheckPayment": {"BankAccountRef": ref("35")},
        "Line": [{"Amount": 66.66, "LinkedTxn": [{"TxnId": "301", "TxnType": "Bill"}]}],
    }
    bill, payment = in_euros(bill, 1.0833), in_euros(payment, 1.1)
    objects = company(Bill=[bill], BillPayment=[payment])
    ledger = build_ledger(objects)
    accrual = [p for p in ledger.postings[ACCRUAL] if p.txn_id in ("301", "401")]
    # accrual: the expenses at the bill's rate (72.21), the bank at the payment's (73.33)
    assert sum(p.amount for p in accrual if p.account_id in ("58", "76")) == 7221
    assert sum(p.amount for p in accrual if p.account_id == "35") == -7333
    # cash: the expenses at the payment's value, in the bill's proportions
    legs = cash_legs(objects, "BillPayment", "401")
    assert sorted(legs) == [
        ("2024-06-01", "35", -7333),
        ("2024-06-01", "58", 3667),
        ("2024-06-01", "76", 3666),
    ]


def test_every_transaction_balances_on_both_bases() -> None:
    ledger = build_ledger(company())
    for basis in (ACCRUAL, CASH):
        by_txn: dict[tuple[str, str], int] = {}
        for p in ledger.postings[basis]:
            by_txn[(p.txn_type, p.txn_id)] = by_txn.get((p.txn_type, p.txn_id), 0) + p.amount
        assert by_txn and all(v == 0 for v in by_txn.values()), (basis, by_txn)


def test_invoice_credits_income_per_line_and_tax_and_debits_ar() -> None:
    ledger = build_ledger(company())
    legs = {p.account_id: p.amount for p in ledger.postings[ACCRUAL] if p.txn_type == "Invoice"}
    assert legs == {"1": -30000, "79": -10000, "89": -3200, "84": 43200}


def test_cash_basis_recognises_the_paid_share_on_the_payment_date() -> None:
    ledger = build_ledger(company())
    cash = [p for p in ledger.postings[CASH] if p.txn_type == "Payment"]
    assert {p.date for p in cash} == {"2024-02-05"}
    by_account = {p.account_id: p.amount for p in cash}
    # half of the invoice is paid: half of each line, half of the tax
    assert by_account == {"1": -15000, "79": -5000, "89": -1600, "35": 21600}
    assert not [p for p in ledger.postings[CASH] if p.txn_type == "Invoice"]


def test_profit_and_loss_by_basis() -> None:
    objects = company()
    accrual = values(
        report(objects, "ProfitAndLoss", start_date="2024-01-01", end_date="2024-01-31")
    )
    assert accrual["Total Income"] == ["400.00"]
    assert accrual["Total Expenses"] == ["1050.00"]
    assert accrual["Net Income"] == ["-650.00"]
    cash_jan = values(
        report(
            objects,
            "ProfitAndLoss",
            start_date="2024-01-01",
            end_date="2024-01-31",
            accounting_method="Cash",
        )
    )
    assert cash_jan["Net Income"] == ["0.00"]
    cash_feb = values(
        report(
            objects,
            "ProfitAndLoss",
            start_date="2024-02-01",
            end_date="2024-02-29",
            accounting_method="Cash",
        )
    )
    assert cash_feb["Total Income"] == ["200.00"]
    assert cash_feb["Net Income"] == ["-850.00"]


def test_monthly_columns_and_total() -> None:
    body = report(
        company(),
        "ProfitAndLoss",
        start_date="2024-01-01",
        end_date="2024-03-31",
        summarize_column_by="Month",
    )
    keys = [c["MetaData"][-1]["Value"] for c in body["Columns"]["Column"]]
    assert keys == ["account", "Jan 2024", "Feb 2024", "Mar 2024", "total"]
    assert values(body)["Net Income"] == ["-650.00", "0.00", "0.00", "-650.00"]


def test_balance_sheet_balances_and_carries_net_income() -> None:
    for basis in ("Accrual", "Cash"):
        body = report(
            company(),
            "BalanceSheet",
            start_date="2024-01-01",
            end_date="2024-01-31",
            accounting_method=basis,
        )
        v = values(body)
        assert v["TOTAL ASSETS"] == v["TOTAL LIABILITIES AND EQUITY"], basis
    v = values(report(company(), "BalanceSheet", start_date="2024-01-01", end_date="2024-01-31"))
    assert v["Accounts Receivable (A/R)"] == ["432.00"]
    assert v["Accounts Payable (A/P)"] == ["1050.00"]
    assert v["Net Income"] == ["-650.00"]


def test_retained_earnings_carry_prior_years() -> None:
    body = report(company(), "BalanceSheet", start_date="2025-01-01", end_date="2025-01-31")
    v = values(body)
    assert v["Retained Earnings"] == ["-650.00"]
    assert v["Net Income"] == ["0.00"]
    assert v["TOTAL ASSETS"] == v["TOTAL LIABILITIES AND EQUITY"]


def test_cash_flow_ends_at_the_bank_balance() -> None:
    for basis in ("Accrual", "Cash"):
        v = values(
            report(
                company(),
                "CashFlow",
                start_date="2024-02-01",
                end_date="2024-02-29",
                accounting_method=basis,
            )
        )
        assert v["Cash at beginning of period"] == ["5000.00"]
        assert v["NET CASH INCREASE FOR PERIOD"] == ["-834.00"]
        assert v["CASH AT END OF PERIOD"] == ["4166.00"]


def test_trial_balance_debits_equal_credits() -> None:
    for end in ("2024-01-31", "2024-02-29", "2025-03-31"):
        total = values(report(company(), "TrialBalance", start_date="2024-01-01", end_date=end))
        debit, credit = total["TOTAL"]
        assert debit == credit, end


def test_general_ledger_sections_sum_to_their_totals() -> None:
    body = report(company(), "GeneralLedger", start_date="2024-02-01", end_date="2024-02-29")
    amount = [c["MetaData"][0]["Value"] for c in body["Columns"]["Column"]].index("subt_nat_amount")
    sections = body["Rows"]["Row"]
    assert sections
    for sec in sections:
        data = [r for r in sec["Rows"]["Row"] if r["ColData"][0]["value"] != "Beginning Balance"]
        total = sum(Decimal(r["ColData"][amount]["value"]) for r in data)
        assert total == Decimal(sec["Summary"]["ColData"][amount]["value"])
    checking = next(s for s in sections if s["Header"]["ColData"][0].get("id") == "35")
    first = checking["Rows"]["Row"][0]["ColData"]
    assert first[0]["value"] == "Beginning Balance" and first[-1]["value"] == "5000.00"
    assert checking["Summary"]["ColData"][-1]["value"] == "4166.00"


def test_general_ledger_columns_parameter() -> None:
    body = report(
        company(),
        "GeneralLedger",
        start_date="2024-01-01",
        end_date="2024-01-31",
        columns="tx_date,subt_nat_amount",
    )
    assert [c["ColTitle"] for c in body["Columns"]["Column"]] == ["Date", "Amount"]
    assert all(len(r["ColData"]) == 2 for s in body["Rows"]["Row"] for r in s["Rows"]["Row"])


def test_aging_as_of_a_day() -> None:
    v = values(report(company(), "AgedReceivables", report_date="2024-03-15"))
    # 216.00 open, due 2024-02-09: 35 days past due
    assert v["Amy's Bird Sanctuary"] == ["", "", "216.00", "", "", "216.00"]
    assert v["TOTAL"] == ["0.00", "0.00", "216.00", "0.00", "0.00", "216.00"]
    early = values(report(company(), "AgedReceivables", report_date="2024-01-31"))
    assert early["Amy's Bird Sanctuary"][0] == "432.00"  # not yet due
    payables = values(report(company(), "AgedPayables", report_date="2024-02-05"))
    assert payables["Books by Bessie"] == ["", "1050.00", "", "", "", "1050.00"]
    assert (
        values(report(company(), "AgedPayables", report_date="2024-02-10"))["TOTAL"][-1] == "0.00"
    )


def test_aging_periods_parameters() -> None:
    body = report(
        company(), "AgedReceivables", report_date="2024-03-15", aging_period="15", num_periods="2"
    )
    titles = [c["ColTitle"] for c in body["Columns"]["Column"]]
    assert titles == ["", "Current", "1 - 15", "16 and over", "Total"]


def test_profit_and_loss_detail_totals() -> None:
    body = report(company(), "ProfitAndLossDetail", start_date="2024-01-01", end_date="2024-01-31")
    v = values(body)
    assert v["Total Income"][-2] == "400.00"
    assert v["Total for Rent or Lease"][-2] == "1000.00"
    assert v["Net Income"][-2] == "-650.00"


def test_multicurrency_posts_in_home_currency_and_balances() -> None:
    invoice = {
        "Id": "101",
        "TxnDate": "2024-01-15",
        "CustomerRef": ref("10"),
        "CurrencyRef": ref("EUR"),
        "ExchangeRate": 1.0833,
        "Line": [sales_line(1, "1", "33.33"), sales_line(2, "2", "33.33")],
        "TotalAmt": 66.66,
    }
    ledger = build_ledger(company(Invoice=[invoice]))
    legs = [p for p in ledger.postings[ACCRUAL] if p.txn_id == "101"]
    assert sum(p.amount for p in legs) == 0
    # each line converted (36.11), the last one taking the rounding: the total is 72.21
    assert sorted(p.amount for p in legs if p.account_id != "84") == [-3611, -3610]
    assert all(p.currency == "EUR" for p in legs)


def test_unbalanced_journal_entry_is_refused() -> None:
    bad = {
        "Id": "9",
        "TxnDate": "2024-01-01",
        "Line": [
            {
                "Amount": 5,
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": ref("35")},
            }
        ],
    }
    with pytest.raises(LedgerError, match="does not balance"):
        build_ledger(company(JournalEntry=[bad]))


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"start_date": "2024-13-01"}, "start_date"),
        ({"start_date": "2024-02-01", "end_date": "2024-01-01"}, "after"),
        ({"accounting_method": "Modified"}, "accounting_method"),
        ({"summarize_column_by": "Week"}, "summarize_column_by"),
        ({"columns": "tx_date,bogus"}, "bogus"),
        ({"aging_period": "0"}, "aging_period"),
    ],
)
def test_bad_parameters(params: dict[str, str], detail: str) -> None:
    with pytest.raises(ReportError, match=detail):
        report(company(), "GeneralLedger", **params)


def test_truncation_keeps_a_prefix_and_appends_the_notice() -> None:
    body = report(company(), "GeneralLedger", start_date="2024-01-01", end_date="2024-12-31")
    size = cells(body)
    assert truncate(body, size) is body
    cut = truncate(body, size // 2)
    last = cut["Rows"]["Row"][-1]["ColData"][0]["value"]
    assert last == TRUNCATED
    assert cells(cut) <= size // 2 + len(body["Columns"]["Column"])
