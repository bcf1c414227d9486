"""The company's books: its documents read from their rows as ledger entries, and the balances.

The posting rules are those of `ledger.py`, the same that the reports use. Here each posting
entity's spec names a reader (`EntitySpec.entry`) that turns one of its rows into a
`ledger.Entry` straight from the row's facts, without rendering it: the account each line names
and its amount, as the served JSON shows them (`tests/test_ledger_company.py` reads every document
both ways and compares what they post). `postings(company, entity, row)` lists one document's
postings as `(account id, cents)`, debit positive; they sum to zero for every document.

Estimates, purchase orders, time activities, budgets and attachables post nothing. Cost of goods
sold for inventory sold on invoices is not posted (the emulator keeps no inventory valuation).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from qbo_emulator import books
from qbo_emulator.ledger import ONE, Entry, Line, post
from qbo_emulator.timeutil import pacific_date

if TYPE_CHECKING:
    from collections.abc import Iterator

    from qbo_emulator.data import Company, Row

#: Account types whose balance is debit minus credit (the others: credit minus debit)
DEBIT_NORMAL = ("Asset",)
BALANCE_SHEET = ("Asset", "Liability", "Equity")
AR = str(books.ACCT_AR)
CHECKING = str(books.ACCT_CHECKING)
UNDEPOSITED = str(books.ACCT_UNDEPOSITED)
SALES_TAX = str(books.ACCT_SALES_TAX)


def _rate(row: Row) -> Decimal:
    """The document's exchange rate (its facts keep millionths)."""
    info = row.info or {}
    return Decimal(int(info["rate"])) / 1_000_000 if info.get("cur") else ONE


def _sales_lines(c: Company, row: Row) -> list[Line]:
    f = books.sales_facts(c, row)
    lines = [Line(str(c.item_income_account(item)), amount) for item, _, _, amount in f["lines"]]
    if f["tax"]:
        lines.append(Line(SALES_TAX, f["tax"]))
    return lines


def _expense_lines(c: Company, row: Row) -> list[Line]:
    """Expense lines (Inventory Asset for item lines) in the document's currency."""
    return [
        Line(str(books.ACCT_INVENTORY if kind == "item" else target), amount)
        for kind, target, *_, amount in books.expense_lines(c, row.h)
    ]


def read_invoice(c: Company, row: Row) -> Entry:
    lines, _, _, tax = c.invoice_amounts(row)
    out = [Line(str(c.item_income_account(item.id)), amount) for item, _, _, amount in lines]
    if tax:
        out.append(Line(SALES_TAX, tax))
    return Entry("Invoice", str(row.id), AR, out)


def read_payment(c: Company, row: Row) -> Entry:
    info = row.info or {}
    return Entry(
        "Payment",
        str(row.id),
        UNDEPOSITED if info["undeposited"] else CHECKING,
        [Line(AR, cents, applies_to=(kind, str(iid))) for kind, iid, cents in info["applies"]],
        total=info["total"],
        open_account=AR,
    )


def read_sales_receipt(c: Company, row: Row) -> Entry:
    account = UNDEPOSITED if (row.info or {}).get("undeposited") else CHECKING
    return Entry("SalesReceipt", str(row.id), account, _sales_lines(c, row))


def read_credit_memo(c: Company, row: Row) -> Entry:
    return Entry("CreditMemo", str(row.id), AR, _sales_lines(c, row))


def read_refund_receipt(c: Company, row: Row) -> Entry:
    return Entry("RefundReceipt", str(row.id), CHECKING, _sales_lines(c, row))


def read_deposit(c: Company, row: Row) -> Entry:
    info = row.info or {}
    lines = [Line(UNDEPOSITED, cents) for _, _, cents in info["applies"]]
    if info.get("other"):
        lines.append(Line(str(info["other"][0]), info["other"][1]))
    return Entry("Deposit", str(row.id), CHECKING, lines)


def read_bill(c: Company, row: Row) -> Entry:
    ap = str(books.ap_account(c, (row.info or {}).get("cur")))
    return Entry("Bill", str(row.id), ap, _expense_lines(c, row), _rate(row))


def read_bill_payment(c: Company, row: Row) -> Entry:
    info = row.info or {}
    ap = str(books.ap_account(c, info.get("cur")))
    return Entry(
        "BillPayment",
        str(row.id),
        str(books.ACCT_MASTERCARD if info["card"] else books.ACCT_CHECKING),
        [Line(ap, cents, applies_to=(kind, str(iid))) for kind, iid, cents in info["applies"]],
        _rate(row),
        total=info["total"],
        open_account=ap,
    )


def read_vendor_credit(c: Company, row: Row) -> Entry:
    ap = str(books.ap_account(c, (row.info or {}).get("cur")))
    return Entry("VendorCredit", str(row.id), ap, _expense_lines(c, row), _rate(row))


def read_purchase(c: Company, row: Row) -> Entry:
    account = str(books.PURCHASE_KINDS[(row.info or {})["kind"]][1])
    return Entry("Purchase", str(row.id), account, _expense_lines(c, row), _rate(row))


def read_transfer(c: Company, row: Row) -> Entry:
    info = row.info or {}
    return Entry(
        "Transfer", str(row.id), str(info["to"]), [Line(str(info["from"]), info["amount"])]
    )


def read_journal_entry(c: Company, row: Row) -> Entry:
    lines = [
        Line(str(account), cents if side == "Debit" else -cents)
        for side, account, cents in books.journal_lines(row)
    ]
    return Entry("JournalEntry", str(row.id), None, lines)


def entry(c: Company, entity: str, row: Row) -> Entry | None:
    """The document as a ledger entry (its spec's reader); None for documents that post nothing."""
    reader = c.specs[entity].entry
    return reader(c, row) if reader is not None else None


def posting_entities(c: Company) -> list[str]:
    """Entities whose documents post to the ledger (a reader in their spec)."""
    return [name for name, spec in c.specs.items() if spec.entry is not None]


def entries(c: Company) -> Iterator[tuple[str, Row, Entry]]:
    """Every live posting document of the company as (entity, row, entry)."""
    for entity in posting_entities(c):
        read = c.specs[entity].entry
        assert read is not None
        for row in c.tables[entity].rows.values():
            yield entity, row, read(c, row)


def postings(c: Company, entity: str, row: Row) -> list[tuple[int, int]]:
    """The document's postings as (account id, cents), debit positive; they sum to zero."""
    found = entry(c, entity, row)
    return [(int(leg.account), leg.amount) for leg in post(found)] if found is not None else []


def journal(c: Company) -> list[tuple[str, str, int, int, int]]:
    """Every posting of every live document: (TxnDate, entity, id, account id, cents), debit
    positive, ordered by date, entity and id. The reports of a period are sums over it."""
    out: list[tuple[str, str, int, int, int]] = []
    for entity, row, found in entries(c):
        day = pacific_date(row.create)
        out.extend((day, entity, row.id, int(leg.account), leg.amount) for leg in post(found))
    out.sort()
    return out


def trial_balance(c: Company, open_invoices: dict[int, int] | None = None) -> dict[int, int]:
    """Net debit (positive) or credit (negative) per account over every live document.

    `open_invoices`, when given, receives each customer's open invoice balance (the invoice's
    A/R leg less what its payments settle), in the same pass.
    """
    net: dict[str, int] = defaultdict(int)
    links = c.links
    for entity, row, found in entries(c):
        legs = post(found)
        for leg in legs:
            net[leg[0]] += leg[1]
        if open_invoices is not None and entity == "Invoice":
            paid = sum(link[2] for link in links.get(("Invoice", row.id), ()))
            open_invoices[row.ref] = open_invoices.get(row.ref, 0) + legs[-1].amount - paid
    return {int(account): cents for account, cents in net.items()}


def balances(c: Company) -> dict[str, dict[int, int]]:
    """CurrentBalance per account (balance-sheet accounts), Balance per customer and vendor."""
    # customers and vendors: their open items (documents less what settles them)
    customers: dict[int, int] = defaultdict(int)
    net = trial_balance(c, customers)
    accounts: dict[int, int] = {}
    children: dict[int, int] = defaultdict(int)
    for aid, row in c.tables["Account"].rows.items():
        info = row.info or {}
        cls = info.get("cls")
        if cls not in BALANCE_SHEET:
            accounts[aid] = 0
            continue
        value = net.get(aid, 0)
        accounts[aid] = value if cls in DEBIT_NORMAL else -value
        if info.get("parent"):
            children[int(info["parent"])] += accounts[aid]
    for row in c.tables["CreditMemo"].rows.values():
        customers[row.ref] -= books.sales_facts(c, row)["total"]
    for row in c.tables["Payment"].rows.values():
        info = row.info or {}
        customers[row.ref] -= info["total"] - sum(cents for _, _, cents in info["applies"])
    vendors: dict[int, int] = defaultdict(int)
    for row in c.tables["Bill"].rows.values():
        paid = sum(cents for _, _, cents in books.linked(c, "Bill", row.id))
        vendors[row.ref] += books.expense_total(c, row) - paid
    for row in c.tables["VendorCredit"].rows.values():
        vendors[row.ref] -= books.expense_total(c, row)
    # an account kept in a foreign currency shows its balance in that currency: the sum of the
    # balances of the vendors billing in it
    for aid, row in c.tables["Account"].rows.items():
        code = (row.info or {}).get("currency")
        if code:
            accounts[aid] = sum(
                v for vid, v in vendors.items() if books.vendor_currency(c, vid) == code
            )
    return {
        "Account": accounts,
        "AccountChildren": dict(children),
        "Customer": dict(customers),
        "Vendor": dict(vendors),
    }
