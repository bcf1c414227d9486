"""The entity registry: one spec per QuickBooks Online entity the emulator serves.

A spec says what the entity is (`name_list`, `transaction` or `singleton`), whether `/cdc` serves
it, whether it has an `Active` flag, its queryable properties, its default order and size, and how
its rows are generated and rendered. Query, CDC, batch, single reads, mutations, the truth, the CLI
and `testing.py` all read this registry; adding an entity is one spec here (plus its generator,
builder and, for a posting document, its ledger reader in `postings.py`).

Specs are listed in generation order: an entity is generated after everything it refers to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from qbo_emulator import books, postings
from qbo_emulator.data import Company, dumps

if TYPE_CHECKING:
    from qbo_emulator.data import Row
    from qbo_emulator.ledger import Entry

Kind = Literal["name_list", "transaction", "singleton"]
Sizes = Mapping[str, int]

# Queryable properties (type: id, int, datetime, date, string, money, bool, ref). Every entity
# also has Id, SyncToken, MetaData.CreateTime and MetaData.LastUpdatedTime.
_NAMED = {"Name": "string", "FullyQualifiedName": "string"}
_PERSON = {
    "DisplayName": "string",
    "GivenName": "string",
    "FamilyName": "string",
    "CompanyName": "string",
    "PrintOnCheckName": "string",
}
_SALES = {
    "DocNumber": "string",
    "TxnDate": "date",
    "CustomerRef": "ref",
    "DepartmentRef": "ref",
    "TotalAmt": "money",
}
_VENDOR_DOC = {
    "DocNumber": "string",
    "TxnDate": "date",
    "VendorRef": "ref",
    "TotalAmt": "money",
}


@dataclass(frozen=True)
class EntitySpec:
    """What one QBO entity is and how the emulator makes and renders it."""

    name: str
    kind: Kind
    generate: Callable[[Company, int], None]
    default_size: Default
    props: Mapping[str, str] = field(default_factory=dict)
    #: builds the entity's JSON object (money as `M()`/`N()` markers); the generic renderer
    build: Callable[[Company, Row], dict[str, Any]] | None = None
    #: renders the JSON bytes directly (the fast paths of Invoice, Customer and Item)
    render: Callable[[Company, Row], bytes] | None = None
    #: served by /cdc (Intuit: every entity except TaxAgency, TaxCode, TaxRate, TimeActivity)
    cdc: bool = True
    #: has an `Active` flag; queries without an Active filter return only active rows
    active: bool = False
    #: order of a query without ORDER BY
    order: tuple[str, ...] = ("Id",)
    #: fewest rows (rows the other entities refer to by fixed Id)
    min_size: int = 0
    #: can be hard-deleted (a tombstone in CDC); otherwise `delete` deactivates
    deletable: bool = False
    #: reads a row as its ledger entry (`postings.py`; the posting rules are `ledger.py`'s), None
    #: for documents that post nothing
    entry: Callable[[Company, Row], Entry] | None = None

    @property
    def resource(self) -> str:
        """The lower-case path segment of single reads: `/v3/company/<realm>/<resource>/<id>`."""
        return self.name.lower()

    def render_bytes(self, company: Company, row: Row) -> bytes:
        if self.render is not None:
            return self.render(company, row)
        assert self.build is not None
        return dumps(self.build(company, row))

    def obj(self, company: Company, row: Row) -> dict[str, Any]:
        """The row as a JSON object (markers resolved), for predicates on any property."""
        import json

        return dict(json.loads(self.render_bytes(company, row)))


def _name_list(name: str, gen: Any, build: Any, size: Default, **kw: Any) -> EntitySpec:
    kw.setdefault("active", True)
    kw.setdefault("order", ("Name",))
    props = {**_NAMED, "Active": "bool"} if kw["active"] else dict(_NAMED)
    props.update(kw.pop("props", {}))
    return EntitySpec(name, "name_list", gen, size, props, build, **kw)


def _txn(
    name: str, gen: Any, build: Any, size: Default, props: dict[str, str], **kw: Any
) -> EntitySpec:
    kw.setdefault("deletable", True)
    return EntitySpec(name, "transaction", gen, size, props, build, **kw)


class Default:
    """A default size: a number, or a share of another entity's size (and its description)."""

    def __init__(self, text: str, fn: Callable[[Sizes], int]) -> None:
        self.text = text
        self.fn = fn

    def __call__(self, sizes: Sizes) -> int:
        return self.fn(sizes)

    def __str__(self) -> str:
        return self.text


def _fixed(n: int) -> Default:
    return Default(str(n), lambda _sizes: n)


def _share(entity: str, divisor: int, floor: int = 0) -> Default:
    text = f"{entity} / {divisor}" + (f", at least {floor}" if floor else "")
    return Default(text, lambda sizes: max(floor, sizes[entity] // divisor))


SPECS: tuple[EntitySpec, ...] = (
    _name_list(
        "CompanyCurrency",
        books.gen_currencies,
        books.build_currency,
        _fixed(3),
        order=("Code",),
        props={"Code": "string"},
    ),
    _name_list(
        "Account",
        books.gen_accounts,
        books.build_account,
        _fixed(len(books.CORE_ACCOUNTS) + 3),
        min_size=len(books.CORE_ACCOUNTS),
        props={
            "AccountType": "string",
            "Classification": "string",
            "AccountSubType": "string",
            "CurrentBalance": "money",
            "SubAccount": "bool",
        },
    ),
    _name_list(
        "Term",
        books.gen_terms,
        books.build_term,
        _fixed(5),
        min_size=len(books.TERM_ROWS),
        props={"DueDays": "int", "Type": "string"},
    ),
    _name_list(
        "PaymentMethod",
        books.gen_payment_methods,
        books.build_payment_method,
        _fixed(6),
        props={"Type": "string"},
    ),
    _name_list(
        "TaxAgency",
        books.gen_tax_agencies,
        books.build_tax_agency,
        _fixed(2),
        active=False,
        cdc=False,
        order=("DisplayName",),
        min_size=len(books.TAX_AGENCIES),
        props={"DisplayName": "string"},
    ),
    _name_list(
        "TaxRate",
        books.gen_tax_rates,
        books.build_tax_rate,
        _fixed(4),
        cdc=False,
        min_size=len(books.TAX_RATES),
        props={"RateValue": "money"},
    ),
    _name_list(
        "TaxCode",
        books.gen_tax_codes,
        books.build_tax_code,
        _fixed(3),
        cdc=False,
        min_size=len(books.TAX_CODES),
        props={"Taxable": "bool"},
    ),
    _name_list("Class", books.gen_classes, books.build_class, _fixed(5)),
    _name_list("Department", books.gen_departments, books.build_department, _fixed(4)),
    _name_list("CustomerType", books.gen_customer_types, books.build_customer_type, _fixed(3)),
    EntitySpec(
        "Item",
        "name_list",
        lambda c, n: c._gen_items(n),
        Default("20 (`--items`)", lambda _s: 20),
        {
            "Active": "bool",
            "Name": "string",
            "FullyQualifiedName": "string",
            "Type": "string",
            "Sku": "string",
            "UnitPrice": "money",
            "Taxable": "bool",
            "TrackQtyOnHand": "bool",
        },
        render=lambda c, r: dumps(c.item_obj(r)),
        build=lambda c, r: c.item_obj(r),
        active=True,
        order=("Name",),
    ),
    EntitySpec(
        "Customer",
        "name_list",
        lambda c, n: c._gen_customers(n),
        Default("60 (`--customers`)", lambda _s: 60),
        {
            "Active": "bool",
            **_PERSON,
            "FullyQualifiedName": "string",
            "PrimaryEmailAddr": "string",
            "Job": "bool",
            "ParentRef": "ref",
            "Balance": "money",
            "Taxable": "bool",
        },
        render=lambda c, r: dumps(c.customer_obj(r)),
        build=lambda c, r: c.customer_obj(r),
        active=True,
        order=("FullyQualifiedName",),
    ),
    _name_list(
        "Vendor",
        books.gen_vendors,
        books.build_vendor,
        _share("Customer", 4, 6),
        order=("DisplayName",),
        props={**_PERSON, "Balance": "money", "Vendor1099": "bool"},
    ),
    _name_list(
        "Employee",
        books.gen_employees,
        books.build_employee,
        _fixed(6),
        order=("DisplayName",),
        props={**_PERSON, "HiredDate": "date"},
    ),
    _txn(
        "Estimate",
        books.gen_estimates,
        books.build_estimate,
        _share("Invoice", 20),
        {**_SALES, "TxnStatus": "string"},
    ),
    EntitySpec(
        "Invoice",
        "transaction",
        lambda c, n: c._gen_invoices(n),
        Default("400 (`--invoices`)", lambda _s: 400),
        {
            "DocNumber": "string",
            "TxnDate": "date",
            "DueDate": "date",
            "CustomerRef": "ref",
            "TotalAmt": "money",
            "Balance": "money",
            "PrintStatus": "string",
            "EmailStatus": "string",
        },
        entry=postings.read_invoice,
        render=lambda c, r: c.invoice_bytes(r),
        build=lambda c, r: c.invoice_obj(r),
        deletable=True,
    ),
    _txn(
        "Payment",
        books.gen_payments,
        books.build_payment,
        _share("Invoice", 2),
        {"TxnDate": "date", "CustomerRef": "ref", "TotalAmt": "money", "UnappliedAmt": "money"},
        render=books.payment_bytes,
        entry=postings.read_payment,
    ),
    _txn(
        "SalesReceipt",
        books.gen_sales_receipts,
        books.build_sales_receipt,
        _share("Invoice", 20),
        {**_SALES, "Balance": "money"},
        entry=postings.read_sales_receipt,
    ),
    _txn(
        "CreditMemo",
        books.gen_credit_memos,
        books.build_credit_memo,
        _share("Invoice", 40),
        {**_SALES, "Balance": "money", "RemainingCredit": "money"},
        entry=postings.read_credit_memo,
    ),
    _txn(
        "RefundReceipt",
        books.gen_refund_receipts,
        books.build_refund_receipt,
        _share("Invoice", 100),
        dict(_SALES),
        entry=postings.read_refund_receipt,
    ),
    _txn(
        "Deposit",
        books.gen_deposits,
        books.build_deposit,
        _share("Invoice", 40),
        {"TxnDate": "date", "TotalAmt": "money", "DepositToAccountRef": "ref"},
        entry=postings.read_deposit,
    ),
    _txn(
        "PurchaseOrder",
        books.gen_purchase_orders,
        books.build_purchase_order,
        _share("Invoice", 40),
        {**_VENDOR_DOC, "POStatus": "string"},
    ),
    _txn(
        "Bill",
        books.gen_bills,
        books.build_bill,
        _share("Invoice", 10),
        {**_VENDOR_DOC, "DueDate": "date", "Balance": "money"},
        entry=postings.read_bill,
    ),
    _txn(
        "BillPayment",
        books.gen_bill_payments,
        books.build_bill_payment,
        _share("Invoice", 15),
        {**_VENDOR_DOC, "PayType": "string"},
        entry=postings.read_bill_payment,
    ),
    _txn(
        "VendorCredit",
        books.gen_vendor_credits,
        books.build_vendor_credit,
        _share("Invoice", 100),
        {**_VENDOR_DOC, "Balance": "money"},
        entry=postings.read_vendor_credit,
    ),
    _txn(
        "Purchase",
        books.gen_purchases,
        books.build_purchase,
        _share("Invoice", 10),
        {
            "TxnDate": "date",
            "TotalAmt": "money",
            "PaymentType": "string",
            "AccountRef": "ref",
            "EntityRef": "ref",
        },
        entry=postings.read_purchase,
    ),
    _txn(
        "Transfer",
        books.gen_transfers,
        books.build_transfer,
        _share("Invoice", 100),
        {"TxnDate": "date", "Amount": "money", "FromAccountRef": "ref", "ToAccountRef": "ref"},
        entry=postings.read_transfer,
    ),
    _txn(
        "JournalEntry",
        books.gen_journal_entries,
        books.build_journal_entry,
        _share("Invoice", 40),
        {"DocNumber": "string", "TxnDate": "date", "Adjustment": "bool"},
        entry=postings.read_journal_entry,
    ),
    _txn(
        "TimeActivity",
        books.gen_time_activities,
        books.build_time_activity,
        _share("Invoice", 20),
        {"TxnDate": "date", "EmployeeRef": "ref", "CustomerRef": "ref", "BillableStatus": "string"},
        cdc=False,
    ),
    # Budget lists with `Active IN (true, false)` in singer-io's and Airbyte's queries: it has
    # an Active flag and is hidden when inactive, like a name list (unverified), and it is never
    # hard-deleted through the emulator.
    _txn(
        "Budget",
        books.gen_budgets,
        books.build_budget,
        _fixed(3),
        {"Name": "string", "StartDate": "date", "EndDate": "date", "Active": "bool"},
        active=True,
        deletable=False,
    ),
    _txn(
        "Attachable",
        books.gen_attachables,
        books.build_attachable,
        _share("Invoice", 40),
        {"FileName": "string", "ContentType": "string", "Size": "int"},
    ),
    EntitySpec(
        "CompanyInfo",
        "singleton",
        books.gen_singleton("CompanyInfo"),
        _fixed(1),
        {"CompanyName": "string", "LegalName": "string", "Country": "string"},
        books.build_company_info,
        cdc=False,
        min_size=1,
    ),
    EntitySpec(
        "Preferences",
        "singleton",
        books.gen_singleton("Preferences"),
        _fixed(1),
        {},
        books.build_preferences,
        cdc=False,
        min_size=1,
    ),
)

REGISTRY: dict[str, EntitySpec] = {s.name: s for s in SPECS}
#: lower-case spelling -> the name as QBO spells it
CANONICAL: dict[str, str] = {s.name.lower(): s.name for s in SPECS}
NAME_LISTS = tuple(s.name for s in SPECS if s.kind == "name_list")
TRANSACTIONS = tuple(s.name for s in SPECS if s.kind == "transaction")
SINGLETONS = tuple(s.name for s in SPECS if s.kind == "singleton")
CDC_ENTITIES = tuple(s.name for s in SPECS if s.cdc)
#: entities whose rows can be hard-deleted (tombstones in CDC, `deleted` in the truth)
DELETABLE = tuple(s.name for s in SPECS if s.deletable)
#: entities with an Active flag (deactivation instead of deletion)
WITH_ACTIVE = tuple(s.name for s in SPECS if s.active)
#: the config keys and CLI flags that predate per-entity sizes
LEGACY_SIZES = {"customers": "Customer", "items": "Item", "invoices": "Invoice"}


def canonical(name: str) -> str | None:
    return CANONICAL.get(name.lower())


def resolve_sizes(
    customers: int, items: int, invoices: int, sizes: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Rows per entity: explicit sizes win, then the three legacy sizes, then the defaults.

    Raises ValueError naming the entity for an unknown name, a negative size or a size below an
    entity's minimum.
    """
    given: dict[str, int] = {}
    for key, value in (sizes or {}).items():
        name = canonical(str(key))
        if name is None:
            raise ValueError(f"sizes: unknown entity {key!r}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"sizes: {name} must be an integer, got {value!r}")
        given[name] = value
    out: dict[str, int] = {"Customer": customers, "Item": items, "Invoice": invoices}
    out.update({k: v for k, v in given.items() if k in out})
    for spec in SPECS:
        if spec.name not in out:
            out[spec.name] = given.get(spec.name, spec.default_size(out))
    for spec in SPECS:
        n = out[spec.name]
        if n < 0:
            raise ValueError(f"sizes: {spec.name} must be >= 0")
        if n < spec.min_size:
            raise ValueError(f"sizes: {spec.name} needs at least {spec.min_size} rows")
    return {spec.name: out[spec.name] for spec in SPECS}
