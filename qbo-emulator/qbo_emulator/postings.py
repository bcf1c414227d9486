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
from qbo_emulator.timeutil import pacific_date

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
    """Expense lines in home cents (a foreign document's rounding lands on its last line)."""
    lines = books.expense_lines(c, row.h)
    amounts = [amount for *_, amount in lines]
    info = row.info or {}
    if info.get("cur"):
        amounts = books.home_lines(amounts, int(info["rate"]))
    out = []
    for (kind, target, *_), amount in zip(lines, amounts, strict=True):
        acct = books.ACCT_INVENTORY if kind == "item" else target
        out.append((acct, sign * amount))
    return out


def _home(row: Row, cents: int) -> int:
    info = row.info or {}
    return books.to_home(cents, int(info["rate"])) if info.get("cur") else cents


def post_invoice(c: Company, row: Row) -> list[Posting]:
    f = c.invoice_facts(row)
    out = [(books.ACCT_AR, f["total"])]
    out += [(c.item_income_account(item.id), -amount) for item, _, _, amount in f["lines"]]
    if f["tax"]:
        out.append((books.ACCT_SALES_TAX, -f["tax"]))
    return out


def post_payment(c: Company, row: Row) -> list[Posting]:
    info = row.info or {}
    acct = books.ACCT_UNDEPOSITED if info["undeposited"] else books.ACCT_CHECKING
    return [(acct, info["total"]), (books.ACCT_AR, -info["total"])]


def post_sales_receipt(c: Company, row: Row) -> list[Posting]:
    total = books.sales_facts(c, row)["total"]
    undeposited = (row.info or {}).get("undeposited")
    acct = books.ACCT_UNDEPOSITED if undeposited else books.ACCT_CHECKING
    return [(acct, total), *_sales(c, row, -1)]


def post_credit_memo(c: Company, row: Row) -> list[Posting]:
    total = books.sales_facts(c, row)["total"]
    return [*_sales(c, row, 1), (books.ACCT_AR, -total)]


def post_refund_receipt(c: Company, row: Row) -> list[Posting]:
    total = books.sales_facts(c, row)["total"]
    return [*_sales(c, row, 1), (books.ACCT_CHECKING, -total)]


def post_deposit(c: Company, row: Row) -> list[Posting]:
    info = row.info or {}
    out = [(books.ACCT_CHECKING, books.deposit_total(row))]
    out += [(books.ACCT_UNDEPOSITED, -cents) for _, _, cents in info["applies"]]
    if info.get("other"):
        out.append((info["other"][0], -info["other"][1]))
    return out


def post_bill(c: Company, row: Row) -> list[Posting]:
    ap = books.ap_account(c, (row.info or {}).get("cur"))
    return [*_expenses(c, row, 1), (ap, -_home(row, books.expense_total(c, row)))]


def post_bill_payment(c: Company, row: Row) -> list[Posting]:
    info = row.info or {}
    acct = books.ACCT_MASTERCARD if info["card"] else books.ACCT_CHECKING
    home = _home(row, info["total"])
    return [(books.ap_account(c, info.get("cur")), home), (acct, -home)]


def post_vendor_credit(c: Company, row: Row) -> list[Posting]:
    ap = books.ap_account(c, (row.info or {}).get("cur"))
    return [(ap, _home(row, books.expense_total(c, row))), *_expenses(c, row, -1)]


def post_purchase(c: Company, row: Row) -> list[Posting]:
    acct = books.PURCHASE_KINDS[(row.info or {})["kind"]][1]
    return [*_expenses(c, row, 1), (acct, -books.expense_total(c, row))]


def post_transfer(c: Company, row: Row) -> list[Posting]:
    info = row.info or {}
    return [(info["to"], info["amount"]), (info["from"], -info["amount"])]


def post_journal_entry(c: Company, row: Row) -> list[Posting]:
    return [
        (a, cents if side == "Debit" else -cents) for side, a, cents in books.journal_lines(row)
    ]


def postings(c: Company, entity: str, row: Row) -> list[Posting]:
    """The document's postings (its spec's `post` rule), debit positive; they sum to zero."""
    rule = c.specs[entity].post
    return rule(c, row) if rule is not None else []


def posting_entities(c: Company) -> list[str]:
    """Entities whose documents post to the ledger (a `post` rule in their spec)."""
    return [name for name, spec in c.specs.items() if spec.post is not None]


def journal(c: Company) -> list[tuple[str, str, int, int, int]]:
    """Every posting of every live document: (TxnDate, entity, id, account id, cents), debit
    positive, ordered by date, entity and id. The reports of a period are sums over it."""
    out: list[tuple[str, str, int, int, int]] = []
    for entity in posting_entities(c):
        for row in c.tables[entity].rows.values():
            day = pacific_date(row.create)
            out.extend(
                (day, entity, row.id, acct, cents) for acct, cents in postings(c, entity, row)
            )
    out.sort()
    return out


def trial_balance(c: Company, open_invoices: dict[int, int] | None = None) -> dict[int, int]:
    """Net debit (positive) or credit (negative) per account over every live document.

    `open_invoices`, when given, receives each customer's open invoice balance (one pass).
    """
    net: dict[int, int] = defaultdict(int)
    links = c.links
    for row in c.tables["Invoice"].rows.values():
        lines, subtotal, _, tax = c.invoice_amounts(row)
        net[books.ACCT_AR] += subtotal + tax
        for item, _, _, amount in lines:
            net[c.item_income_account(item.id)] -= amount
        if tax:
            net[books.ACCT_SALES_TAX] -= tax
        if open_invoices is not None:
            paid = sum(link[2] for link in links.get(("Invoice", row.id), ()))
            open_invoices[row.ref] = open_invoices.get(row.ref, 0) + subtotal + tax - paid
    for entity in posting_entities(c):
        if entity == "Invoice":
            continue  # above, in the same pass as the customers' open balances
        for row in c.tables[entity].rows.values():
            for acct, cents in postings(c, entity, row):
                net[acct] += cents
    return dict(net)


def balances(c: Company) -> dict[str, dict[int, int]]:
    """CurrentBalance per account (balance-sheet accounts), Balance per customer and vendor."""
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
