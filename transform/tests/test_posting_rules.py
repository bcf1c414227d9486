"""The posting rules, the statements and the aging on a small hand-made company.

Every transaction below is a QuickBooks payload in the shape the API returns (Line[], refs as
{"value": ...}, amounts as numbers); the expected postings are what QuickBooks' own rules give
(transform/README.md, "Posting rules"). A second company reuses the same ids to prove that no
model mixes companies. Streams that are not loaded here (budgets, employees, ...) have no raw
table at all, which `dbt build` must survive.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

if TYPE_CHECKING:
    from conftest import Warehouse

R1 = "9130000000000001"
R2 = "9130000000000002"


def ref(value: str) -> dict[str, str]:
    return {"value": value}


def account(
    id_: str, name: str, type_: str, sub: str, classification: str, currency: str = "USD"
) -> dict[str, Any]:
    return {
        "Id": id_,
        "Name": name,
        "AccountType": type_,
        "AccountSubType": sub,
        "Classification": classification,
        "CurrencyRef": ref(currency),
        "Active": True,
    }


def sales_line(n: int, item: str, amount: float) -> dict[str, Any]:
    return {
        "Id": str(n),
        "LineNum": n,
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {
            "ItemRef": ref(item),
            "Qty": 1,
            "UnitPrice": amount,
            "TaxCodeRef": ref("NON"),
        },
    }


def subtotal(amount: float) -> dict[str, Any]:
    return {"Amount": amount, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}


def expense_line(n: int, account_id: str, amount: float) -> dict[str, Any]:
    return {
        "Id": str(n),
        "Amount": amount,
        "DetailType": "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": {
            "AccountRef": ref(account_id),
            "BillableStatus": "NotBillable",
        },
    }


def item_expense_line(n: int, item: str, amount: float) -> dict[str, Any]:
    return {
        "Id": str(n),
        "Amount": amount,
        "DetailType": "ItemBasedExpenseLineDetail",
        "ItemBasedExpenseLineDetail": {"ItemRef": ref(item), "Qty": 1, "UnitPrice": amount},
    }


def txn(
    id_: str, date: str, total: float, lines: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "Id": id_,
        "TxnDate": date,
        "TotalAmt": total,
        "CurrencyRef": ref("USD"),
        "Line": lines,
        **extra,
    }


ACCOUNTS: list[dict[str, Any]] = [
    account("1", "Checking", "Bank", "Checking", "Asset"),
    account("2", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset"),
    account("3", "Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset"),
    account("4", "Sales", "Income", "SalesOfProductIncome", "Revenue"),
    account("5", "Discounts given", "Income", "DiscountsRefundsGiven", "Revenue"),
    account("6", "Sales Tax Payable", "Other Current Liability", "SalesTaxPayable", "Liability"),
    account("7", "Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", "Liability"),
    account("8", "Rent", "Expense", "RentOrLeaseOfBuildings", "Expense"),
    account("9", "Inventory Asset", "Other Current Asset", "Inventory", "Asset"),
    account("10", "Visa", "Credit Card", "CreditCard", "Liability"),
    account("11", "Retained Earnings", "Equity", "RetainedEarnings", "Equity"),
    account("12", "Supplies", "Expense", "SuppliesMaterials", "Expense"),
    account("13", "Owner's Investment", "Equity", "OwnersEquity", "Equity"),
    account("14", "Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs", "Expense"),
    account(
        "15",
        "Accounts Receivable (A/R) - EUR",
        "Accounts Receivable",
        "AccountsReceivable",
        "Asset",
        "EUR",
    ),
]
ITEMS: list[dict[str, Any]] = [
    {"Id": "1", "Name": "Design", "Type": "Service", "IncomeAccountRef": ref("4")},
    {
        "Id": "2",
        "Name": "Widget",
        "Type": "Inventory",
        "TrackQtyOnHand": True,
        "IncomeAccountRef": ref("4"),
        "ExpenseAccountRef": ref("14"),
        "AssetAccountRef": ref("9"),
    },
]
CUSTOMERS: list[dict[str, Any]] = [
    {"Id": "1", "DisplayName": "Amy"},
    {"Id": "2", "DisplayName": "Bert GmbH", "CurrencyRef": ref("EUR")},
]
VENDORS = [{"Id": "1", "DisplayName": "Landlord"}]
PREFERENCES = [
    {"Id": "1", "CurrencyPrefs": {"HomeCurrency": ref("USD"), "MultiCurrencyEnabled": True}}
]

INVOICES = [
    txn(
        "1",
        "2026-01-05",
        145.80,
        [
            sales_line(1, "1", 100.00),
            sales_line(2, "2", 50.00),
            subtotal(150.00),
            {
                "Amount": 15.00,
                "DetailType": "DiscountLineDetail",
                "DiscountLineDetail": {
                    "PercentBased": True,
                    "DiscountPercent": 10,
                    "DiscountAccountRef": ref("5"),
                },
            },
        ],
        CustomerRef=ref("1"),
        DueDate="2026-02-04",
        TxnTaxDetail={"TotalTax": 10.80},
    ),
    txn(
        "2",
        "2026-01-10",
        100.00,
        [
            {
                "Id": "1",
                "Amount": 100.00,
                "DetailType": "GroupLineDetail",
                "GroupLineDetail": {
                    "GroupItemRef": ref("3"),
                    "Quantity": 1,
                    "Line": [sales_line(2, "1", 40.00), sales_line(3, "2", 60.00)],
                },
            }
        ],
        CustomerRef=ref("1"),
    ),
    # A foreign-currency invoice: 33.33 EUR at 1.1 is 36.66 USD (36.663 rounded to the cent).
    {
        **txn(
            "4",
            "2026-02-20",
            33.33,
            [sales_line(1, "1", 33.33)],
            CustomerRef=ref("2"),
            DueDate="2026-03-22",
        ),
        "CurrencyRef": ref("EUR"),
        "ExchangeRate": 1.1,
    },
]
# Two lines of 0.05 EUR at 1.1 are 0.055 USD each: A/R carries the converted total, 0.11, each
# line is rounded on its own (0.06) and the last one takes the difference (0.05).
INVOICES.append(
    {
        **txn(
            "5",
            "2026-02-21",
            0.10,
            [sales_line(1, "1", 0.05), sales_line(2, "1", 0.05)],
            CustomerRef=ref("2"),
            DueDate="2026-03-23",
        ),
        "CurrencyRef": ref("EUR"),
        "ExchangeRate": 1.1,
    }
)
DELETED_INVOICE = txn("3", "2026-01-12", 999.00, [sales_line(1, "1", 999.00)], CustomerRef=ref("1"))
PAYMENTS = [
    txn(
        "1",
        "2026-02-10",
        100.00,
        [{"Amount": 100.00, "LinkedTxn": [{"TxnId": "1", "TxnType": "Invoice"}]}],
        CustomerRef=ref("1"),
    )
]
DEPOSITS = [
    txn(
        "1",
        "2026-02-11",
        100.00,
        [{"Amount": 100.00, "LinkedTxn": [{"TxnId": "1", "TxnType": "Payment", "TxnLineId": "0"}]}],
        DepositToAccountRef=ref("1"),
    )
]
CREDIT_MEMOS = [txn("1", "2026-02-15", 20.00, [sales_line(1, "1", 20.00)], CustomerRef=ref("1"))]
SALES_RECEIPTS = [
    txn("1", "2026-02-16", 30.00, [sales_line(1, "1", 30.00)], DepositToAccountRef=ref("1"))
]
REFUND_RECEIPTS = [
    txn("1", "2026-02-17", 10.00, [sales_line(1, "1", 10.00)], DepositToAccountRef=ref("1"))
]
BILLS = [
    txn(
        "1",
        "2026-01-20",
        700.00,
        [expense_line(1, "8", 500.00), item_expense_line(2, "2", 200.00)],
        VendorRef=ref("1"),
        DueDate="2026-02-19",
    )
]
VENDOR_CREDITS = [txn("1", "2026-01-25", 50.00, [expense_line(1, "8", 50.00)], VendorRef=ref("1"))]
BILL_PAYMENTS = [
    txn(
        "1",
        "2026-02-25",
        300.00,
        [{"Amount": 300.00, "LinkedTxn": [{"TxnId": "1", "TxnType": "Bill"}]}],
        VendorRef=ref("1"),
        PayType="Check",
        CheckPayment={"BankAccountRef": ref("1")},
    )
]
PURCHASES = [
    txn(
        "1",
        "2026-01-28",
        25.00,
        [expense_line(1, "12", 25.00)],
        AccountRef=ref("10"),
        PaymentType="CreditCard",
    ),
    txn(
        "2",
        "2026-01-29",
        5.00,
        [expense_line(1, "12", 5.00)],
        AccountRef=ref("10"),
        PaymentType="CreditCard",
        Credit=True,
    ),
]
TRANSFERS = [
    {
        "Id": "1",
        "TxnDate": "2026-02-26",
        "Amount": 100.00,
        "FromAccountRef": ref("1"),
        "ToAccountRef": ref("10"),
    }
]
JOURNAL_ENTRIES = [
    txn(
        "1",
        "2026-01-01",
        0,
        [
            {
                "Id": "0",
                "Amount": 1000.00,
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": ref("1")},
            },
            {
                "Id": "1",
                "Amount": 1000.00,
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": ref("13")},
            },
        ],
    )
]
ESTIMATES = [txn("1", "2026-01-02", 500.00, [sales_line(1, "1", 500.00)], CustomerRef=ref("1"))]

# (transaction type, id) -> {account id: debit - credit}, in the home currency.
EXPECTED = {
    ("Invoice", "1"): {
        "4": Decimal("-150.00"),
        "5": Decimal("15.00"),
        "6": Decimal("-10.80"),
        "2": Decimal("145.80"),
    },
    ("Invoice", "2"): {"4": Decimal("-100.00"), "2": Decimal("100.00")},
    ("Invoice", "4"): {"4": Decimal("-36.66"), "15": Decimal("36.66")},
    ("Invoice", "5"): {"4": Decimal("-0.11"), "15": Decimal("0.11")},
    ("Payment", "1"): {"3": Decimal("100.00"), "2": Decimal("-100.00")},
    ("Deposit", "1"): {"3": Decimal("-100.00"), "1": Decimal("100.00")},
    ("CreditMemo", "1"): {"4": Decimal("20.00"), "2": Decimal("-20.00")},
    ("SalesReceipt", "1"): {"4": Decimal("-30.00"), "1": Decimal("30.00")},
    ("RefundReceipt", "1"): {"4": Decimal("10.00"), "1": Decimal("-10.00")},
    ("Bill", "1"): {"8": Decimal("500.00"), "9": Decimal("200.00"), "7": Decimal("-700.00")},
    ("VendorCredit", "1"): {"8": Decimal("-50.00"), "7": Decimal("50.00")},
    ("BillPayment", "1"): {"7": Decimal("300.00"), "1": Decimal("-300.00")},
    ("Purchase", "1"): {"12": Decimal("25.00"), "10": Decimal("-25.00")},
    ("Purchase", "2"): {"12": Decimal("-5.00"), "10": Decimal("5.00")},
    ("Transfer", "1"): {"10": Decimal("100.00"), "1": Decimal("-100.00")},
    ("JournalEntry", "1"): {"1": Decimal("1000.00"), "13": Decimal("-1000.00")},
}

# A third company for the cash basis: two EUR invoices paid by one EUR payment at another rate
# (each payment line converted on its own, the last taking the rounding difference), and a USD
# invoice paid in full by a payment with 20.00 left unapplied.
R3 = "9130000000000003"


def eur(doc: dict[str, Any], rate: float) -> dict[str, Any]:
    return {**doc, "CurrencyRef": ref("EUR"), "ExchangeRate": rate}


R3_INVOICES = [
    eur(txn("10", "2026-03-02", 0.05, [sales_line(1, "1", 0.05)], CustomerRef=ref("2")), 1.1),
    eur(txn("11", "2026-03-02", 0.05, [sales_line(1, "1", 0.05)], CustomerRef=ref("2")), 1.1),
    txn("12", "2026-03-03", 30.00, [sales_line(1, "1", 30.00)], CustomerRef=ref("1")),
]
R3_PAYMENTS = [
    eur(
        txn(
            "20",
            "2026-03-10",
            0.10,
            [
                {"Amount": 0.05, "LinkedTxn": [{"TxnId": "10", "TxnType": "Invoice"}]},
                {"Amount": 0.05, "LinkedTxn": [{"TxnId": "11", "TxnType": "Invoice"}]},
            ],
            CustomerRef=ref("2"),
        ),
        1.3,
    ),
    txn(
        "21",
        "2026-03-11",
        50.00,
        [{"Amount": 30.00, "LinkedTxn": [{"TxnId": "12", "TxnType": "Invoice"}]}],
        CustomerRef=ref("1"),
        UnappliedAmt=20.00,
    ),
]


REPORT_DDL = """
create table raw.qb_report_profit_and_loss (
    realm_id text, accounting_method text, period_start date, period_end date, payload jsonb,
    _sdc_deleted_at timestamp, primary key (realm_id, accounting_method, period_start, period_end)
)
"""


def pl_report(amounts: dict[str, str]) -> str:
    """A ProfitAndLoss body (QuickBooks' shape, one `total` column) with one line per account."""
    columns = [
        {
            "ColTitle": "",
            "ColType": "Account",
            "MetaData": [{"Name": "ColKey", "Value": "account"}],
        },
        {
            "ColTitle": "Total",
            "ColType": "Money",
            "MetaData": [{"Name": "ColKey", "Value": "total"}],
        },
    ]
    rows = [
        {"type": "Data", "ColData": [{"value": f"Account {a}", "id": a}, {"value": v}]}
        for a, v in amounts.items()
    ]
    section = {
        "type": "Section",
        "group": "Income",
        "Header": {"ColData": [{"value": "Income"}, {"value": ""}]},
        "Rows": {"Row": rows},
        "Summary": {"ColData": [{"value": "Total Income"}, {"value": ""}]},
    }
    return json.dumps({"Columns": {"Column": columns}, "Rows": {"Row": [section]}})


@pytest.fixture(scope="module")
def built(warehouse: Warehouse) -> Warehouse:
    warehouse.load("accounts", R1, ACCOUNTS)
    # The second company's A/R account has another id: a default taken from the wrong company shows.
    warehouse.load(
        "accounts", R2, [a for a in ACCOUNTS if a["Id"] != "2"] + [{**ACCOUNTS[1], "Id": "102"}]
    )
    warehouse.load("accounts", R3, ACCOUNTS)
    warehouse.load("invoices", R3, R3_INVOICES)
    warehouse.load("payments", R3, R3_PAYMENTS)
    for realm in (R1, R2, R3):
        warehouse.load("items", realm, ITEMS)
        warehouse.load("customers", realm, CUSTOMERS)
        warehouse.load("vendors", realm, VENDORS)
        warehouse.load("preferences", realm, PREFERENCES)
    warehouse.load("invoices", R1, INVOICES)
    warehouse.load("invoices", R1, [DELETED_INVOICE], deleted=True)
    warehouse.load("payments", R1, PAYMENTS)
    warehouse.load("deposits", R1, DEPOSITS)
    warehouse.load("credit_memos", R1, CREDIT_MEMOS)
    warehouse.load("sales_receipts", R1, SALES_RECEIPTS)
    warehouse.load("refund_receipts", R1, REFUND_RECEIPTS)
    warehouse.load("bills", R1, BILLS)
    warehouse.load("vendor_credits", R1, VENDOR_CREDITS)
    warehouse.load("bill_payments", R1, BILL_PAYMENTS)
    warehouse.load("purchases", R1, PURCHASES)
    warehouse.load("transfers", R1, TRANSFERS)
    warehouse.load("journal_entries", R1, JOURNAL_ENTRIES)
    warehouse.load("estimates", R1, ESTIMATES)
    # The second company: invoice 1 again, with another amount, in its own books.
    warehouse.load(
        "invoices",
        R2,
        [txn("1", "2026-01-05", 999.00, [sales_line(1, "1", 999.00)], CustomerRef=ref("1"))],
    )
    # QuickBooks' P&L for January as the report stream stores it, on both bases: one account
    # off by 1.00 on the accrual basis; on the cash basis the supplies bought (the invoices and
    # the bill are not paid yet), and an income line the models do not have.
    warehouse.execute(REPORT_DDL)
    warehouse.execute(
        "insert into raw.qb_report_profit_and_loss values"
        " (%s, %s, '2026-01-01', '2026-01-31', %s, null)",
        [
            (
                R1,
                "Accrual",
                pl_report({"4": "250.00", "5": "-15.00", "8": "451.00", "12": "20.00"}),
            ),
            (R1, "Cash", pl_report({"12": "20.00", "4": "1.00"})),
        ],
    )
    result = warehouse.dbt("build")
    if result.returncode != 0:
        pytest.fail("dbt build failed:\n" + "\n".join(result.stdout.splitlines()[-60:]))
    return warehouse


def postings(wh: Warehouse, realm: str) -> dict[tuple[str, str], dict[str, Decimal]]:
    found: dict[tuple[str, str], dict[str, Decimal]] = {}
    for row in wh.query(
        "select transaction_type, transaction_id, account_id, sum(amount) as amount"
        " from analytics.general_ledger where realm_id = %s group by 1, 2, 3",
        realm,
    ):
        found.setdefault((row["transaction_type"], row["transaction_id"]), {})[
            row["account_id"]
        ] = row["amount"]
    return found


def test_every_transaction_posts_by_the_rules(built: Warehouse) -> None:
    assert postings(built, R1) == EXPECTED


def test_debit_credit_and_transaction_currency_beside_home_amounts(built: Warehouse) -> None:
    rows = built.query(
        "select account_id, debit, credit, amount, currency, exchange_rate,"
        " amount_in_transaction_currency, home_currency from analytics.general_ledger"
        " where realm_id = %s and transaction_type = 'Invoice' and transaction_id = '4'"
        " order by account_id",
        R1,
    )
    assert [
        (r["account_id"], r["debit"], r["credit"], r["amount_in_transaction_currency"])
        for r in rows
    ] == [
        ("15", Decimal("36.66"), Decimal("0"), Decimal("33.33")),
        ("4", Decimal("0"), Decimal("36.66"), Decimal("-33.33")),
    ]
    assert {(r["currency"], r["exchange_rate"], r["home_currency"]) for r in rows} == {
        ("EUR", Decimal("1.1"), "USD")
    }


def test_foreign_rounding_lands_on_the_last_line(built: Warehouse) -> None:
    rows = built.query(
        "select posting_index, amount from analytics.general_ledger"
        " where realm_id = %s and transaction_type = 'Invoice' and transaction_id = '5'"
        " order by posting_index",
        R1,
    )
    assert [(r["posting_index"], r["amount"]) for r in rows] == [
        ("1", Decimal("-0.06")),
        ("2", Decimal("-0.05")),
        ("control", Decimal("0.11")),
    ]


def test_companies_do_not_mix(built: Warehouse) -> None:
    assert postings(built, R2) == {
        ("Invoice", "1"): {"4": Decimal("-999.00"), "102": Decimal("999.00")}
    }
    months = built.query("select distinct realm_id from analytics.trial_balance order by 1")
    assert [m["realm_id"] for m in months] == [R1, R2, R3]


def test_trial_balance_nets_to_zero_every_month_on_each_basis(built: Warehouse) -> None:
    rows = built.query(
        "select realm_id, accounting_method, period_month, sum(closing_balance) as closing,"
        " sum(period_net) as net, count(*) as n"
        " from analytics.trial_balance group by 1, 2, 3 order by 1, 2, 3"
    )
    # R2's only invoice is unpaid: nothing on its cash basis.
    assert [(r["realm_id"], r["accounting_method"], str(r["period_month"])) for r in rows] == [
        (R1, "Accrual", "2026-01-01"),
        (R1, "Accrual", "2026-02-01"),
        (R1, "Cash", "2026-01-01"),
        (R1, "Cash", "2026-02-01"),
        (R2, "Accrual", "2026-01-01"),
        (R3, "Accrual", "2026-03-01"),
        (R3, "Cash", "2026-03-01"),
    ]
    assert all(r["closing"] == 0 and r["net"] == 0 and r["n"] > 0 for r in rows)


def test_profit_and_loss_by_month_and_section(built: Warehouse) -> None:
    rows = built.query(
        "select period_month::text as month, account_id, section, amount"
        " from analytics.profit_and_loss where realm_id = %s and accounting_method = 'Accrual'"
        " order by 1, 2",
        R1,
    )
    assert [(r["month"], r["account_id"], r["section"], r["amount"]) for r in rows] == [
        ("2026-01-01", "12", "Expenses", Decimal("20.00")),
        ("2026-01-01", "4", "Income", Decimal("250.00")),
        ("2026-01-01", "5", "Income", Decimal("-15.00")),
        ("2026-01-01", "8", "Expenses", Decimal("450.00")),
        ("2026-02-01", "4", "Income", Decimal("36.77")),
    ]


def test_balance_sheet_closes_profit_into_net_income(built: Warehouse) -> None:
    rows = built.query(
        "select account_id, section, amount from analytics.balance_sheet"
        " where realm_id = %s and accounting_method = 'Accrual' and period_month = '2026-02-01'"
        " order by account_id",
        R1,
    )
    sheet = {r["account_id"]: r["amount"] for r in rows}
    # Checking: 1000 + 100 + 30 - 10 - 300 - 100; A/R: 145.80 + 100 - 100 - 20.
    assert sheet["1"] == Decimal("720.00")
    assert sheet["2"] == Decimal("125.80")
    assert sheet["15"] == Decimal("36.77")
    assert sheet["7"] == Decimal("350.00")
    # Visa: 25 charged, 5 credited back, 100 paid by transfer: a debit balance of 80.
    assert sheet["10"] == Decimal("-80.00")
    # Profit: Jan 250 - 15 - 450 - 20 = -235; Feb 36.66 + 0.11 -> -198.23 this fiscal year.
    assert sheet["NetIncome"] == Decimal("-198.23")
    assert sheet["13"] == Decimal("1000.00")
    by_section = {r["account_id"]: r["section"] for r in rows}
    assert by_section["1"] == "Assets > Current Assets > Bank Accounts"
    assert (
        by_section["10"]
        == "Liabilities and Equity > Liabilities > Current Liabilities > Credit Cards"
    )
    assets = sum(r["amount"] for r in rows if r["section"].startswith("Assets"))
    others = sum(r["amount"] for r in rows if r["section"].startswith("Liabilities"))
    assert assets == others


def test_ar_aging_at_month_end(built: Warehouse) -> None:
    rows = built.query(
        "select customer_id, current_amount, days_1_30, days_31_60, days_61_90,"
        " days_91_and_over, total_amount from analytics.ar_aging"
        " where realm_id = %s and as_of_date = '2026-02-28' order by 1",
        R1,
    )
    assert [tuple(r.values()) for r in rows] == [
        # Invoice 1: 145.80 - 100 paid, due 02-04 (24 days); credit memo -20 of 02-15 (13 days);
        # invoice 2 without a due date, aged from 01-10 (49 days).
        (
            "1",
            Decimal("0"),
            Decimal("25.80"),
            Decimal("100.00"),
            Decimal("0"),
            Decimal("0"),
            Decimal("125.80"),
        ),
        (
            "2",
            Decimal("36.77"),
            Decimal("0"),
            Decimal("0"),
            Decimal("0"),
            Decimal("0"),
            Decimal("36.77"),
        ),
    ]


def test_ap_aging_at_month_end(built: Warehouse) -> None:
    rows = built.query(
        "select vendor_id, current_amount, days_1_30, days_31_60, total_amount"
        " from analytics.ap_aging where realm_id = %s order by as_of_date",
        R1,
    )
    # January: bill 700 not yet due, the vendor credit of 01-25 six days old. February:
    # 700 - 300 paid, 9 days past due; the credit of 01-25 is 34 days old.
    assert [tuple(r.values()) for r in rows] == [
        ("1", Decimal("700.00"), Decimal("-50.00"), Decimal("0"), Decimal("650.00")),
        ("1", Decimal("0"), Decimal("400.00"), Decimal("-50.00"), Decimal("350.00")),
    ]


def test_tombstones_and_non_posting_transactions_stay_out(built: Warehouse) -> None:
    assert (
        built.query("select count(*) as n from staging.stg_qbo__invoices where invoice_id = '3'")[
            0
        ]["n"]
        == 0
    )
    assert built.query("select count(*) as n from staging.stg_qbo__estimates")[0]["n"] == 1
    assert (
        built.query(
            "select count(*) as n from analytics.general_ledger"
            " where transaction_type = 'Estimate' or transaction_id = '3'"
        )[0]["n"]
        == 0
    )


def test_lines_expand_groups_and_keep_subtotals_unposted(built: Warehouse) -> None:
    rows = built.query(
        "select transaction_id, line_index, detail_type, group_item_id, amount"
        " from staging.int_qbo__invoice_lines"
        " where realm_id = %s and transaction_id in ('1', '2') order by 1, 2",
        R1,
    )
    assert [
        (r["transaction_id"], r["line_index"], r["detail_type"], r["group_item_id"]) for r in rows
    ] == [
        ("1", "1", "SalesItemLineDetail", None),
        ("1", "2", "SalesItemLineDetail", None),
        ("1", "3", "SubTotalLineDetail", None),
        ("1", "4", "DiscountLineDetail", None),
        ("2", "1.1", "SalesItemLineDetail", "3"),
        ("2", "1.2", "SalesItemLineDetail", "3"),
    ]


def test_streams_without_a_raw_table_build_empty(built: Warehouse) -> None:
    assert built.query("select to_regclass('raw.qb_budgets') as t")[0]["t"] is None
    assert built.query("select count(*) as n from staging.stg_qbo__budgets")[0]["n"] == 0


def test_statement_differences_list_what_quickbooks_reports_otherwise(built: Warehouse) -> None:
    rows = built.query(
        "select statement, realm_id, accounting_method, period_month::text as month, account_id,"
        " quickbooks_amount, model_amount, difference from analytics.statement_differences"
    )
    assert sorted(tuple(r.values()) for r in rows) == [
        (
            "ProfitAndLoss",
            R1,
            "Accrual",
            "2026-01-01",
            "8",
            Decimal("451.00"),
            Decimal("450.00"),
            Decimal("-1.00"),
        ),
        (
            "ProfitAndLoss",
            R1,
            "Cash",
            "2026-01-01",
            "4",
            Decimal("1.00"),
            Decimal("0"),
            Decimal("-1.00"),
        ),
    ]


def cash(wh: Warehouse, realm: str) -> dict[tuple[str, str], dict[str, Decimal]]:
    found: dict[tuple[str, str], dict[str, Decimal]] = {}
    for row in wh.query(
        "select transaction_type, transaction_id, account_id, sum(amount) as amount"
        " from analytics.general_ledger_cash where realm_id = %s group by 1, 2, 3",
        realm,
    ):
        found.setdefault((row["transaction_type"], row["transaction_id"]), {})[
            row["account_id"]
        ] = row["amount"]
    return found


def test_cash_basis_posts_documents_as_they_are_paid(built: Warehouse) -> None:
    unchanged = {
        k: v
        for k, v in EXPECTED.items()
        if k[0] not in ("Invoice", "CreditMemo", "Bill", "VendorCredit", "Payment", "BillPayment")
    }
    assert cash(built, R1) == {
        **unchanged,
        # 100.00 of invoice 1 (145.80: 100 + 50 - 15 discount + 10.80 tax): each line its share
        # of 100/145.80 in cents (68.587.., 34.293.., 10.288.., 7.407..), the two cents left to
        # the largest remainders (discount, second line). A/R is not touched.
        ("Payment", "1"): {
            "3": Decimal("100.00"),
            "4": Decimal("-102.88"),
            "5": Decimal("10.29"),
            "6": Decimal("-7.41"),
        },
        # 300.00 of bill 1 (500 rent, 200 inventory): 214.285.. and 85.714.., the cent left to rent.
        ("BillPayment", "1"): {
            "1": Decimal("-300.00"),
            "8": Decimal("214.29"),
            "9": Decimal("85.71"),
        },
    }
    rows = built.query(
        "select posting_index, account_id, amount, transaction_date::text as day,"
        " applied_transaction_type, applied_transaction_id from analytics.general_ledger_cash"
        " where realm_id = %s and transaction_type = 'Payment' and transaction_id = '1'"
        " order by posting_index",
        R1,
    )
    assert [tuple(r.values()) for r in rows] == [
        ("1:1", "4", Decimal("-68.59"), "2026-02-10", "Invoice", "1"),
        ("1:2", "4", Decimal("-34.29"), "2026-02-10", "Invoice", "1"),
        ("1:4", "5", Decimal("10.29"), "2026-02-10", "Invoice", "1"),
        ("1:tax", "6", Decimal("-7.41"), "2026-02-10", "Invoice", "1"),
        ("deposit", "3", Decimal("100.00"), "2026-02-10", None, None),
    ]


def test_cash_basis_payments_in_another_currency_and_unapplied(built: Warehouse) -> None:
    assert cash(built, R3) == {
        # 0.05 EUR at 1.3 per line: 0.065 each rounds to 0.07, the last line takes the
        # difference to the converted total (0.13): income is what was received.
        ("Payment", "20"): {"3": Decimal("0.13"), "4": Decimal("-0.13")},
        # The 20.00 not applied to an invoice stays a credit on A/R.
        ("Payment", "21"): {"3": Decimal("50.00"), "4": Decimal("-30.00"), "2": Decimal("-20.00")},
    }
    rows = built.query(
        "select posting_index, amount from analytics.general_ledger_cash"
        " where realm_id = %s and transaction_id = '20' and account_id = '4'"
        " order by posting_index",
        R3,
    )
    assert [(r["posting_index"], r["amount"]) for r in rows] == [
        ("1:1", Decimal("-0.07")),
        ("2:1", Decimal("-0.06")),
    ]


def test_cash_basis_statements(built: Warehouse) -> None:
    pl = built.query(
        "select period_month::text as month, account_id, amount from analytics.profit_and_loss"
        " where realm_id = %s and accounting_method = 'Cash' order by 1, 2",
        R1,
    )
    assert [tuple(r.values()) for r in pl] == [
        ("2026-01-01", "12", Decimal("20.00")),
        # 102.88 received for invoice 1, the sales receipt's 30, less the refund's 10.
        ("2026-02-01", "4", Decimal("122.88")),
        ("2026-02-01", "5", Decimal("-10.29")),
        ("2026-02-01", "8", Decimal("214.29")),
    ]
    sheet = {
        r["account_id"]: r["amount"]
        for r in built.query(
            "select account_id, amount from analytics.balance_sheet where realm_id = %s"
            " and accounting_method = 'Cash' and period_month = '2026-02-01'",
            R1,
        )
    }
    # No A/R or A/P: the open invoices, credit memo, bill and vendor credit are not on the books.
    assert sheet == {
        "1": Decimal("720.00"),
        "3": Decimal("0.00"),
        "6": Decimal("7.41"),
        "9": Decimal("85.71"),
        "10": Decimal("-80.00"),
        "13": Decimal("1000.00"),
        # Jan -20; Feb 122.88 - 10.29 - 214.29 = -101.70.
        "NetIncome": Decimal("-121.70"),
    }
    r3 = {
        r["account_id"]: r["amount"]
        for r in built.query(
            "select account_id, amount from analytics.balance_sheet where realm_id = %s"
            " and accounting_method = 'Cash' and period_month = '2026-03-01'",
            R3,
        )
    }
    assert r3 == {
        "2": Decimal("-20.00"),
        "3": Decimal("50.13"),
        "NetIncome": Decimal("30.13"),
    }


def test_reports_not_loaded_are_empty_models_with_the_walks_columns(built: Warehouse) -> None:
    assert built.query("select to_regclass('raw.qb_report_balance_sheet') as t")[0]["t"] is None
    empty = built.query("select * from staging.stg_qbo__report_balance_sheet_lines")
    loaded = built.query("select * from staging.stg_qbo__report_profit_and_loss_lines limit 1")
    assert empty == []
    assert loaded
    columns = (
        "select column_name, data_type from information_schema.columns where table_schema ="
        " 'staging' and table_name = %s order by ordinal_position"
    )
    assert built.query(columns, "stg_qbo__report_balance_sheet_lines") == built.query(
        columns, "stg_qbo__report_profit_and_loss_lines"
    )


def test_the_report_walk_is_the_warehouses(built: Warehouse) -> None:
    """dbt's walk (staging) and `qbo-warehouse report-views`' (raw) come from one SQL file: the
    same function, walking every stored report to the same rows."""
    reports = pytest.importorskip("qbo_warehouse.reports")
    root = Path(__file__).resolve().parent.parent.parent
    macro = root / "transform" / "macros" / "report_lines_function.sql"
    assert macro.is_symlink()  # a link to the warehouse's file, not a copy of it
    assert macro.resolve() == root / "warehouse" / "qbo_warehouse" / "report_lines.sql"
    with psycopg.connect(built.dsn, autocommit=True) as conn:
        assert reports.create_line_views(conn, "raw") == ["qb_report_profit_and_loss_lines"]
    functions = built.query(
        "select n.nspname as schema, p.prosrc, p.proconfig, p.prorows, p.provolatile,"
        " pg_get_function_arguments(p.oid) as arguments,"
        " pg_get_function_result(p.oid) as result"
        " from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace"
        " where p.proname = 'qb_report_lines' order by 1"
    )
    assert [f.pop("schema") for f in functions] == ["raw", "staging"]
    assert functions[0] == functions[1]
    walks = "select l.* from raw.qb_report_profit_and_loss as t, {}.qb_report_lines(t.payload) as l"
    raw, staging = (walks.format(schema) for schema in ("raw", "staging"))
    assert built.query(f"({raw}) except all ({staging})") == []
    assert built.query(f"({staging}) except all ({raw})") == []
    assert {r["line_kind"] for r in built.query(staging)} == {"Data", "Summary"}
