"""The general ledger: postings derived from QBO transaction objects by QuickBooks' posting rules.

Everything here works on the JSON objects the API serves (``Invoice``, ``Payment``, ``Bill``, …),
so the rules can be checked against any model that reads the same payloads. Amounts are integer
cents in the company's home currency. The rules, with their sources, are written down in the
emulator README ("Posting rules").

Each posting transaction becomes *legs*: one per line (income, expense, tax, …) and one balancing
leg on the transaction's own account (A/R, A/P, the bank), whose amount is minus the sum of the
line legs after conversion to home currency, so that every transaction balances to the cent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

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
    items = {str(o["Id"]): o for o in objects.get("Item", ())}
    # Sales tax posts to the company's sales-tax liability (QuickBooks creates one per agency:
    # sub type SalesTaxPayable, or GlobalTaxPayable in newer companies); else the sandbox's 89.
    served_tax = sorted(
        (
            str(o["Id"])
            for o in objects.get("Account", ())
            if o.get("AccountSubType") in ("SalesTaxPayable", "GlobalTaxPayable")
        ),
        key=_num,
    )
    names: dict[str, str] = {}
    for entity in ("Customer", "Vendor", "Employee"):
        for o in objects.get(entity, ()):
            names[str(o["Id"])] = str(o.get("DisplayName") or o.get("Name") or o["Id"])
    by_currency: dict[tuple[str, str], str] = {}
    for o in sorted(objects.get("Account", ()), key=lambda o: _num(str(o["Id"]))):
        kind = str(o.get("AccountType", ""))
        if kind in ("Accounts Receivable", "Accounts Payable"):
            by_currency.setdefault((kind, ref(o, "CurrencyRef") or "USD"), str(o["Id"]))
    rules = _Rules(items, names, served_tax[0] if served_tax else SALES_TAX, by_currency)
    accrual: list[Posting] = []
    documents: dict[tuple[str, str], Document] = {}
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for entity in POSTING_TYPES:
        for obj in objects.get(entity, ()):
            if obj.get("status") == "Deleted":
                continue
            by_type.setdefault(entity, []).append(obj)
            legs = rules.legs(entity, obj)
            accrual.extend(legs)
            doc = rules.document(entity, obj, legs)
            if doc is not None:
                documents[(doc.txn_type, doc.txn_id)] = doc
    cash = _cash_basis(accrual, documents)
    for plist in (accrual, cash):
        plist.sort(key=lambda p: (p.date, p.txn_type, _num(p.txn_id), p.line_id or ""))
    return Ledger(accounts, {ACCRUAL: accrual, CASH: cash}, documents, names)


def _num(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (0, text)


class _Rules:
    def __init__(
        self,
        items: Mapping[str, Mapping[str, Any]],
        names: dict[str, str],
        sales_tax: str,
        by_currency: Mapping[tuple[str, str], str],
    ) -> None:
        self.items = items
        self.names = names
        self.sales_tax = sales_tax
        self.by_currency = by_currency  # (account type, currency) -> account id
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
        return Decimal(str(rate)) if rate not in (None, "", 0) else Decimal(1)

    def _leg(
        self,
        base: Mapping[str, Any],
        rate: Decimal,
        account: str,
        amount: int,
        line: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> Posting:
        fields = dict(base)
        if line is not None:
            fields["line_id"] = str(line["Id"]) if line.get("Id") is not None else None
            if line.get("Description"):
                fields["memo"] = str(line["Description"])
        if detail is not None:
            fields["class_id"] = ref(detail, "ClassRef") or fields["class_id"]
            fields["department_id"] = ref(detail, "DepartmentRef") or fields["department_id"]
            if ref(detail, "CustomerRef") and fields["customer_id"] is None:
                fields["customer_id"] = ref(detail, "CustomerRef")
        fields.update(extra)
        return Posting(account_id=account, amount=home(amount, rate), txn_amount=amount, **fields)

    @staticmethod
    def _settle(legs: list[Posting], rate: Decimal) -> list[Posting]:
        """Line legs whose home amounts sum to the home value of their total: each line is
        converted on its own and the last one takes the rounding difference."""
        if rate == 1 or not legs:
            return legs
        drift = home(sum(p.txn_amount for p in legs), rate) - sum(p.amount for p in legs)
        if drift:
            legs[-1] = replace(legs[-1], amount=legs[-1].amount + drift)
        return legs

    def _balance(
        self, base: Mapping[str, Any], account: str, legs: list[Posting], **extra: Any
    ) -> Posting:
        amount = -sum(p.amount for p in legs)
        txn_amount = -sum(p.txn_amount for p in legs)
        fields = dict(base)
        fields.update(extra)
        return Posting(account_id=account, amount=amount, txn_amount=txn_amount, **fields)

    def _sales_lines(
        self, base: Mapping[str, Any], rate: Decimal, obj: Mapping[str, Any], sign: int
    ) -> list[Posting]:
        """Income per item line, discounts, and sales tax; `sign` -1 credits income."""
        legs: list[Posting] = []
        for line in _flat_lines(obj.get("Line") or []):
            kind = line.get("DetailType")
            amount = cents(line.get("Amount"))
            if kind == "SalesItemLineDetail":
                detail = line.get(kind) or {}
                item = self.items.get(ref(detail, "ItemRef") or "", {})
                account = ref(detail, "ItemAccountRef") or ref(item, "IncomeAccountRef") or "79"
                legs.append(self._leg(base, rate, account, sign * amount, line, detail))
            elif kind == "DiscountLineDetail":
                detail = line.get(kind) or {}
                account = ref(detail, "DiscountAccountRef") or DISCOUNTS
                legs.append(self._leg(base, rate, account, -sign * amount, line, detail))
        tax = cents((obj.get("TxnTaxDetail") or {}).get("TotalTax"))
        if tax:
            legs.append(self._leg(base, rate, self.sales_tax, sign * tax, line_id="tax"))
        return self._settle(legs, rate)

    def _expense_lines(
        self, base: Mapping[str, Any], rate: Decimal, obj: Mapping[str, Any], sign: int
    ) -> list[Posting]:
        """Debit (sign +1) the expense or asset account of each line."""
        legs: list[Posting] = []
        for line in _flat_lines(obj.get("Line") or []):
            kind = line.get("DetailType")
            detail = line.get(kind) or {} if isinstance(kind, str) else {}
            amount = cents(line.get("Amount"))
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
            legs.append(self._leg(base, rate, account, sign * amount, line, detail))
        tax = cents((obj.get("TxnTaxDetail") or {}).get("TotalTax"))
        if tax:
            legs.append(self._leg(base, rate, self.sales_tax, sign * tax, line_id="tax"))
        return self._settle(legs, rate)

    def _linked(
        self,
        base: Mapping[str, Any],
        rate: Decimal,
        obj: Mapping[str, Any],
        account: str,
        signs: Mapping[str, int],
    ) -> list[Posting]:
        """Legs of a payment on the open-item account, one per linked document."""
        legs: list[Posting] = []
        for n, line in enumerate(obj.get("Line") or [], start=1):
            amount = cents(line.get("Amount"))
            for link in line.get("LinkedTxn") or []:
                kind = str(link.get("TxnType", ""))
                if kind in signs:
                    legs.append(
                        self._leg(
                            base,
                            rate,
                            account,
                            signs[kind] * amount,
                            line_id=str(n),
                            applies_to=(kind, str(link.get("TxnId"))),
                        )
                    )
                    break
        return self._settle(legs, rate)

    # -------------------------------------------------------------- rules
    def legs(self, entity: str, obj: Mapping[str, Any]) -> list[Posting]:
        base = self._base(entity, obj)
        rate = self._rate(obj)
        if entity in ("Invoice", "SalesReceipt", "CreditMemo", "RefundReceipt"):
            sign = -1 if entity in ("Invoice", "SalesReceipt") else 1
            legs = self._sales_lines(base, rate, obj, sign)
            if entity in ("Invoice", "CreditMemo"):
                account = ref(obj, "ARAccountRef") or self.by_currency.get(
                    ("Accounts Receivable", base["currency"]), AR
                )
                self.document_accounts[(entity, base["txn_id"])] = account
                return [*legs, self._balance(base, account, legs, line_id=None)]
            account = ref(obj, "DepositToAccountRef") or UNDEPOSITED
            return [*legs, self._balance(base, account, legs, line_id=None)]
        if entity == "Payment":
            account = ref(obj, "ARAccountRef") or self.open_item_account(obj, "Invoice", AR)
            legs = self._linked(base, rate, obj, account, {"Invoice": -1, "CreditMemo": 1})
            total = home(cents(obj.get("TotalAmt")), rate)
            unapplied = total + sum(p.amount for p in legs)
            if unapplied:
                legs.append(
                    replace(
                        self._leg(base, rate, account, 0, line_id="unapplied"),
                        amount=-unapplied,
                        txn_amount=-unapplied,
                        applies_to=("Payment", base["txn_id"]),
                    )
                )
            deposit = ref(obj, "DepositToAccountRef") or UNDEPOSITED
            return [*legs, self._balance(base, deposit, legs)]
        if entity in ("Bill", "VendorCredit"):
            sign = 1 if entity == "Bill" else -1
            legs = self._expense_lines(base, rate, obj, sign)
            account = ref(obj, "APAccountRef") or self.by_currency.get(
                ("Accounts Payable", base["currency"]), AP
            )
            self.document_accounts[(entity, base["txn_id"])] = account
            return [*legs, self._balance(base, account, legs)]
        if entity == "BillPayment":
            account = ref(obj, "APAccountRef") or self.open_item_account(obj, "Bill", AP)
            legs = self._linked(base, rate, obj, account, {"Bill": 1, "VendorCredit": -1})
            total = home(cents(obj.get("TotalAmt")), rate)
            unapplied = total - sum(p.amount for p in legs)
            if unapplied:
                legs.append(
                    replace(
                        self._leg(base, rate, account, 0, line_id="unapplied"),
                        amount=unapplied,
                        txn_amount=unapplied,
                        applies_to=("BillPayment", base["txn_id"]),
                    )
                )
            pay = obj.get("CheckPayment") or obj.get("CreditCardPayment") or {}
            bank = ref(pay, "BankAccountRef") or ref(pay, "CCAccountRef") or CHECKING
            return [*legs, self._balance(base, bank, legs)]
        if entity == "Purchase":
            sign = -1 if obj.get("Credit") is True else 1
            legs = self._expense_lines(base, rate, obj, sign)
            account = ref(obj, "AccountRef") or CHECKING
            return [*legs, self._balance(base, account, legs)]
        if entity == "Deposit":
            legs = []
            for line in obj.get("Line") or []:
                detail = line.get("DepositLineDetail") or {}
                linked = bool(line.get("LinkedTxn"))
                account = UNDEPOSITED if linked else (ref(detail, "AccountRef") or "59")
                legs.append(
                    self._leg(base, rate, account, -cents(line.get("Amount")), line, detail)
                )
            legs = self._settle(legs, rate)
            account = ref(obj, "DepositToAccountRef") or CHECKING
            return [*legs, self._balance(base, account, legs)]
        if entity == "Transfer":
            amount = cents(obj.get("Amount"))
            src = ref(obj, "FromAccountRef") or CHECKING
            dst = ref(obj, "ToAccountRef") or "36"
            leg = self._leg(base, rate, src, -amount, line_id="from")
            return [leg, self._balance(base, dst, [leg], line_id="to")]
        if entity == "JournalEntry":
            legs = []
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
                legs.append(
                    self._leg(
                        base,
                        rate,
                        line_account,
                        sign * cents(line.get("Amount")),
                        line,
                        detail,
                        **extra,
                    )
                )
            if sum(p.txn_amount for p in legs):
                raise LedgerError(f"JournalEntry {base['txn_id']} does not balance")
            drift = sum(p.amount for p in legs)
            if drift and legs:  # conversion rounding: the last line absorbs it
                legs[-1] = replace(legs[-1], amount=legs[-1].amount - drift)
            return legs
        return []

    def document(self, entity: str, obj: Mapping[str, Any], legs: list[Posting]) -> Document | None:
        if entity not in ("Invoice", "CreditMemo", "Bill", "VendorCredit") or not legs:
            return None
        balancing = legs[-1]
        return Document(
            txn_type=entity,
            txn_id=balancing.txn_id,
            date=balancing.date,
            due_date=str(obj.get("DueDate") or balancing.date),
            doc_number=balancing.doc_number,
            customer_id=balancing.customer_id,
            vendor_id=balancing.vendor_id,
            total=abs(balancing.amount),
            legs=legs[:-1],
        )


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
