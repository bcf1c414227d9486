"""The general ledger: QuickBooks' posting rules, on the accrual and the cash basis.

This is the one place the posting rules live. Both the company's books (`Account.CurrentBalance`,
through `postings.py`, which reads the emulator's rows) and the reports (through `build_ledger`,
which reads the JSON objects the API serves) post their documents here. A document is first read
into an `Entry` (its lines, each with the account it names and its amount in the document's
currency); `post` turns an entry into *legs*: one per line, converted to home currency, and one
balancing leg on the document's own account (A/R, A/P, the bank) whose amount is minus the sum of
the line legs, so that every document balances to the cent. Amounts are integer cents, debit
positive. The rules, with their sources, are written down in the emulator README ("Posting
rules"):

| document | its lines (`LINE_SIGN`, `SETTLE_SIGN`) | its balancing leg |
|---|---|---|
| Invoice, SalesReceipt | credit income, sales tax (a discount debits) | A/R, deposit account |
| CreditMemo, RefundReceipt | debit (a sale reversed) | A/R, the bank |
| Payment | credit A/R per invoice (debit per credit memo), and the rest | deposit account |
| Bill, Purchase | debit each line's expense (or asset) account | A/P, paying account |
| VendorCredit | credit (a bill reversed) | A/P |
| BillPayment | debit A/P per bill (credit per vendor credit), and the rest | the bank or card |
| Deposit | credit Undeposited Funds (linked lines) or the line's account | the bank |
| Transfer | credit the sending account | the receiving account |
| JournalEntry | its Debit and Credit lines | none: the lines balance |

A payment's rest (what its lines do not apply) stays on A/R (A/P) as its own open item.
Cash basis: invoices, credit memos, bills and vendor credits post nothing when issued; a payment
leg that settles one posts that document's own line legs instead, scaled to the amount settled
and dated on the payment (`_cash_basis`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

ACCRUAL = "Accrual"
CASH = "Cash"
BASES = (ACCRUAL, CASH)

#: QuickBooks `AccountType` -> `Classification`.
CLASSIFICATION = {
    "Bank": "Asset",
    "Accounts Receivable": "Asset",
    "Other Current Asset": "Asset",
    "Fixed Asset": "Asset",
    "Other Asset": "Asset",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Other Current Liability": "Liability",
    "Long Term Liability": "Liability",
    "Equity": "Equity",
    "Income": "Revenue",
    "Other Income": "Revenue",
    "Cost of Goods Sold": "Expense",
    "Expense": "Expense",
    "Other Expense": "Expense",
}
PROFIT_AND_LOSS_TYPES = frozenset(
    {"Income", "Other Income", "Cost of Goods Sold", "Expense", "Other Expense"}
)


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    type: str  # QuickBooks AccountType
    sub_type: str = ""

    @property
    def classification(self) -> str:
        return CLASSIFICATION.get(self.type, "Asset")

    @property
    def is_pl(self) -> bool:
        return self.type in PROFIT_AND_LOSS_TYPES

    @property
    def credit_normal(self) -> bool:
        return self.classification in ("Liability", "Equity", "Revenue")


#: The accounts a transaction falls back to when it names none. Ids and names as in Intuit's US
#: sandbox company where a real report shows them (tests/fixtures/SOURCES.md); the rest are ours.
DEFAULT_ACCOUNTS: tuple[Account, ...] = (
    Account("35", "Checking", "Bank", "Checking"),
    Account("36", "Savings", "Bank", "Savings"),
    Account("84", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    Account("81", "Inventory Asset", "Other Current Asset", "Inventory"),
    Account("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    Account("37", "Truck", "Fixed Asset", "Vehicles"),
    Account("33", "Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
    Account("41", "Mastercard", "Credit Card", "CreditCard"),
    Account("89", "Board of Equalization Payable", "Other Current Liability", "SalesTaxPayable"),
    Account("43", "Notes Payable", "Long Term Liability", "NotesPayable"),
    Account("34", "Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
    Account("2", "Retained Earnings", "Equity", "RetainedEarnings"),
    Account("1", "Services", "Income", "ServiceFeeIncome"),
    Account("79", "Sales of Product Income", "Income", "SalesOfProductIncome"),
    Account("86", "Discounts given", "Income", "DiscountsRefundsGiven"),
    Account("80", "Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    Account("7", "Advertising", "Expense", "AdvertisingPromotional"),
    Account("58", "Rent or Lease", "Expense", "RentOrLeaseOfBuildings"),
    Account("76", "Utilities", "Expense", "Utilities"),
    Account("59", "Interest Earned", "Other Income", "InterestEarned"),
    Account("60", "Miscellaneous", "Other Expense", "OtherMiscellaneousExpense"),
)
AR, AP, UNDEPOSITED, SALES_TAX, DISCOUNTS, RETAINED, CHECKING = (
    "84",
    "33",
    "4",
    "89",
    "86",
    "2",
    "35",
)

#: Transactions that post to the ledger, in the order their rules are listed in the README.
POSTING_TYPES = (
    "Invoice",
    "SalesReceipt",
    "CreditMemo",
    "RefundReceipt",
    "Payment",
    "Bill",
    "VendorCredit",
    "BillPayment",
    "Purchase",
    "Deposit",
    "Transfer",
    "JournalEntry",
)
#: Transactions that, on the cash basis, post only when (and as far as) they are paid.
CASH_DEFERRED = {"Invoice": "Payment", "CreditMemo": "Payment", "Bill": "BillPayment"}
CASH_DEFERRED_PARTNERS = {"VendorCredit": "BillPayment"}


def cents(value: Any) -> int:
    """A JSON amount as integer cents (half away from zero)."""
    if value is None or value == "":
        return 0
    return int((Decimal(str(value)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def home(amount_cents: int, rate: Decimal) -> int:
    if rate == 1:
        return amount_cents
    return int((Decimal(amount_cents) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def ref(obj: Mapping[str, Any] | None, key: str) -> str | None:
    if not obj:
        return None
    value = obj.get(key)
    if isinstance(value, Mapping):
        v = value.get("value")
        return str(v) if v not in (None, "") else None
    return None


@dataclass(frozen=True)
class Posting:
    """One side of a transaction in the general ledger (home-currency cents)."""

    date: str
    account_id: str
    amount: int  # debit - credit
    txn_type: str
    txn_id: str
    line_id: str | None = None
    customer_id: str | None = None
    vendor_id: str | None = None
    class_id: str | None = None
    department_id: str | None = None
    doc_number: str = ""
    memo: str = ""
    applies_to: tuple[str, str] | None = None  # open-item document a payment leg settles
    currency: str = "USD"
    txn_amount: int = 0  # the same leg in the transaction's currency

    @property
    def debit(self) -> int:
        return self.amount if self.amount > 0 else 0

    @property
    def credit(self) -> int:
        return -self.amount if self.amount < 0 else 0

    @property
    def name_id(self) -> str | None:
        return self.customer_id or self.vendor_id


@dataclass
class Document:
    """An open-item document (invoice, credit memo, bill, vendor credit, unapplied payment)."""

    txn_type: str
    txn_id: str
    date: str
    due_date: str
    doc_number: str
    customer_id: str | None
    vendor_id: str | None
    total: int  # home cents, positive
    legs: list[Posting] = field(default_factory=list)  # its non-balancing legs (cash basis)


class LedgerError(ValueError):
    """A transaction that cannot be posted (unbalanced journal entry, unknown account)."""


@dataclass
class Ledger:
    accounts: dict[str, Account]
    postings: dict[str, list[Posting]]  # basis -> postings sorted by date
    documents: dict[tuple[str, str], Document]
    names: dict[str, str]  # customer/vendor id -> display name

    def account(self, account_id: str) -> Account:
        found = self.accounts.get(account_id)
        return found if found is not None else Account(account_id, f"Account {account_id}", "")

    def between(self, basis: str, start: str | None, end: str) -> Iterator[Posting]:
        for p in self.postings[basis]:
            if p.date > end:
                break
            if start is None or p.date >= start:
                yield p

    def net(self, basis: str, start: str | None, end: str) -> dict[str, int]:
        """Account id -> debit minus credit of the postings dated start..end (inclusive)."""
        out: dict[str, int] = {}
        for p in self.between(basis, start, end):
            out[p.account_id] = out.get(p.account_id, 0) + p.amount
        return out


# ---------------------------------------------------------------------------- posting rules

EMPTY: Mapping[str, Any] = MappingProxyType({})
UNAPPLIED: Mapping[str, Any] = MappingProxyType({"line_id": "unapplied"})
ONE = Decimal(1)

#: The side each document's lines post on (+1 debit, -1 credit); the balancing leg takes the
#: other side on the document's own account.
LINE_SIGN = {
    "Invoice": -1,
    "SalesReceipt": -1,
    "CreditMemo": 1,
    "RefundReceipt": 1,
    "Bill": 1,
    "VendorCredit": -1,
    "Purchase": 1,
    "Deposit": -1,
    "Transfer": -1,
    "JournalEntry": 1,
}
#: Payments: the side of the leg that settles each kind of document, on the A/R (A/P) account.
SETTLE_SIGN = {
    "Payment": {"Invoice": -1, "CreditMemo": 1},
    "BillPayment": {"Bill": 1, "VendorCredit": -1},
}
#: Payments: the side of the unapplied rest (the payment's own open item on A/R or A/P).
UNAPPLIED_SIGN = {"Payment": -1, "BillPayment": 1}
#: Documents that stay open until paid (aging reports; deferred on the cash basis).
OPEN_ITEMS = ("Invoice", "CreditMemo", "Bill", "VendorCredit")


class Line(NamedTuple):
    """One line of a document as the posting rules read it."""

    account: str
    #: cents in the document's currency, as the line adds to the document's total (a discount
    #: line is negative; a journal entry's credit line is negative)
    amount: int
    #: Posting fields of this line's leg beyond the document's (line_id, memo, class_id, …)
    fields: Mapping[str, Any] = EMPTY
    #: a payment line: the (type, id) of the document it settles
    applies_to: tuple[str, str] | None = None


class Entry(NamedTuple):
    """One posting document, read (from a served object or from the emulator's rows)."""

    txn_type: str
    txn_id: str
    #: the balancing account (A/R, A/P, the bank, the deposit account); None for a journal entry
    account: str | None
    lines: list[Line]
    #: home value of one unit of the document's currency
    rate: Decimal = ONE
    #: Posting fields of every leg (date, txn_type, txn_id, customer_id, doc_number, …)
    fields: Mapping[str, Any] = EMPTY
    #: Posting fields of the balancing leg beyond the document's
    balance_fields: Mapping[str, Any] = EMPTY
    #: a payment's TotalAmt (document currency) and the A/R (A/P) account of its lines
    total: int = 0
    open_account: str | None = None
    #: a purchase that is a credit (a refund from the vendor): its lines post reversed
    reversed: bool = False
    due_date: str = ""


class Leg(NamedTuple):
    """One posting of an entry: home cents (debit positive) and the same in its currency."""

    account: str
    amount: int
    txn_amount: int
    fields: Mapping[str, Any] = EMPTY
    applies_to: tuple[str, str] | None = None


def post(entry: Entry) -> list[Leg]:
    """The entry's legs on the accrual basis: its lines, then its balancing leg; they sum to 0."""
    kind, txn_id, rate = entry.txn_type, entry.txn_id, entry.rate
    plain = rate == 1
    settles = SETTLE_SIGN.get(kind)
    sign = 1 if settles is not None else LINE_SIGN[kind] * (-1 if entry.reversed else 1)
    legs: list[Leg] = []
    total = txn_total = 0  # of the legs so far: home cents, document cents
    for account, amount, fields, applies_to in entry.lines:
        if settles is not None:
            if applies_to is None:
                raise LedgerError(f"{kind} {txn_id}: a line settles no document")
            amount *= settles[applies_to[0]]
        else:
            amount *= sign
        value = amount if plain else home(amount, rate)
        legs.append(Leg(account, value, amount, fields, applies_to))
        total += value
        txn_total += amount
    if not plain and legs:
        # each line converted on its own, the last one takes the rounding difference
        drift = home(txn_total, rate) - total
        if drift:
            legs[-1] = legs[-1]._replace(amount=legs[-1].amount + drift)
            total += drift
    if kind in UNAPPLIED_SIGN:
        rest = UNAPPLIED_SIGN[kind] * home(entry.total, rate) - total
        if rest:
            legs.append(Leg(entry.open_account or "", rest, rest, UNAPPLIED, (kind, txn_id)))
            total += rest
            txn_total += rest
    if entry.account is None:
        if txn_total:
            raise LedgerError(f"{kind} {txn_id} does not balance")
        return legs
    legs.append(Leg(entry.account, -total, -txn_total, entry.balance_fields))
    return legs


# ---------------------------------------------------------------------------- building


def build_ledger(
    objects: Mapping[str, Iterable[Mapping[str, Any]]],
    extra_accounts: Iterable[Account] = (),
) -> Ledger:
    """The ledger of a company from its served objects (entity name -> objects)."""
    accounts = {a.id: a for a in DEFAULT_ACCOUNTS}
    for raw in objects.get("Account", ()):
        acc = Account(
            str(raw["Id"]),
            str(raw.get("Name", "")),
            str(raw.get("AccountType", "")),
            str(raw.get("AccountSubType", "")),
        )
        accounts[acc.id] = acc
    for acc in extra_accounts:
        accounts[acc.id] = acc
    reader = Reader(objects)
    accrual: list[Posting] = []
    documents: dict[tuple[str, str], Document] = {}
    for entity in POSTING_TYPES:
        for obj in objects.get(entity, ()):
            if obj.get("status") == "Deleted":
                continue
            entry = reader.entry(entity, obj)
            if entry is None:
                continue
            postings = [
                Posting(
                    account_id=leg.account,
                    amount=leg.amount,
                    txn_amount=leg.txn_amount,
                    applies_to=leg.applies_to,
                    **{**entry.fields, **leg.fields},
                )
                for leg in post(entry)
            ]
            accrual.extend(postings)
            if entity in OPEN_ITEMS and postings:
                doc = _document(entry, postings)
                documents[(doc.txn_type, doc.txn_id)] = doc
    cash = _cash_basis(accrual, documents)
    for plist in (accrual, cash):
        plist.sort(key=lambda p: (p.date, p.txn_type, _num(p.txn_id), p.line_id or ""))
    return Ledger(accounts, {ACCRUAL: accrual, CASH: cash}, documents, reader.names)


def _document(entry: Entry, postings: list[Posting]) -> Document:
    """An open item: its balancing leg (A/R, A/P) is its total, its other legs what it posts."""
    balancing = postings[-1]
    return Document(
        txn_type=entry.txn_type,
        txn_id=balancing.txn_id,
        date=balancing.date,
        due_date=entry.due_date or balancing.date,
        doc_number=balancing.doc_number,
        customer_id=balancing.customer_id,
        vendor_id=balancing.vendor_id,
        total=abs(balancing.amount),
        legs=postings[:-1],
    )


def _num(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (0, text)


# ---------------------------------------------------------------------------- served objects


class Reader:
    """Reads the objects the API serves into entries: which account each line names."""

    def __init__(self, objects: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        self.items = {str(o["Id"]): o for o in objects.get("Item", ())}
        # Sales tax posts to the company's sales-tax liability (QuickBooks creates one per
        # agency: sub type SalesTaxPayable, or GlobalTaxPayable in newer companies); else 89.
        served_tax = sorted(
            (
                str(o["Id"])
                for o in objects.get("Account", ())
                if o.get("AccountSubType") in ("SalesTaxPayable", "GlobalTaxPayable")
            ),
            key=_num,
        )
        self.sales_tax = served_tax[0] if served_tax else SALES_TAX
        self.names: dict[str, str] = {}
        for entity in ("Customer", "Vendor", "Employee"):
            for o in objects.get(entity, ()):
                self.names[str(o["Id"])] = str(o.get("DisplayName") or o.get("Name") or o["Id"])
        #: (account type, currency) -> account id
        self.by_currency: dict[tuple[str, str], str] = {}
        for o in sorted(objects.get("Account", ()), key=lambda o: _num(str(o["Id"]))):
            kind = str(o.get("AccountType", ""))
            if kind in ("Accounts Receivable", "Accounts Payable"):
                self.by_currency.setdefault((kind, ref(o, "CurrencyRef") or "USD"), str(o["Id"]))
        self.document_accounts: dict[tuple[str, str], str] = {}  # (type, id) -> A/R or A/P

    def open_item_account(self, obj: Mapping[str, Any], linked: str, default: str) -> str:
        """A payment's A/R (A/P) account: that of the documents it settles, else the one of its
        currency (QuickBooks keeps one per currency), else the default."""
        for line in obj.get("Line") or []:
            for link in line.get("LinkedTxn") or []:
                found = self.document_accounts.get((linked, str(link.get("TxnId"))))
                if found:
                    return found
        kind = "Accounts Receivable" if linked == "Invoice" else "Accounts Payable"
        currency = ref(obj, "CurrencyRef")
        return self.by_currency.get((kind, currency or ""), default)

    # -------------------------------------------------------------- helpers
    def _base(self, entity: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        customer = ref(obj, "CustomerRef")
        vendor = ref(obj, "VendorRef") or ref(obj, "EntityRef")
        for key in ("CustomerRef", "VendorRef", "EntityRef"):
            value = obj.get(key)
            if isinstance(value, Mapping) and value.get("value") and value.get("name"):
                self.names.setdefault(str(value["value"]), str(value["name"]))
        return {
            "date": str(obj.get("TxnDate", "")),
            "txn_type": entity,
            "txn_id": str(obj["Id"]),
            "customer_id": customer,
            "vendor_id": vendor if customer is None else None,
            "class_id": ref(obj, "ClassRef"),
            "department_id": ref(obj, "DepartmentRef"),
            "doc_number": str(obj.get("DocNumber", "")),
            "memo": str(obj.get("PrivateNote", "")),
            "currency": ref(obj, "CurrencyRef") or "USD",
        }

    @staticmethod
    def _rate(obj: Mapping[str, Any]) -> Decimal:
        rate = obj.get("ExchangeRate")
        return Decimal(str(rate)) if rate not in (None, "", 0) else ONE

    @staticmethod
    def _fields(
        base: Mapping[str, Any],
        line: Mapping[str, Any],
        detail: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A line's own Posting fields: its id and description, the detail's class, department
        and customer (where the document names none)."""
        fields: dict[str, Any] = {
            "line_id": str(line["Id"]) if line.get("Id") is not None else None
        }
        if line.get("Description"):
            fields["memo"] = str(line["Description"])
        if detail is not None:
            for key, name in (("ClassRef", "class_id"), ("DepartmentRef", "department_id")):
                value = ref(detail, key)
                if value:
                    fields[name] = value
            customer = ref(detail, "CustomerRef")
            if customer and base["customer_id"] is None:
                fields["customer_id"] = customer
        fields.update(extra)
        return fields

    def _tax(self, obj: Mapping[str, Any]) -> list[Line]:
        tax = cents((obj.get("TxnTaxDetail") or {}).get("TotalTax"))
        return [Line(self.sales_tax, tax, TAX_FIELDS)] if tax else []

    def _sales_lines(self, base: Mapping[str, Any], obj: Mapping[str, Any]) -> list[Line]:
        """Income per item line, discounts (negative), and sales tax."""
        lines: list[Line] = []
        for line in _flat_lines(obj.get("Line") or []):
            kind = line.get("DetailType")
            amount = cents(line.get("Amount"))
            if kind == "SalesItemLineDetail":
                detail = line.get(kind) or {}
                item = self.items.get(ref(detail, "ItemRef") or "", {})
                account = ref(detail, "ItemAccountRef") or ref(item, "IncomeAccountRef") or "79"
                lines.append(Line(account, amount, self._fields(base, line, detail)))
            elif kind == "DiscountLineDetail":
                detail = line.get(kind) or {}
                account = ref(detail, "DiscountAccountRef") or DISCOUNTS
                lines.append(Line(account, -amount, self._fields(base, line, detail)))
        return lines + self._tax(obj)

    def _expense_lines(self, base: Mapping[str, Any], obj: Mapping[str, Any]) -> list[Line]:
        """The expense or asset account of each line, and tax."""
        lines: list[Line] = []
        for line in _flat_lines(obj.get("Line") or []):
            kind = line.get("DetailType")
            detail = line.get(kind) or {} if isinstance(kind, str) else {}
            if kind == "AccountBasedExpenseLineDetail":
                account = ref(detail, "AccountRef") or "60"
            elif kind == "ItemBasedExpenseLineDetail":
                item = self.items.get(ref(detail, "ItemRef") or "", {})
                account = (
                    ref(item, "AssetAccountRef")
                    if item.get("Type") == "Inventory"
                    else ref(item, "ExpenseAccountRef")
                ) or "80"
            else:
                continue
            lines.append(Line(account, cents(line.get("Amount")), self._fields(base, line, detail)))
        return lines + self._tax(obj)

    @staticmethod
    def _links(obj: Mapping[str, Any], account: str, kinds: Iterable[str]) -> list[Line]:
        """A payment's lines on the open-item account, one per linked document."""
        lines: list[Line] = []
        for n, line in enumerate(obj.get("Line") or [], start=1):
            for link in line.get("LinkedTxn") or []:
                kind = str(link.get("TxnType", ""))
                if kind in kinds:
                    applies = (kind, str(link.get("TxnId")))
                    fields = {"line_id": str(n)}
                    lines.append(Line(account, cents(line.get("Amount")), fields, applies))
                    break
        return lines

    def _open_account(self, entity: str, base: Mapping[str, Any], obj: Mapping[str, Any]) -> str:
        """An open item's A/R or A/P account (remembered for the payments that settle it)."""
        if entity in ("Invoice", "CreditMemo"):
            account = ref(obj, "ARAccountRef") or self.by_currency.get(
                ("Accounts Receivable", base["currency"]), AR
            )
        else:
            account = ref(obj, "APAccountRef") or self.by_currency.get(
                ("Accounts Payable", base["currency"]), AP
            )
        self.document_accounts[(entity, base["txn_id"])] = account
        return account

    # -------------------------------------------------------------- documents
    def entry(self, entity: str, obj: Mapping[str, Any]) -> Entry | None:
        """The served object as a ledger entry; None for an entity that posts nothing."""
        base = self._base(entity, obj)
        head: dict[str, Any] = {
            "txn_type": entity,
            "txn_id": base["txn_id"],
            "rate": self._rate(obj),
            "fields": base,
        }
        if entity in OPEN_ITEMS:
            head["due_date"] = str(obj.get("DueDate") or base["date"])
        if entity in ("Invoice", "SalesReceipt", "CreditMemo", "RefundReceipt"):
            lines = self._sales_lines(base, obj)
            if entity in OPEN_ITEMS:
                return Entry(account=self._open_account(entity, base, obj), lines=lines, **head)
            account = ref(obj, "DepositToAccountRef") or UNDEPOSITED
            return Entry(account=account, lines=lines, **head)
        if entity in ("Bill", "VendorCredit"):
            lines = self._expense_lines(base, obj)
            return Entry(account=self._open_account(entity, base, obj), lines=lines, **head)
        if entity == "Payment":
            account = ref(obj, "ARAccountRef") or self.open_item_account(obj, "Invoice", AR)
            return Entry(
                account=ref(obj, "DepositToAccountRef") or UNDEPOSITED,
                lines=self._links(obj, account, SETTLE_SIGN[entity]),
                total=cents(obj.get("TotalAmt")),
                open_account=account,
                **head,
            )
        if entity == "BillPayment":
            account = ref(obj, "APAccountRef") or self.open_item_account(obj, "Bill", AP)
            pay = obj.get("CheckPayment") or obj.get("CreditCardPayment") or {}
            return Entry(
                account=ref(pay, "BankAccountRef") or ref(pay, "CCAccountRef") or CHECKING,
                lines=self._links(obj, account, SETTLE_SIGN[entity]),
                total=cents(obj.get("TotalAmt")),
                open_account=account,
                **head,
            )
        if entity == "Purchase":
            return Entry(
                account=ref(obj, "AccountRef") or CHECKING,
                lines=self._expense_lines(base, obj),
                reversed=obj.get("Credit") is True,
                **head,
            )
        if entity == "Deposit":
            lines = []
            for line in obj.get("Line") or []:
                detail = line.get("DepositLineDetail") or {}
                linked = bool(line.get("LinkedTxn"))
                account = UNDEPOSITED if linked else (ref(detail, "AccountRef") or "59")
                fields = self._fields(base, line, detail)
                lines.append(Line(account, cents(line.get("Amount")), fields))
            account = ref(obj, "DepositToAccountRef") or CHECKING
            return Entry(account=account, lines=lines, **head)
        if entity == "Transfer":
            source = Line(ref(obj, "FromAccountRef") or CHECKING, cents(obj.get("Amount")), FROM)
            account = ref(obj, "ToAccountRef") or "36"
            return Entry(account=account, lines=[source], balance_fields=TO, **head)
        if entity == "JournalEntry":
            lines = []
            for line in obj.get("Line") or []:
                detail = line.get("JournalEntryLineDetail") or {}
                if not detail:
                    continue
                sign = 1 if detail.get("PostingType") == "Debit" else -1
                line_account = ref(detail, "AccountRef")
                if line_account is None:
                    raise LedgerError(f"JournalEntry {base['txn_id']}: a line has no AccountRef")
                extra: dict[str, Any] = {}
                entity_ref = detail.get("Entity") or {}
                who = ref(entity_ref, "EntityRef")
                if who and entity_ref.get("Type") == "Customer":
                    extra["customer_id"] = who
                elif who:
                    extra["vendor_id"] = who
                fields = self._fields(base, line, detail, **extra)
                lines.append(Line(line_account, sign * cents(line.get("Amount")), fields))
            return Entry(account=None, lines=lines, **head)
        return None


TAX_FIELDS: Mapping[str, Any] = MappingProxyType({"line_id": "tax"})
FROM: Mapping[str, Any] = MappingProxyType({"line_id": "from"})
TO: Mapping[str, Any] = MappingProxyType({"line_id": "to"})


def _flat_lines(lines: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Lines, with the lines of a bundle (`GroupLineDetail`) in place of the bundle."""
    for line in lines:
        if line.get("DetailType") == "GroupLineDetail":
            yield from _flat_lines((line.get("GroupLineDetail") or {}).get("Line") or [])
        else:
            yield line


def _cash_basis(
    accrual: list[Posting], documents: Mapping[tuple[str, str], Document]
) -> list[Posting]:
    """Cash-basis postings: invoices, credit memos, bills and vendor credits post only when paid.

    A payment leg that settles such a document is replaced by that document's own line legs,
    scaled by the share of the document it settles (largest-remainder cents, so the replaced
    legs sum exactly to the settled amount), dated on the payment.
    """
    out: list[Posting] = []
    for p in accrual:
        if (p.txn_type in CASH_DEFERRED or p.txn_type in CASH_DEFERRED_PARTNERS) and (
            p.txn_type,
            p.txn_id,
        ) in documents:
            continue
        doc = documents.get(p.applies_to) if p.applies_to else None
        if doc is None or not doc.total:
            out.append(p)
            continue
        # The leg on A/R or A/P is replaced by the document's legs, scaled to the same sum.
        shares = _allocate(p.amount, [leg.amount for leg in doc.legs])
        for leg, share in zip(doc.legs, shares, strict=True):
            if share:
                out.append(
                    replace(
                        leg,
                        date=p.date,
                        amount=share,
                        txn_amount=share,
                        txn_type=p.txn_type,
                        txn_id=p.txn_id,
                        line_id=f"{p.line_id}:{leg.line_id}",
                        doc_number=p.doc_number,
                        applies_to=p.applies_to,
                    )
                )
    return out


def _allocate(target: int, weights: list[int]) -> list[int]:
    """Split `target` cents in proportion to `weights`, exactly (largest remainders)."""
    signed_total = sum(weights)
    if not signed_total:
        return [0] * len(weights)
    raw = [Decimal(target) * w / Decimal(signed_total) for w in weights]
    floors = [int(x.to_integral_value(rounding="ROUND_FLOOR")) for x in raw]
    rest = target - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: raw[i] - floors[i], reverse=True)
    for i in order[: max(rest, 0)]:
        floors[i] += 1
    return floors


# ---------------------------------------------------------------------------- company adapter


def company_objects(company: Any) -> dict[str, list[dict[str, Any]]]:
    """Every object a company serves, by entity, rendered exactly as the API renders it."""
    out: dict[str, list[dict[str, Any]]] = {}
    tables = getattr(company, "tables", {})
    for entity, table in tables.items():
        out[entity] = [json.loads(company.render(entity, row)) for row in table.rows.values()]
    return out
