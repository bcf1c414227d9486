"""The company's general ledger: what each document posts, and the balances that follow.

`postings(company, entity, row)` lists one document's postings as `(account id, cents)`, debit
positive and credit negative; they sum to zero for every document. The rules (accrual basis):

| document | debit | credit |
|---|---|---|
| Invoice | A/R (total) | each line's income account (`ItemAccountRef`), sales tax payable |
| Payment | its deposit account (Undeposited Funds or Checking) | A/R |
| SalesReceipt | its deposit account | line income accounts, sales tax payable |
| CreditMemo | line income accounts, sales tax payable | A/R |
| RefundReceipt | line income accounts, sales tax payable | Checking |
| Deposit | Checking | Undeposited Funds (linked payments/receipts), or the line's account |
| Bill | each line's expense account (Inventory Asset for item lines) | A/P |
| BillPayment | A/P | Checking or Mastercard |
| VendorCredit | A/P | each line's expense account |
| Purchase | each line's expense account | the paying account (Checking or Mastercard) |
| Transfer | the receiving account | the sending account |
| JournalEntry | its Debit lines | its Credit lines |

Estimates, purchase orders, time activities, budgets and attachables post nothing. Cost of goods
sold for inventory sold on invoices is not posted (the emulator keeps no inventory valuation).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from qbo_emulator import books

if TYPE_CHECKING:
    from qbo_emulator.data import Company, Row

Posting = tuple[int, int]
#: Account types whose balance is debit minus credit (the others: credit minus debit)
DEBIT_NORMAL = ("Asset",)
BALANCE_SHEET = ("Asset", "Liability", "Equity")


def _sales(c: Company, row: Row, sign: int) -> list[Posting]:
    """Income and tax lines of a sales document, credited (sign -1) or debited (sign 1)."""
    f = books.sales_facts(c, row)
    out = [(c.item_income_account(item), sign * amount) for item, _, _, amount in f["lines"]]
    if f["tax"]:
        out.append((books.ACCT_SALES_TAX, sign * f["tax"]))
    return out


def _expenses(c: Company, row: Row, sign: int) -> list[Posting]:
    out = []
    for kind, target, _, _, amount in books.expense_lines(c, row.h):
        acct = books.ACCT_INVENTORY if kind == "item" else target
        out.append((acct, sign * amount))
    return out


def postings(c: Company, entity: str, row: Row) -> list[Posting]:
    """The document's postings, debit positive; they sum to zero."""
    if entity == "Invoice":
        f = c.invoice_facts(row)
        out = [(books.ACCT_AR, f["total"])]
        out += [(c.item_income_account(item.id), -amount) for item, _, _, amount in f["lines"]]
        if f["tax"]:
            out.append((books.ACCT_SALES_TAX, -f["tax"]))
        return out
    info = row.info or {}
    if entity == "Payment":
        acct = books.ACCT_UNDEPOSITED if info["undeposited"] else books.ACCT_CHECKING
        return [(acct, info["total"]), (books.ACCT_AR, -info["total"])]
    if entity == "SalesReceipt":
        total = books.sales_facts(c, row)["total"]
        acct = books.ACCT_UNDEPOSITED if info.get("undeposited") else books.ACCT_CHECKING
        return [(acct, total), *_sales(c, row, -1)]
    if entity == "CreditMemo":
        total = books.sales_facts(c, row)["total"]
        return [*_sales(c, row, 1), (books.ACCT_AR, -total)]
    if entity == "RefundReceipt":
        total = books.sales_facts(c, row)["total"]
        return [*_sales(c, row, 1), (books.ACCT_CHECKING, -total)]
    if entity == "Deposit":
        out = [(books.ACCT_CHECKING, books.deposit_total(row))]
        out += [(books.ACCT_UNDEPOSITED, -cents) for _, _, cents in info["applies"]]
        if info.get("other"):
            out.append((info["other"][0], -info["other"][1]))
        return out
    if entity == "Bill":
        return [*_expenses(c, row, 1), (books.ACCT_AP, -books.expense_total(c, row))]
    if entity == "BillPayment":
        total = info["total"]
        acct = books.ACCT_MASTERCARD if info["card"] else books.ACCT_CHECKING
        return [(books.ACCT_AP, total), (acct, -total)]
    if entity == "VendorCredit":
        return [(books.ACCT_AP, books.expense_total(c, row)), *_expenses(c, row, -1)]
    if entity == "Purchase":
        acct = books.PURCHASE_KINDS[info["kind"]][1]
        return [*_expenses(c, row, 1), (acct, -books.expense_total(c, row))]
    if entity == "Transfer":
        return [(info["to"], info["amount"]), (info["from"], -info["amount"])]
    if entity == "JournalEntry":
        return [
            (a, cents if side == "Debit" else -cents) for side, a, cents in books.journal_lines(row)
        ]
    return []


POSTING_ENTITIES = (
    "Invoice",
    "Payment",
    "SalesReceipt",
    "CreditMemo",
    "RefundReceipt",
    "Deposit",
    "Bill",
    "BillPayment",
    "VendorCredit",
    "Purchase",
    "Transfer",
    "JournalEntry",
)


def trial_balance(c: Company) -> dict[int, int]:
    """Net debit (positive) or credit (negative) per account over every live document."""
    net: dict[int, int] = defaultdict(int)
    for entity in POSTING_ENTITIES:
        for row in c.tables[entity].rows.values():
            for acct, cents in postings(c, entity, row):
                net[acct] += cents
    return dict(net)


def balances(c: Company) -> dict[str, dict[int, int]]:
    """CurrentBalance per account (balance-sheet accounts), Balance per customer and vendor."""
    net = trial_balance(c)
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
    customers: dict[int, int] = defaultdict(int)
    for row in c.tables["Invoice"].rows.values():
        customers[row.ref] += c.invoice_facts(row)["balance"]
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
    return {
        "Account": accounts,
        "AccountChildren": dict(children),
        "Customer": dict(customers),
        "Vendor": dict(vendors),
    }
