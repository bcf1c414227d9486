"""The company's books beyond invoices, customers and items: generators and JSON builders.

Every generator takes the company and a row count, fills the entity's table and records the links
between documents (`Company.links`), so that the company is one consistent set of books:

- the chart of accounts has every account the documents post to (AR, AP, Undeposited Funds, bank,
  credit card, income, cost of goods sold, expenses, equity, inventory asset, sales tax payable);
- sales documents name existing customers, items, classes, departments and terms; items post to
  their income (and expense/asset) accounts;
- payments apply to open invoices and never beyond their balance, bill payments to open bills;
- deposits move undeposited payments and sales receipts into a bank account;
- purchases, transfers and journal entries move money between real accounts; every journal entry
  balances.

Money is integer cents throughout; builders emit it with the `M()`/`N()` markers of `data.dumps`.
Generators use their own seeded RNG, so one entity's size never changes another entity's rows
(except through the links that make the books consistent).
"""

from __future__ import annotations

import random
import zlib
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from qbo_emulator.data import (
    CITIES,
    FIRST_NAMES,
    LAST_NAMES,
    STREETS,
    M,
    N,
    R,
    Row,
    mix,
    money,
)
from qbo_emulator.timeutil import SEED_END, SEED_START, pacific_date, pacific_seconds

if TYPE_CHECKING:
    from qbo_emulator.data import Company

USD = {"value": "USD", "name": "United States Dollar"}
DAY = 86400

# (Id, Name, Classification, AccountType, AccountSubType): the accounts the documents post to.
CORE_ACCOUNTS: tuple[tuple[int, str, str, str, str], ...] = (
    (1, "Services", "Revenue", "Income", "ServiceFeeIncome"),
    (2, "Retained Earnings", "Equity", "Equity", "RetainedEarnings"),
    (4, "Undeposited Funds", "Asset", "Other Current Asset", "UndepositedFunds"),
    (7, "Advertising", "Expense", "Expense", "AdvertisingPromotional"),
    (13, "Meals and Entertainment", "Expense", "Expense", "EntertainmentMeals"),
    (15, "Legal & Professional Fees", "Expense", "Expense", "LegalProfessionalFees"),
    (17, "Rent or Lease", "Expense", "Expense", "RentOrLeaseOfBuildings"),
    (20, "Office Expenses", "Expense", "Expense", "OfficeGeneralAdministrativeExpenses"),
    (28, "Bank Charges", "Expense", "Expense", "BankCharges"),
    (33, "Accounts Payable (A/P)", "Liability", "Accounts Payable", "AccountsPayable"),
    (34, "Opening Balance Equity", "Equity", "Equity", "OpeningBalanceEquity"),
    (35, "Checking", "Asset", "Bank", "Checking"),
    (36, "Savings", "Asset", "Bank", "Savings"),
    (37, "Truck", "Asset", "Fixed Asset", "Vehicles"),
    (38, "Accumulated Depreciation", "Asset", "Fixed Asset", "AccumulatedDepreciation"),
    (41, "Mastercard", "Liability", "Credit Card", "CreditCard"),
    (43, "Loan Payable", "Liability", "Other Current Liability", "LoanPayable"),
    (55, "Automobile", "Expense", "Expense", "Auto"),
    (59, "Interest Earned", "Revenue", "Other Income", "InterestEarned"),
    (60, "Depreciation", "Expense", "Other Expense", "Depreciation"),
    (76, "Utilities", "Expense", "Expense", "Utilities"),
    (79, "Sales of Product Income", "Revenue", "Income", "SalesOfProductIncome"),
    (80, "Cost of Goods Sold", "Expense", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    (81, "Inventory Asset", "Asset", "Other Current Asset", "Inventory"),
    (84, "Accounts Receivable (A/R)", "Asset", "Accounts Receivable", "AccountsReceivable"),
    (86, "Discounts given", "Revenue", "Income", "DiscountsRefundsGiven"),
    (
        90,
        "Board of Equalization Payable",
        "Liability",
        "Other Current Liability",
        "GlobalTaxPayable",
    ),
)
ACCT_SERVICES = 1
ACCT_UNDEPOSITED = 4
ACCT_AP = 33
ACCT_OPENING_EQUITY = 34
ACCT_CHECKING = 35
ACCT_SAVINGS = 36
ACCT_TRUCK = 37
ACCT_ACCUM_DEPRECIATION = 38
ACCT_MASTERCARD = 41
ACCT_LOAN = 43
ACCT_DEPRECIATION = 60
ACCT_PRODUCT_INCOME = 79
ACCT_COGS = 80
ACCT_INVENTORY = 81
ACCT_AR = 84
ACCT_SALES_TAX = 90
ACCT_INTEREST = 59
EXPENSE_ACCOUNTS = (7, 13, 15, 17, 20, 28, 55, 76)
# extra accounts are sub-accounts of an expense account: (parent, name)
EXTRA_ACCOUNTS = (
    (76, "Telephone"),
    (76, "Gas and Electric"),
    (20, "Supplies"),
    (20, "Software"),
    (15, "Accounting"),
    (15, "Lawyer"),
    (55, "Fuel"),
    (55, "Repairs and Maintenance"),
    (7, "Online Ads"),
    (28, "Card Fees"),
)
FIRST_EXTRA_ACCOUNT = 100

TERM_ROWS = ((1, "Due on receipt", 0), (2, "Net 15", 15), (3, "Net 30", 30), (4, "Net 60", 60))
EXTRA_TERMS = (10, 45, 90, 7, 21, 120)
PAYMENT_METHODS = (
    (1, "Cash", "NON_CREDIT_CARD"),
    (2, "Check", "NON_CREDIT_CARD"),
    (3, "Visa", "CREDIT_CARD"),
    (4, "MasterCard", "CREDIT_CARD"),
    (5, "Discover", "CREDIT_CARD"),
)
EXTRA_PAYMENT_METHODS = ("American Express", "Diners Club", "Gift Card", "Wire", "PayPal")
# TaxAgency: (Id, DisplayName); TaxRate: (Id, Name, RateValue*10, AgencyId);
# TaxCode: (Id, Name, [TaxRate ids]). Invoices are taxed by TaxCode 2 (TaxRate 3, 8 %).
TAX_AGENCIES = ((1, "Arizona Dept. of Revenue"), (2, "Board of Equalization"))
TAX_RATES = ((1, "AZ State tax", 71, 1), (2, "Tucson City", 20, 1), (3, "California", 80, 2))
TAX_CODES = ((2, "California", (3,)), (3, "Tucson", (1, 2)))
CURRENCIES = (
    ("EUR", "Euro"),
    ("CAD", "Canadian Dollar"),
    ("GBP", "British Pound Sterling"),
    ("MXN", "Mexican Peso"),
    ("JPY", "Japanese Yen"),
    ("AUD", "Australian Dollar"),
)
#: home-currency (USD) value of one unit, in millionths; a document's rate varies within ±3 %
BASE_RATES = {
    "EUR": 1_085_000,
    "CAD": 735_000,
    "GBP": 1_270_000,
    "MXN": 55_000,
    "JPY": 6_800,
    "AUD": 660_000,
}
FIRST_FOREIGN_AP = 300
CLASS_NAMES = ("Landscaping", "Maintenance", "Design", "Installation", "Retail", "Wholesale")
DEPARTMENT_NAMES = ("Downtown", "Uptown", "Online", "Warehouse", "East Bay", "Peninsula")
CUSTOMER_TYPES = ("Commercial", "Residential", "Government", "Non-profit", "Wholesale")
VENDOR_NOUNS = (
    "Lumber and Building Materials",
    "Hardware",
    "Properties",
    "Telephone",
    "Masonry",
    "Car Wash",
    "Burger Joint",
    "Gas and Electric",
    "& Associates",
    "Office Supply",
    "Nursery",
    "Insurance",
)
PURCHASE_NOTES = ("Bought lunch for crew 102", "Fuel", "Office supplies", "", "", "")
ATTACHMENTS = (
    ("receipt.jpg", "image/jpeg"),
    ("contract.pdf", "application/pdf"),
    ("signed-estimate.pdf", "application/pdf"),
    ("photo.png", "image/png"),
)


# ---------------------------------------------------------------------------- helpers
def rng_for(c: Company, entity: str) -> random.Random:
    return random.Random(f"{entity.lower()}:{c.seed}:{c.realm_id}")


def setup_times(count: int, step: int = 60) -> list[tuple[int, int]]:
    """Lists set up with the company: created in its first hour, in order."""
    return [(SEED_START + 3600 + i * step, SEED_START + 3600 + i * step) for i in range(count)]


def later(rng: random.Random, start: int, max_days: int) -> int:
    """An instant 0..max_days after start, before the end of the seeded period."""
    return min(start + int(rng.random() * max_days * DAY), SEED_END - 2)


def add_row(
    c: Company,
    entity: str,
    iid: int,
    create: int,
    lut: int,
    info: dict[str, Any],
    ref: int = 0,
    active: bool = True,
    sync: int | None = None,
) -> Row:
    if sync is None:
        sync = 0 if lut == create else 1 + (mix(iid * 977 + create) % 3)
    if not active:
        sync = max(sync, 1)
        lut = max(lut, create + 1)
    salt = zlib.crc32(entity.encode()) << 24
    row = Row(iid, create, lut, sync, active, 0, mix(salt ^ mix(c.seed) ^ iid), ref)
    row.info = info
    table = c.tables[entity]
    table.rows[iid] = row  # the company indexes each table once it is generated
    table.next_id = max(table.next_id, iid + 1)
    return row


def mark_inactive(c: Company, entity: str, rng: random.Random, rate: float, skip: int = 0) -> None:
    """About `rate` of the rows after the first `skip` inactive; at least one when there are extra
    rows past `skip` or three rows in all; never every row."""
    table = c.tables[entity]
    rows = sorted(table.rows.values(), key=lambda r: r.id)[max(skip, 1) :]
    chosen = [r for r in rows if rng.random() < rate]
    if not chosen and rows and (skip > 0 or len(table.rows) >= 3):
        chosen = [rows[-1]]
    for row in chosen:
        row.active = False
        row.sync = max(row.sync, 1)
        if row.lut <= row.create:
            table.move(row, later(rng, row.create + 1, 400))


def delete_some(c: Company, entity: str, rng: random.Random, rows: list[Row]) -> list[Row]:
    """Hard-delete about 1 % of a transaction's rows (when there are 50 or more); the rest."""
    if len(rows) < 50:
        return rows
    doomed = {r.id for r in rng.sample(rows, max(1, len(rows) // 100))}
    table = c.tables[entity]
    for row in rows:
        if row.id in doomed:
            table.remove(row)
            table.deleted[row.id] = later(rng, row.lut + 1, 30)
    return [r for r in rows if r.id not in doomed]


def txn_times(c: Company, rng: random.Random, count: int) -> list[tuple[int, int]]:
    return c._times(count, rng)


def link(c: Company, target: str, target_id: int, kind: str, src_id: int, cents: int) -> None:
    c.links.setdefault((target, target_id), []).append((kind, src_id, cents))


def register(c: Company, entity: str, row: Row) -> None:
    """Record that the row applies to the documents in its `applies` list."""
    for target, tid, cents in (row.info or {}).get("applies", ()):
        link(c, target, tid, entity, row.id, cents)


def linked(c: Company, target: str, target_id: int) -> list[tuple[str, int, int]]:
    return c.links.get((target, target_id), [])


def active_ids(c: Company, entity: str) -> list[int]:
    return sorted(i for i, r in c.tables[entity].rows.items() if r.active)


def pick(ids: list[int], h: int) -> int:
    return ids[h % len(ids)] if ids else 0


# ---------------------------------------------------------------------------- currencies
def foreign_codes(c: Company) -> list[str]:
    """Codes of the active company currencies when the company is multi-currency, else []."""
    if not c.multicurrency:
        return []
    rows = c.tables["CompanyCurrency"].rows
    return [
        str(info["code"])
        for i in sorted(rows)
        if rows[i].active and (info := rows[i].info) is not None
    ]


def currency_ref(c: Company, code: str | None) -> dict[str, str]:
    if not code:
        return USD
    rows = c.tables["CompanyCurrency"].rows.values()
    name = next((str(r.info["name"]) for r in rows if r.info and r.info["code"] == code), code)
    return {"value": code, "name": name}


def rate_for(code: str, h: int) -> int:
    """A document's exchange rate (home value of one unit, in millionths) from its hash."""
    base_rate = BASE_RATES.get(code, 1_000_000)
    return base_rate * (970 + h % 61) // 1000


def to_home(cents: int, micros: int) -> int:
    """Foreign cents in home cents, half up."""
    value = cents * micros
    return (value + 500_000) // 1_000_000 if value >= 0 else -((-value + 500_000) // 1_000_000)


def home_lines(amounts: list[int], micros: int) -> list[int]:
    """Each amount in home cents, the rounding left on the last, so that they sum to the
    home value of the total."""
    homes = [to_home(a, micros) for a in amounts]
    if homes:
        homes[-1] += to_home(sum(amounts), micros) - sum(homes)
    return homes


def ap_account(c: Company, code: str | None) -> int:
    """The A/P account of a currency (QuickBooks keeps one per currency)."""
    if code:
        for k, known in enumerate(foreign_codes(c)):
            if known == code:
                return FIRST_FOREIGN_AP + k
    return ACCT_AP


def department_field(c: Company, obj: dict[str, Any], row: Row) -> None:
    """A DepartmentRef (location) on about a third of the documents."""
    departments = c.choices("Department")
    h2 = mix(row.h)
    if departments and h2 % 3 == 0:
        obj["DepartmentRef"] = ref(c, "Department", pick(departments, h2 >> 8))


def currency_fields(c: Company, obj: dict[str, Any], info: dict[str, Any]) -> None:
    """CurrencyRef, and ExchangeRate for a foreign-currency document."""
    obj["CurrencyRef"] = currency_ref(c, info.get("cur"))
    if info.get("cur"):
        obj["ExchangeRate"] = R(int(info["rate"]))


def base(row: Row) -> dict[str, Any]:
    from qbo_emulator.data import Company

    return {
        "domain": "QBO",
        "sparse": False,
        "Id": str(row.id),
        "SyncToken": str(row.sync),
        "MetaData": Company._meta(row),
    }


def deleted_suffix(row: Row, name: str) -> str:
    return name if row.active else f"{name} (deleted)"


def ref(c: Company, entity: str, iid: int) -> dict[str, str]:
    """`{"value": id, "name": name}`, cached until a name-list row is deactivated."""
    key = (entity, iid)
    found = c.ref_objs.get(key)
    if found is None:
        found = {"value": str(iid), "name": c.ref_name(entity, iid)}
        c.ref_objs[key] = found
    return found


def due(txn_date: str, days: int) -> str:
    return (date.fromisoformat(txn_date) + timedelta(days=days)).isoformat()


def address(h: int, addr_id: int) -> dict[str, str]:
    city, state, postal = CITIES[h % len(CITIES)]
    return {
        "Id": str(addr_id),
        "Line1": f"{(h >> 8) % 9000 + 100} {STREETS[(h >> 20) % len(STREETS)]}",
        "City": city,
        "CountrySubDivisionCode": state,
        "PostalCode": postal,
    }


def private_note(row: Row, obj: dict[str, Any], note: str = "") -> None:
    text = note
    if row.version:
        text = f"Updated {row.version} time(s)"
    if text:
        obj["PrivateNote"] = text


# ---------------------------------------------------------------------------- name lists
def gen_accounts(c: Company, count: int) -> None:
    rng = rng_for(c, "Account")
    total = max(count, len(CORE_ACCOUNTS))
    times = setup_times(total)
    for n, (aid, name, cls, kind, sub) in enumerate(CORE_ACCOUNTS):
        info = {"name": name, "cls": cls, "type": kind, "sub": sub, "parent": 0}
        add_row(c, "Account", aid, *times[n], info)
    for k in range(total - len(CORE_ACCOUNTS)):
        parent, leaf = EXTRA_ACCOUNTS[k % len(EXTRA_ACCOUNTS)]
        if k >= len(EXTRA_ACCOUNTS):
            leaf = f"{leaf} {k // len(EXTRA_ACCOUNTS) + 1}"
        _, _, cls, kind, sub = next(a for a in CORE_ACCOUNTS if a[0] == parent)
        info = {"name": leaf, "cls": cls, "type": kind, "sub": sub, "parent": parent}
        create, lut = times[len(CORE_ACCOUNTS) + k]
        add_row(c, "Account", FIRST_EXTRA_ACCOUNT + k, create, lut, info)
    for k, code in enumerate(foreign_codes(c)):
        info = {
            "name": f"Accounts Payable (A/P) - {code}",
            "cls": "Liability",
            "type": "Accounts Payable",
            "sub": "AccountsPayable",
            "parent": 0,
            "currency": code,
        }
        add_row(c, "Account", FIRST_FOREIGN_AP + k, *times[-1], info)
    # only extra accounts are ever inactive: the documents post to the core chart
    extras = [
        r
        for r in c.tables["Account"].rows.values()
        if FIRST_EXTRA_ACCOUNT <= r.id < FIRST_FOREIGN_AP
    ]
    for row in extras:
        if rng.random() < 0.15 or (row is extras[-1] and len(extras) >= 2):
            row.active = False
            row.sync = 1
            c.tables["Account"].move(row, later(rng, row.create + DAY, 600))


def account_fqn(c: Company, row: Row) -> str:
    info = row.info or {}
    name = str(info["name"])
    if info.get("parent"):
        parent = c.tables["Account"].rows.get(int(info["parent"]))
        if parent is not None and parent.info is not None:
            name = f"{parent.info['name']}:{name}"
    return deleted_suffix(row, name)


def build_account(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    obj: dict[str, Any] = {
        "Name": deleted_suffix(row, str(info["name"])),
        "SubAccount": bool(info.get("parent")),
    }
    if info.get("parent"):
        obj["ParentRef"] = {"value": str(info["parent"])}
    balance = c.account_balance(row.id)
    obj.update(
        {
            "FullyQualifiedName": account_fqn(c, row),
            "Active": row.active,
            "Classification": info["cls"],
            "AccountType": info["type"],
            "AccountSubType": info["sub"],
            "CurrentBalance": M(balance),
            "CurrentBalanceWithSubAccounts": M(balance + c.sub_account_balance(row.id)),
            "CurrencyRef": currency_ref(c, info.get("currency")),
            **base(row),
        }
    )
    return obj


def gen_terms(c: Company, count: int) -> None:
    rng = rng_for(c, "Term")
    total = max(count, len(TERM_ROWS))
    times = setup_times(total)
    for n, (tid, name, days) in enumerate(TERM_ROWS):
        add_row(c, "Term", tid, *times[n], {"name": name, "days": days})
    for k in range(total - len(TERM_ROWS)):
        days = EXTRA_TERMS[k % len(EXTRA_TERMS)] + 100 * (k // len(EXTRA_TERMS))
        add_row(
            c,
            "Term",
            len(TERM_ROWS) + k + 1,
            *times[len(TERM_ROWS) + k],
            {"name": f"Net {days}", "days": days},
        )
    mark_inactive(c, "Term", rng, 0.2, skip=len(TERM_ROWS))


def build_term(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    return {
        "Name": deleted_suffix(row, str(info["name"])),
        "Active": row.active,
        "Type": "STANDARD",
        "DueDays": info["days"],
        "DiscountDays": 0,
        **base(row),
    }


def gen_payment_methods(c: Company, count: int) -> None:
    rng = rng_for(c, "PaymentMethod")
    times = setup_times(count)
    for k in range(count):
        if k < len(PAYMENT_METHODS):
            _, name, kind = PAYMENT_METHODS[k]
        else:
            j = k - len(PAYMENT_METHODS)
            name = EXTRA_PAYMENT_METHODS[j % len(EXTRA_PAYMENT_METHODS)]
            if j >= len(EXTRA_PAYMENT_METHODS):
                name = f"{name} {j // len(EXTRA_PAYMENT_METHODS) + 1}"
            kind = "CREDIT_CARD" if "Express" in name or "Diners" in name else "NON_CREDIT_CARD"
        add_row(c, "PaymentMethod", k + 1, *times[k], {"name": name, "kind": kind})
    mark_inactive(c, "PaymentMethod", rng, 0.3, skip=len(PAYMENT_METHODS))


def build_payment_method(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    return {
        "Name": deleted_suffix(row, str(info["name"])),
        "Active": row.active,
        "Type": info["kind"],
        **base(row),
    }


def gen_tax_agencies(c: Company, count: int) -> None:
    times = setup_times(count, 1)
    for k in range(count):
        name = TAX_AGENCIES[k][1] if k < len(TAX_AGENCIES) else f"Tax Agency {k + 1}"
        add_row(c, "TaxAgency", k + 1, *times[k], {"name": name})


def build_tax_agency(c: Company, row: Row) -> dict[str, Any]:
    return {
        "TaxTrackedOnPurchases": False,
        "TaxTrackedOnSales": True,
        **base(row),
        "DisplayName": (row.info or {})["name"],
    }


def gen_tax_rates(c: Company, count: int) -> None:
    rng = rng_for(c, "TaxRate")
    times = setup_times(count, 1)
    for k in range(count):
        if k < len(TAX_RATES):
            _, name, tenths, agency = TAX_RATES[k]
        else:
            name, tenths, agency = f"District tax {k + 1}", 5 + k, 1
        add_row(c, "TaxRate", k + 1, *times[k], {"name": name, "tenths": tenths, "agency": agency})
    mark_inactive(c, "TaxRate", rng, 0.3, skip=len(TAX_RATES))


def build_tax_rate(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    return {
        "Name": deleted_suffix(row, str(info["name"])),
        "Description": "Sales Tax",
        "Active": row.active,
        "RateValue": N(int(info["tenths"]) * 10),
        "AgencyRef": {"value": str(info["agency"])},
        "SpecialTaxType": "NONE",
        "DisplayType": "ReadOnly",
        **base(row),
    }


def gen_tax_codes(c: Company, count: int) -> None:
    rng = rng_for(c, "TaxCode")
    times = setup_times(count, 1)
    for k in range(count):
        if k < len(TAX_CODES):
            tid, name, rates = TAX_CODES[k]
        else:
            tid, name, rates = k + 2, f"Tax group {k + 1}", (3,)
        add_row(c, "TaxCode", tid, *times[k], {"name": name, "rates": list(rates)})
    mark_inactive(c, "TaxCode", rng, 0.3, skip=len(TAX_CODES))


def build_tax_code(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    details = [
        {
            "TaxRateRef": ref(c, "TaxRate", rid),
            "TaxTypeApplicable": "TaxOnAmount",
            "TaxOrder": 0,
        }
        for rid in info["rates"]
        if rid in c.tables["TaxRate"].rows
    ]
    return {
        "Name": deleted_suffix(row, str(info["name"])),
        "Description": info["name"],
        "Active": row.active,
        "Taxable": True,
        "TaxGroup": True,
        "SalesTaxRateList": {"TaxRateDetail": details},
        "PurchaseTaxRateList": {"TaxRateDetail": []},
        **base(row),
    }


def gen_currencies(c: Company, count: int) -> None:
    rng = rng_for(c, "CompanyCurrency")
    times = setup_times(count)
    for k in range(count):
        code, name = CURRENCIES[k % len(CURRENCIES)]
        if k >= len(CURRENCIES):
            code, name = f"X{k:02d}", f"Currency {k + 1}"
        add_row(c, "CompanyCurrency", k + 1, *times[k], {"name": name, "code": code})
    mark_inactive(c, "CompanyCurrency", rng, 0.2)


def build_currency(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    return {
        "Code": info["code"],
        "Name": info["name"],
        "Active": row.active,
        **base(row),
    }


def _simple_list(entity: str, names: tuple[str, ...], extra: str) -> Any:
    def gen(c: Company, count: int) -> None:
        rng = rng_for(c, entity)
        for k, (create, lut) in enumerate(c._times(count, rng)):
            name = names[k % len(names)]
            if k >= len(names):
                name = f"{name} {extra} {k // len(names) + 1}"
            add_row(c, entity, k + 1, create, lut, {"name": name})
        mark_inactive(c, entity, rng, 0.1)

    return gen


gen_classes = _simple_list("Class", CLASS_NAMES, "Group")
gen_departments = _simple_list("Department", DEPARTMENT_NAMES, "Branch")
gen_customer_types = _simple_list("CustomerType", CUSTOMER_TYPES, "Segment")


def build_class(c: Company, row: Row) -> dict[str, Any]:
    name = deleted_suffix(row, str((row.info or {})["name"]))
    return {
        "Name": name,
        "SubClass": False,
        "FullyQualifiedName": name,
        "Active": row.active,
        **base(row),
    }


def build_department(c: Company, row: Row) -> dict[str, Any]:
    name = deleted_suffix(row, str((row.info or {})["name"]))
    return {
        "Name": name,
        "SubDepartment": False,
        "FullyQualifiedName": name,
        "Active": row.active,
        **base(row),
    }


def build_customer_type(c: Company, row: Row) -> dict[str, Any]:
    return {
        "Name": deleted_suffix(row, str((row.info or {})["name"])),
        "Active": row.active,
        **base(row),
    }


def gen_vendors(c: Company, count: int) -> None:
    rng = rng_for(c, "Vendor")
    used: set[str] = set()
    for k, (create, lut) in enumerate(c._times(count, rng)):
        given, family = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = f"{family} {VENDOR_NOUNS[k % len(VENDOR_NOUNS)]}" if rng.random() < 0.7 else ""
        display = c._unique(company or f"{given} {family}", used)
        add_row(
            c,
            "Vendor",
            k + 1,
            create,
            lut,
            {
                "name": display,
                "given": given,
                "family": family,
                "company": company,
                "v1099": rng.random() < 0.2,
            },
        )
    codes = foreign_codes(c)
    if codes:  # every third vendor bills in a foreign currency
        for vid, row in c.tables["Vendor"].rows.items():
            if vid % 3 == 0 and row.info is not None:
                row.info["currency"] = codes[(vid // 3) % len(codes)]
    mark_inactive(c, "Vendor", rng, 0.08)


def build_vendor(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    h = row.h
    obj: dict[str, Any] = {}
    if h % 3:
        obj["BillAddr"] = address(h >> 3, 500 + row.id)
    obj.update(
        {
            "Balance": M(c.vendor_balance(row.id)),
            "Vendor1099": bool(info["v1099"]),
            "CurrencyRef": currency_ref(c, info.get("currency")),
            **base(row),
            "GivenName": info["given"],
            "FamilyName": info["family"],
        }
    )
    if info["company"]:
        obj["CompanyName"] = info["company"]
    obj["DisplayName"] = deleted_suffix(row, str(info["name"]))
    obj["PrintOnCheckName"] = info["name"]
    obj["Active"] = row.active
    obj["PrimaryPhone"] = {"FreeFormNumber": f"(415) 555-{h % 10000:04d}"}
    return obj


def gen_employees(c: Company, count: int) -> None:
    rng = rng_for(c, "Employee")
    used: set[str] = set()
    for k, (create, lut) in enumerate(c._times(count, rng)):
        given, family = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = c._unique(f"{given} {family}", used)
        hired = pacific_date(max(SEED_START, create - int(rng.random() * 400) * DAY))
        add_row(
            c,
            "Employee",
            k + 1,
            create,
            lut,
            {"name": name, "given": given, "family": family, "hired": hired},
        )
    mark_inactive(c, "Employee", rng, 0.1)


def build_employee(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    obj: dict[str, Any] = {
        "BillableTime": bool(row.h & 1),
        "HiredDate": info["hired"],
        **base(row),
        "GivenName": info["given"],
        "FamilyName": info["family"],
        "DisplayName": deleted_suffix(row, str(info["name"])),
        "PrintOnCheckName": info["name"],
        "Active": row.active,
    }
    if row.h % 3:
        obj["PrimaryPhone"] = {"FreeFormNumber": f"(540) 555-{row.h % 10000:04d}"}
    return obj


# ---------------------------------------------------------------------------- sales documents
def sales_lines(c: Company, h: int, max_lines: int = 3) -> list[tuple[int, int, int, int]]:
    """(item id, qty in hundredths, unit price cents, amount cents) from a hash."""
    items = c._line_items_cache()
    out = []
    for j in range(1 + h % max_lines):
        item = items[(h >> (5 + j * 8)) % len(items)]
        qty = (1 + (h >> (30 + j * 4)) % 9) * 100
        price = int(item.info["base_price"]) if item.info else 0
        out.append((item.id, qty, price, price * qty // 100))
    return out


def sales_line_objs(
    c: Company, lines: list[tuple[int, int, int, int]], taxed: bool, h: int
) -> tuple[list[dict[str, Any]], int]:
    classes = c.choices("Class")
    objs: list[dict[str, Any]] = []
    subtotal = 0
    for n, (item_id, qty, price, amount) in enumerate(lines, start=1):
        name = c.ref_name("Item", item_id)
        detail: dict[str, Any] = {"ItemRef": {"value": str(item_id), "name": name}}
        if classes and (h >> (50 + n)) & 1:
            cid = pick(classes, h >> (20 + n))
            detail["ClassRef"] = ref(c, "Class", cid)
        detail["UnitPrice"] = N(price)
        detail["Qty"] = N(qty)
        acct = c.item_income_account(item_id)
        detail["ItemAccountRef"] = ref(c, "Account", acct)
        detail["TaxCodeRef"] = {"value": "TAX" if taxed else "NON"}
        objs.append(
            {
                "Id": str(n),
                "LineNum": n,
                "Description": name,
                "Amount": M(amount),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": detail,
            }
        )
        subtotal += amount
    objs.append(
        {"Amount": M(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    )
    return objs, subtotal


def tax_detail(subtotal: int, taxed: bool) -> tuple[dict[str, Any], int]:
    if not taxed:
        return {"TotalTax": 0}, 0
    tax = (subtotal * 8 + 50) // 100  # half up
    return (
        {
            "TxnTaxCodeRef": {"value": "2"},
            "TotalTax": M(tax),
            "TaxLine": [
                {
                    "Amount": M(tax),
                    "DetailType": "TaxLineDetail",
                    "TaxLineDetail": {
                        "TaxRateRef": {"value": "3"},
                        "PercentBased": True,
                        "TaxPercent": 8,
                        "NetAmountTaxable": M(subtotal),
                    },
                }
            ],
        },
        tax,
    )


def sales_facts(c: Company, row: Row) -> dict[str, Any]:
    """Lines and amounts of a sales receipt, credit memo, refund receipt or estimate."""
    h = row.h
    lines = sales_lines(c, h)
    subtotal = sum(line[3] for line in lines)
    taxed = (h >> 62) & 1 == 1
    tax = (subtotal * 8 + 50) // 100 if taxed else 0
    return {
        "lines": lines,
        "subtotal": subtotal,
        "taxed": taxed,
        "tax": tax,
        "total": subtotal + tax,
    }


def _customers_for_sales(c: Company) -> list[int]:
    ids = active_ids(c, "Customer")
    if not ids:
        ids = sorted(c.tables["Customer"].rows)
    return ids


def _gen_sales(c: Company, entity: str, count: int, extra: Any = None) -> list[Row]:
    rng = rng_for(c, entity)
    customers = _customers_for_sales(c)
    if count and (not customers or not c._line_items_cache()):
        raise ValueError(f"{entity} needs at least one customer and one item")
    rows = []
    for k, (create, lut) in enumerate(txn_times(c, rng, count)):
        info: dict[str, Any] = {}
        if extra is not None:
            extra(rng, info)
        rows.append(
            add_row(
                c,
                entity,
                k + 1,
                create,
                lut,
                info,
                ref=customers[int(rng.random() * len(customers))],
            )
        )
    return delete_some(c, entity, rng, rows)


def _sales_head(c: Company, row: Row, doc: int) -> dict[str, Any]:
    obj: dict[str, Any] = {
        **base(row),
        "CustomField": [{"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}],
        "DocNumber": str(doc + row.id),
        "TxnDate": pacific_date(row.create),
    }
    departments = c.choices("Department")
    h2 = mix(row.h)
    if departments and h2 % 3 == 0:
        obj["DepartmentRef"] = ref(c, "Department", pick(departments, h2 >> 8))
    obj["CurrencyRef"] = USD
    return obj


def _sales_body(c: Company, row: Row, obj: dict[str, Any], f: dict[str, Any]) -> None:
    lines, _ = sales_line_objs(c, f["lines"], f["taxed"], row.h)
    obj["Line"] = lines
    obj["TxnTaxDetail"] = tax_detail(f["subtotal"], f["taxed"])[0]
    obj["CustomerRef"] = ref(c, "Customer", row.ref)
    obj["CustomerMemo"] = {"value": "Thank you for your business and have a great day!"}
    cust = c.tables["Customer"].rows.get(row.ref)
    if cust is not None:
        obj["BillAddr"] = c._addr(cust.h >> 3, cust.id + 1)


def gen_sales_receipts(c: Company, count: int) -> None:
    def extra(rng: random.Random, info: dict[str, Any]) -> None:
        info["undeposited"] = rng.random() < 0.6

    _gen_sales(c, "SalesReceipt", count, extra)


def build_sales_receipt(c: Company, row: Row) -> dict[str, Any]:
    f = sales_facts(c, row)
    obj = _sales_head(c, row, 3000)
    private_note(row, obj)
    links = linked(c, "SalesReceipt", row.id)
    if links:
        obj["LinkedTxn"] = [{"TxnId": str(t), "TxnType": k} for k, t, _ in links]
    _sales_body(c, row, obj, f)
    obj["TotalAmt"] = M(f["total"])
    obj["ApplyTaxAfterDiscount"] = False
    obj["PrintStatus"] = "NotSet"
    obj["EmailStatus"] = "NotSet"
    obj["Balance"] = 0
    methods = c.choices("PaymentMethod")
    if methods:
        obj["PaymentMethodRef"] = ref(c, "PaymentMethod", pick(methods, row.h >> 40))
    acct = ACCT_UNDEPOSITED if (row.info or {}).get("undeposited") else ACCT_CHECKING
    obj["DepositToAccountRef"] = ref(c, "Account", acct)
    return obj


def gen_credit_memos(c: Company, count: int) -> None:
    _gen_sales(c, "CreditMemo", count)


def build_credit_memo(c: Company, row: Row) -> dict[str, Any]:
    f = sales_facts(c, row)
    obj: dict[str, Any] = {"RemainingCredit": M(f["total"]), **_sales_head(c, row, 5000)}
    private_note(row, obj)
    _sales_body(c, row, obj, f)
    obj["TotalAmt"] = M(f["total"])
    obj["ApplyTaxAfterDiscount"] = False
    obj["PrintStatus"] = "NeedToPrint"
    obj["EmailStatus"] = "NotSet"
    obj["Balance"] = M(f["total"])
    return obj


def gen_refund_receipts(c: Company, count: int) -> None:
    _gen_sales(c, "RefundReceipt", count)


def build_refund_receipt(c: Company, row: Row) -> dict[str, Any]:
    f = sales_facts(c, row)
    obj = _sales_head(c, row, 6000)
    private_note(row, obj)
    _sales_body(c, row, obj, f)
    obj["TotalAmt"] = M(f["total"])
    obj["ApplyTaxAfterDiscount"] = False
    obj["PrintStatus"] = "NotSet"
    obj["Balance"] = 0
    methods = c.choices("PaymentMethod")
    if methods:
        obj["PaymentMethodRef"] = ref(c, "PaymentMethod", pick(methods, row.h >> 40))
    obj["DepositToAccountRef"] = ref(c, "Account", ACCT_CHECKING)
    return obj


ESTIMATE_STATUS = ("Pending", "Accepted", "Closed", "Rejected")


def gen_estimates(c: Company, count: int) -> None:
    _gen_sales(c, "Estimate", count)


def build_estimate(c: Company, row: Row) -> dict[str, Any]:
    f = sales_facts(c, row)
    obj = _sales_head(c, row, 7000)
    private_note(row, obj)
    obj["TxnStatus"] = ESTIMATE_STATUS[(row.h >> 3) % 4]
    _sales_body(c, row, obj, f)
    obj["ExpirationDate"] = due(obj["TxnDate"], 30)
    obj["TotalAmt"] = M(f["total"])
    obj["ApplyTaxAfterDiscount"] = False
    obj["PrintStatus"] = "NeedToPrint"
    obj["EmailStatus"] = "NotSet"
    return obj


# ---------------------------------------------------------------------------- payments
def gen_payments(c: Company, count: int) -> None:
    """Each payment pays one invoice of its customer, in full or in part, never beyond."""
    rng = rng_for(c, "Payment")
    invoices = sorted(c.tables["Invoice"].rows.values(), key=lambda r: r.id)
    if not invoices:
        return
    open_bal: dict[int, int] = {}
    chosen: list[tuple[int, int, int]] = []  # (create, invoice id, cents)
    order = list(range(len(invoices)))
    rng.shuffle(order)
    k = 0
    while len(chosen) < count and k < 4 * len(order):
        inv = invoices[order[k % len(order)]]
        k += 1
        left = open_bal.get(inv.id)
        if left is None:
            left = c.invoice_total(inv)
        if left <= 0:
            continue
        cents = left if rng.random() < 0.75 or left < 200 else left // 2
        open_bal[inv.id] = left - cents
        chosen.append((later(rng, inv.create, 45), inv.id, cents))
    chosen.sort()
    rows = []
    methods = c.choices("PaymentMethod")
    for n, (create, inv_id, cents) in enumerate(chosen, start=1):
        lut = create if rng.random() < 0.7 else later(rng, create + 1, 10)
        info = {
            "applies": [("Invoice", inv_id, cents)],
            "total": cents,
            "undeposited": rng.random() < 0.7,
            "method": pick(methods, int(rng.random() * 1000)) if methods else 0,
        }
        rows.append(
            add_row(c, "Payment", n, create, lut, info, ref=c.tables["Invoice"].rows[inv_id].ref)
        )
    for row in delete_some(c, "Payment", rng, rows):
        register(c, "Payment", row)


def build_payment(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    applied = sum(cents for _, _, cents in info["applies"])
    acct = ACCT_UNDEPOSITED if info["undeposited"] else ACCT_CHECKING
    obj: dict[str, Any] = {
        "CustomerRef": ref(c, "Customer", row.ref),
        "DepositToAccountRef": {"value": str(acct)},
    }
    if info["method"]:
        obj["PaymentMethodRef"] = {"value": str(info["method"])}
    obj.update(
        {
            "TotalAmt": M(info["total"]),
            "UnappliedAmt": M(info["total"] - applied),
            "ProcessPayment": False,
            **base(row),
            "TxnDate": pacific_date(row.create),
            "CurrencyRef": USD,
        }
    )
    private_note(row, obj)
    links = linked(c, "Payment", row.id)
    if links:
        obj["LinkedTxn"] = [{"TxnId": str(t), "TxnType": k} for k, t, _ in links]
    obj["Line"] = [
        {
            "Amount": M(cents),
            "LinkedTxn": [{"TxnId": str(inv_id), "TxnType": kind}],
        }
        for kind, inv_id, cents in info["applies"]
    ]
    return obj


def payment_bytes(c: Company, row: Row) -> bytes:
    """The same JSON as `dumps(build_payment(c, row))`, from f-strings (payments are many)."""
    info = row.info or {}
    applies = info["applies"]
    total = int(info["total"])
    applied = sum(cents for _, _, cents in applies)
    acct = ACCT_UNDEPOSITED if info["undeposited"] else ACCT_CHECKING
    customer = c._ref_js("Customer", row.ref)
    p = [f'{{"CustomerRef":{customer},"DepositToAccountRef":{{"value":"{acct}"}},']
    if info["method"]:
        p.append(f'"PaymentMethodRef":{{"value":"{info["method"]}"}},')
    p.append(
        f'"TotalAmt":{money(total)},"UnappliedAmt":{money(total - applied)},"ProcessPayment":false,'
        f'"domain":"QBO","sparse":false,"Id":"{row.id}","SyncToken":"{row.sync}",'
        f'"MetaData":{{"CreateTime":"{pacific_seconds(row.create)}",'
        f'"LastUpdatedTime":"{pacific_seconds(row.lut)}"}},"TxnDate":"{pacific_date(row.create)}",'
        '"CurrencyRef":{"value":"USD","name":"United States Dollar"},'
    )
    if row.version:
        p.append(f'"PrivateNote":"Updated {row.version} time(s)",')
    links = linked(c, "Payment", row.id)
    if links:
        text = ",".join(f'{{"TxnId":"{t}","TxnType":"{k}"}}' for k, t, _ in links)
        p.append(f'"LinkedTxn":[{text}],')
    lines = ",".join(
        f'{{"Amount":{money(cents)},"LinkedTxn":[{{"TxnId":"{tid}","TxnType":"{kind}"}}]}}'
        for kind, tid, cents in applies
    )
    p.append(f'"Line":[{lines}]}}')
    return "".join(p).encode()


def gen_deposits(c: Company, count: int) -> None:
    """Deposits of undeposited payments and sales receipts into Checking; the rest direct."""
    rng = rng_for(c, "Deposit")
    waiting: list[tuple[int, str, int, int]] = []  # (create, entity, id, cents)
    for row in c.tables["Payment"].rows.values():
        if (row.info or {}).get("undeposited"):
            waiting.append((row.create, "Payment", row.id, int((row.info or {})["total"])))
    for row in c.tables["SalesReceipt"].rows.values():
        if (row.info or {}).get("undeposited"):
            waiting.append((row.create, "SalesReceipt", row.id, sales_facts(c, row)["total"]))
    waiting.sort()
    keep = len(waiting) // 10  # the latest tenth stays in Undeposited Funds
    todo = waiting[: len(waiting) - keep]
    groups = min(count, len(todo))
    specs: list[tuple[int, dict[str, Any]]] = []
    if groups:
        size, extra = divmod(len(todo), groups)
        start = 0
        for g in range(groups):
            part = todo[start : start + size + (1 if g < extra else 0)]
            start += len(part)
            create = later(rng, part[-1][0], 5)
            specs.append((create, {"applies": [(e, i, cents) for _, e, i, cents in part]}))
    for _ in range(count - groups):
        create = SEED_START + int(rng.random() * (SEED_END - SEED_START - DAY))
        cents = rng.choice((2500, 60000, 500000, 1234))
        source = ACCT_INTEREST if cents < 5000 else ACCT_OPENING_EQUITY
        specs.append((create, {"applies": [], "other": (source, cents)}))
    specs.sort(key=lambda s: s[0])
    rows = []
    for n, (create, info) in enumerate(specs, start=1):
        lut = create if rng.random() < 0.8 else later(rng, create + 1, 10)
        rows.append(add_row(c, "Deposit", n, create, lut, info))
    for row in delete_some(c, "Deposit", rng, rows):
        register(c, "Deposit", row)


def deposit_total(row: Row) -> int:
    info = row.info or {}
    total = sum(cents for _, _, cents in info["applies"])
    if info.get("other"):
        total += info["other"][1]
    return int(total)


def build_deposit(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    obj: dict[str, Any] = {
        "DepositToAccountRef": ref(c, "Account", ACCT_CHECKING),
        "TotalAmt": M(deposit_total(row)),
        **base(row),
        "TxnDate": pacific_date(row.create),
        "CurrencyRef": USD,
    }
    private_note(row, obj, "Opening Balance" if info.get("other", (0,))[0] == 34 else "")
    lines: list[dict[str, Any]] = []
    for entity, iid, cents in info["applies"]:
        lines.append(
            {
                "Amount": M(cents),
                "LinkedTxn": [{"TxnId": str(iid), "TxnType": entity, "TxnLineId": "0"}],
            }
        )
    if info.get("other"):
        acct, cents = info["other"]
        lines.append(
            {
                "Id": "1",
                "LineNum": 1,
                "Amount": M(cents),
                "DetailType": "DepositLineDetail",
                "DepositLineDetail": {"AccountRef": ref(c, "Account", acct)},
            }
        )
    obj["Line"] = lines
    return obj


# ---------------------------------------------------------------------------- purchasing
def expense_accounts(c: Company) -> list[int]:
    """Accounts bills and purchases post to (fixed once the chart is generated)."""
    found = c.memo.get("expense_accounts")
    if found is None:
        rows = c.tables["Account"].rows
        found = [a for a in EXPENSE_ACCOUNTS if a in rows] + sorted(
            i for i, r in rows.items() if FIRST_EXTRA_ACCOUNT <= i < FIRST_FOREIGN_AP and r.active
        )
        c.memo["expense_accounts"] = found
    return list(found)


def inventory_items(c: Company) -> list[int]:
    found = c.memo.get("inventory_items")
    if found is None:
        found = [r.id for r in c._line_items_cache() if r.info and r.info["type"] == "Inventory"]
        c.memo["inventory_items"] = found
    return list(found)


def expense_lines(c: Company, h: int) -> list[tuple[str, int, int, int, int]]:
    """(kind, account or item id, qty hundredths, unit cents, amount cents) of a bill/purchase."""
    accounts = expense_accounts(c)
    inventory = inventory_items(c)
    out = []
    for j in range(1 + h % 3):
        g = h >> (4 + j * 12)
        if inventory and g & 3 == 0:
            item = c.tables["Item"].rows[inventory[(g >> 2) % len(inventory)]]
            cost = max(100, int((item.info or {})["base_price"]) // 2)
            qty = (1 + (g >> 6) % 6) * 100
            out.append(("item", item.id, qty, cost, cost * qty // 100))
        else:
            amount = 500 + (g >> 2) % 90000
            out.append(("account", accounts[(g >> 6) % len(accounts)], 0, 0, amount))
    return out


def expense_line_objs(
    c: Company, lines: list[tuple[str, int, int, int, int]], numbered: bool = True, h: int = 0
) -> list[dict[str, Any]]:
    """Expense lines; about half carry a ClassRef (chosen from the hash `h`)."""
    classes = c.choices("Class")
    h2 = mix(h)
    out: list[dict[str, Any]] = []
    for n, (kind, target, qty, unit, amount) in enumerate(lines, start=1):
        klass = pick(classes, h2 >> (20 + n)) if classes and (h2 >> (50 + n)) & 1 else 0
        line: dict[str, Any] = {"Id": str(n)}
        if numbered:
            line["LineNum"] = n
        if kind == "item":
            line["Description"] = c.ref_name("Item", target)
            line.update(
                {
                    "Amount": M(amount),
                    "DetailType": "ItemBasedExpenseLineDetail",
                    "ItemBasedExpenseLineDetail": {
                        "BillableStatus": "NotBillable",
                        "ItemRef": ref(c, "Item", target),
                        **({"ClassRef": ref(c, "Class", klass)} if klass else {}),
                        "UnitPrice": N(unit),
                        "Qty": N(qty),
                        "TaxCodeRef": {"value": "NON"},
                    },
                }
            )
        else:
            line.update(
                {
                    "Amount": M(amount),
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {
                        **({"ClassRef": ref(c, "Class", klass)} if klass else {}),
                        "AccountRef": ref(c, "Account", target),
                        "BillableStatus": "NotBillable",
                        "TaxCodeRef": {"value": "NON"},
                    },
                }
            )
        out.append(line)
    return out


def expense_total(c: Company, row: Row) -> int:
    return sum(line[4] for line in expense_lines(c, row.h))


def _vendors(c: Company) -> list[int]:
    ids = active_ids(c, "Vendor")
    return ids or sorted(c.tables["Vendor"].rows)


def _gen_vendor_docs(c: Company, entity: str, count: int) -> list[Row]:
    rng = rng_for(c, entity)
    vendors = _vendors(c)
    if count and not vendors:
        raise ValueError(f"{entity} needs at least one vendor")
    rows = []
    for k, (create, lut) in enumerate(txn_times(c, rng, count)):
        term = TERM_ROWS[int(rng.random() * len(TERM_ROWS))][0]
        vendor = vendors[int(rng.random() * len(vendors))]
        info: dict[str, Any] = {"term": term}
        code = vendor_currency(c, vendor)
        if code:
            info["cur"] = code
            info["rate"] = rate_for(code, int(rng.random() * 1_000_000))
        rows.append(add_row(c, entity, k + 1, create, lut, info, ref=vendor))
    return delete_some(c, entity, rng, rows)


def vendor_currency(c: Company, vid: int) -> str | None:
    row = c.tables["Vendor"].rows.get(vid)
    return None if row is None or row.info is None else row.info.get("currency")


def gen_bills(c: Company, count: int) -> None:
    _gen_vendor_docs(c, "Bill", count)


def build_bill(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    total = expense_total(c, row)
    paid = sum(cents for _, _, cents in linked(c, "Bill", row.id))
    txn_date = pacific_date(row.create)
    days = next((d for t, _, d in TERM_ROWS if t == info["term"]), 30)
    obj: dict[str, Any] = {
        "SalesTermRef": {"value": str(info["term"])},
        "DueDate": due(txn_date, days),
        "Balance": M(total - paid),
        **base(row),
        "DocNumber": f"B-{row.id}",
        "TxnDate": txn_date,
    }
    department_field(c, obj, row)
    currency_fields(c, obj, info)
    private_note(row, obj)
    links = linked(c, "Bill", row.id)
    if links:
        obj["LinkedTxn"] = [{"TxnId": str(t), "TxnType": "BillPaymentCheck"} for _, t, _ in links]
    obj["Line"] = expense_line_objs(c, expense_lines(c, row.h), h=row.h)
    obj["VendorRef"] = ref(c, "Vendor", row.ref)
    obj["APAccountRef"] = ref(c, "Account", ap_account(c, info.get("cur")))
    obj["TotalAmt"] = M(total)
    return obj


def gen_bill_payments(c: Company, count: int) -> None:
    """Each bill payment pays one open bill (in full, or half), by check or credit card."""
    rng = rng_for(c, "BillPayment")
    bills = sorted(c.tables["Bill"].rows.values(), key=lambda r: r.id)
    if not bills:
        return
    left: dict[int, int] = {}
    order = list(range(len(bills)))
    rng.shuffle(order)
    chosen: list[tuple[int, int, int]] = []
    k = 0
    while len(chosen) < count and k < 4 * len(order):
        bill = bills[order[k % len(order)]]
        k += 1
        if bill.id not in left:
            left[bill.id] = expense_total(c, bill)
        if left[bill.id] <= 0:
            continue
        foreign = bool((bill.info or {}).get("cur"))  # foreign bills are paid in one go
        full = foreign or rng.random() < 0.8 or left[bill.id] < 200
        cents = left[bill.id] if full else left[bill.id] // 2
        left[bill.id] -= cents
        chosen.append((later(rng, bill.create, 40), bill.id, cents))
    chosen.sort()
    rows = []
    for n, (create, bill_id, cents) in enumerate(chosen, start=1):
        lut = create if rng.random() < 0.8 else later(rng, create + 1, 10)
        bill_info = c.tables["Bill"].rows[bill_id].info or {}
        info: dict[str, Any] = {
            "applies": [("Bill", bill_id, cents)],
            "total": cents,
            "card": rng.random() < 0.25 and not bill_info.get("cur"),
        }
        if bill_info.get("cur"):  # paid at the bill's rate: no exchange gain or loss
            info["cur"] = bill_info["cur"]
            info["rate"] = bill_info["rate"]
        rows.append(
            add_row(c, "BillPayment", n, create, lut, info, ref=c.tables["Bill"].rows[bill_id].ref)
        )
    for row in delete_some(c, "BillPayment", rng, rows):
        register(c, "BillPayment", row)


def build_bill_payment(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    total = int(info["total"])
    obj: dict[str, Any] = {"VendorRef": ref(c, "Vendor", row.ref)}
    if info["card"]:
        obj["PayType"] = "CreditCard"
        obj["CreditCardPayment"] = {"CCAccountRef": ref(c, "Account", ACCT_MASTERCARD)}
    else:
        obj["PayType"] = "Check"
        obj["CheckPayment"] = {
            "BankAccountRef": ref(c, "Account", ACCT_CHECKING),
            "PrintStatus": "NotSet",
        }
    obj.update(
        {
            "TotalAmt": M(total),
            **base(row),
            "DocNumber": str(row.id),
            "TxnDate": pacific_date(row.create),
        }
    )
    currency_fields(c, obj, info)
    private_note(row, obj)
    obj["Line"] = [
        {"Amount": M(cents), "LinkedTxn": [{"TxnId": str(b), "TxnType": kind}]}
        for kind, b, cents in info["applies"]
    ]
    return obj


def gen_vendor_credits(c: Company, count: int) -> None:
    _gen_vendor_docs(c, "VendorCredit", count)


def build_vendor_credit(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    total = expense_total(c, row)
    obj: dict[str, Any] = {
        "Balance": M(total),
        **base(row),
        "DocNumber": f"VC-{row.id}",
        "TxnDate": pacific_date(row.create),
    }
    currency_fields(c, obj, info)
    private_note(row, obj)
    obj["Line"] = expense_line_objs(c, expense_lines(c, row.h), h=row.h)
    obj["VendorRef"] = ref(c, "Vendor", row.ref)
    obj["APAccountRef"] = ref(c, "Account", ap_account(c, info.get("cur")))
    obj["TotalAmt"] = M(total)
    return obj


PO_STATUS = ("Open", "Closed")


def gen_purchase_orders(c: Company, count: int) -> None:
    _gen_vendor_docs(c, "PurchaseOrder", count)


def build_purchase_order(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    total = expense_total(c, row)
    obj: dict[str, Any] = {
        "POStatus": PO_STATUS[(row.h >> 2) & 1],
        **base(row),
        "CustomField": [{"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}],
        "DocNumber": str(1000 + row.id),
        "TxnDate": pacific_date(row.create),
    }
    currency_fields(c, obj, info)
    private_note(row, obj)
    obj["LinkedTxn"] = []
    obj["Line"] = expense_line_objs(c, expense_lines(c, row.h), h=row.h)
    obj["VendorRef"] = ref(c, "Vendor", row.ref)
    obj["APAccountRef"] = ref(c, "Account", ap_account(c, info.get("cur")))
    obj["TotalAmt"] = M(total)
    return obj


PURCHASE_KINDS = (
    ("Cash", ACCT_CHECKING),
    ("Check", ACCT_CHECKING),
    ("CreditCard", ACCT_MASTERCARD),
)


def gen_purchases(c: Company, count: int) -> None:
    rng = rng_for(c, "Purchase")
    # purchases are paid from USD accounts: home-currency vendors only
    vendors = [v for v in _vendors(c) if not vendor_currency(c, v)]
    rows = []
    for k, (create, lut) in enumerate(txn_times(c, rng, count)):
        kind = int(rng.random() * len(PURCHASE_KINDS))
        vendor = vendors[int(rng.random() * len(vendors))] if vendors and rng.random() < 0.9 else 0
        rows.append(add_row(c, "Purchase", k + 1, create, lut, {"kind": kind}, ref=vendor))
    delete_some(c, "Purchase", rng, rows)


def build_purchase(c: Company, row: Row) -> dict[str, Any]:
    kind, acct = PURCHASE_KINDS[(row.info or {})["kind"]]
    lines = expense_lines(c, row.h)
    obj: dict[str, Any] = {"AccountRef": ref(c, "Account", acct), "PaymentType": kind}
    if row.ref:
        obj["EntityRef"] = {**ref(c, "Vendor", row.ref), "type": "Vendor"}
    obj.update(
        {
            "Credit": False,
            "TotalAmt": M(sum(line[4] for line in lines)),
            **base(row),
            "TxnDate": pacific_date(row.create),
        }
    )
    department_field(c, obj, row)
    obj["CurrencyRef"] = USD
    private_note(row, obj, PURCHASE_NOTES[row.h % len(PURCHASE_NOTES)])
    obj["Line"] = expense_line_objs(c, lines, numbered=False, h=row.h)
    return obj


def gen_transfers(c: Company, count: int) -> None:
    rng = rng_for(c, "Transfer")
    rows = []
    for k, (create, lut) in enumerate(txn_times(c, rng, count)):
        pair = rng.choice(
            (
                (ACCT_CHECKING, ACCT_SAVINGS),
                (ACCT_SAVINGS, ACCT_CHECKING),
                (ACCT_CHECKING, ACCT_MASTERCARD),
            )
        )
        cents = rng.choice((10000, 25000, 50000, 120000, 7550))
        rows.append(
            add_row(
                c, "Transfer", k + 1, create, lut, {"from": pair[0], "to": pair[1], "amount": cents}
            )
        )
    delete_some(c, "Transfer", rng, rows)


def build_transfer(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    obj: dict[str, Any] = {
        "FromAccountRef": ref(c, "Account", info["from"]),
        "ToAccountRef": ref(c, "Account", info["to"]),
        "Amount": M(info["amount"]),
        **base(row),
        "TxnDate": pacific_date(row.create),
        "CurrencyRef": USD,
    }
    private_note(row, obj)
    return obj


# JournalEntry kinds: (note, [(PostingType, account)]); the last line takes the balance.
JE_KINDS = (
    ("Depreciation", (("Debit", ACCT_DEPRECIATION), ("Credit", ACCT_ACCUM_DEPRECIATION))),
    ("Opening Balance", (("Debit", ACCT_TRUCK), ("Credit", ACCT_OPENING_EQUITY))),
    ("Loan", (("Debit", ACCT_CHECKING), ("Credit", ACCT_LOAN))),
    ("Reclass", (("Debit", 20), ("Debit", 76), ("Credit", 15))),
    ("Bank fees", (("Debit", 28), ("Credit", ACCT_CHECKING))),
)


def gen_journal_entries(c: Company, count: int) -> None:
    rng = rng_for(c, "JournalEntry")
    rows = []
    for k, (create, lut) in enumerate(txn_times(c, rng, count)):
        kind = int(rng.random() * len(JE_KINDS))
        postings = JE_KINDS[kind][1]
        amounts = [rng.choice((1500, 25000, 100000, 1349500, 40000)) for _ in postings[:-1]]
        rows.append(
            add_row(c, "JournalEntry", k + 1, create, lut, {"kind": kind, "amounts": amounts})
        )
    delete_some(c, "JournalEntry", rng, rows)


def journal_lines(row: Row) -> list[tuple[str, int, int]]:
    """(PostingType, account, cents); debits equal credits."""
    info = row.info or {}
    postings = JE_KINDS[info["kind"]][1]
    out = []
    debit = credit = 0
    for (side, acct), cents in zip(postings[:-1], info["amounts"], strict=True):
        out.append((side, acct, cents))
        if side == "Debit":
            debit += cents
        else:
            credit += cents
    side, acct = postings[-1]
    out.append((side, acct, (debit - credit) if side == "Credit" else (credit - debit)))
    return out


def build_journal_entry(c: Company, row: Row) -> dict[str, Any]:
    note = JE_KINDS[(row.info or {})["kind"]][0]
    obj: dict[str, Any] = {
        "Adjustment": False,
        **base(row),
        "DocNumber": f"JE-{row.id}",
        "TxnDate": pacific_date(row.create),
        "CurrencyRef": USD,
    }
    private_note(row, obj, note)
    classes = c.choices("Class")
    lines = []
    for n, (side, acct, cents) in enumerate(journal_lines(row)):
        detail: dict[str, Any] = {"PostingType": side, "AccountRef": ref(c, "Account", acct)}
        if classes and (row.h >> n) & 1:
            detail["ClassRef"] = ref(c, "Class", pick(classes, row.h >> (8 + n)))
        lines.append(
            {
                "Id": str(n),
                "Description": note,
                "Amount": M(cents),
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": detail,
            }
        )
    obj["Line"] = lines
    obj["TxnTaxDetail"] = {}
    return obj


# ---------------------------------------------------------------------------- other
def gen_time_activities(c: Company, count: int) -> None:
    rng = rng_for(c, "TimeActivity")
    employees = active_ids(c, "Employee")
    customers = _customers_for_sales(c)
    services = [r.id for r in c._line_items_cache() if r.info and r.info["type"] == "Service"]
    if count and not (employees and customers):
        raise ValueError("TimeActivity needs at least one employee and one customer")
    rows = []
    for k, (create, lut) in enumerate(txn_times(c, rng, count)):
        info = {
            "employee": employees[int(rng.random() * len(employees))],
            "item": services[int(rng.random() * len(services))] if services else 0,
            "minutes": (1 + int(rng.random() * 32)) * 15,
        }
        rows.append(
            add_row(
                c,
                "TimeActivity",
                k + 1,
                create,
                lut,
                info,
                ref=customers[int(rng.random() * len(customers))],
            )
        )
    delete_some(c, "TimeActivity", rng, rows)


def build_time_activity(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    obj: dict[str, Any] = {
        "TxnDate": pacific_date(row.create),
        "NameOf": "Employee",
        "EmployeeRef": ref(c, "Employee", info["employee"]),
        "CustomerRef": ref(c, "Customer", row.ref),
    }
    if info["item"]:
        obj["ItemRef"] = ref(c, "Item", info["item"])
    billable = ("NotBillable", "Billable", "HasBeenBilled")[row.h % 3]
    obj.update(
        {
            "BillableStatus": billable,
            "Taxable": False,
            "HourlyRate": N(0 if billable == "NotBillable" else 2500 + (row.h >> 4) % 6 * 1000),
            "Hours": info["minutes"] // 60,
            "Minutes": info["minutes"] % 60,
            "Description": f"Work {row.version} update(s)" if row.version else "Gardening",
            **base(row),
        }
    )
    return obj


def gen_budgets(c: Company, count: int) -> None:
    rng = rng_for(c, "Budget")
    for k, (create, lut) in enumerate(setup_times(count, DAY)):
        year = 2022 + k % 4
        add_row(c, "Budget", k + 1, create, lut, {"year": year, "name": f"Budget FY{year}"})
    mark_inactive(c, "Budget", rng, 0.2)


def build_budget(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    year = int(info["year"])
    details = []
    for m in range(1, 13):
        for acct in (ACCT_SERVICES, ACCT_PRODUCT_INCOME, 17):
            details.append(
                {
                    "BudgetDate": f"{year}-{m:02d}-01",
                    "Amount": M(100000 + (mix(row.h + m * 31 + acct) % 500) * 100),
                    "AccountRef": ref(c, "Account", acct),
                }
            )
    return {
        "Name": info["name"],
        "StartDate": f"{year}-01-01",
        "EndDate": f"{year}-12-31",
        "BudgetType": "ProfitAndLoss",
        "BudgetEntryType": "Monthly",
        "Active": row.active,
        "BudgetDetail": details,
        **base(row),
    }


def gen_attachables(c: Company, count: int) -> None:
    rng = rng_for(c, "Attachable")
    targets = [("Invoice", i) for i in sorted(c.tables["Invoice"].rows)[:2000]]
    targets += [("Bill", i) for i in sorted(c.tables["Bill"].rows)[:500]]
    rows = []
    for k, (create, lut) in enumerate(txn_times(c, rng, count)):
        entity, iid = targets[int(rng.random() * len(targets))] if targets else ("", 0)
        rows.append(
            add_row(
                c,
                "Attachable",
                k + 1,
                create,
                lut,
                {"entity": entity, "target": iid, "file": int(rng.random() * len(ATTACHMENTS))},
            )
        )
    delete_some(c, "Attachable", rng, rows)


def build_attachable(c: Company, row: Row) -> dict[str, Any]:
    info = row.info or {}
    name, ctype = ATTACHMENTS[info["file"]]
    obj: dict[str, Any] = {"FileName": name}
    obj["FileAccessUri"] = f"/v3/company/{c.realm_id}/download/{row.id}"
    obj["TempDownloadUri"] = (
        f"https://intuit-qbo-prod-30.s3.amazonaws.com/{c.realm_id}/attachments/{name}"
    )
    obj["Size"] = 1000 + row.h % 900000
    obj["ContentType"] = ctype
    if info["entity"]:
        obj["AttachableRef"] = [
            {
                "EntityRef": {"type": info["entity"], "value": str(info["target"])},
                "IncludeOnSend": False,
            }
        ]
    obj.update(base(row))
    if row.version:
        obj["Note"] = f"Updated {row.version} time(s)"
    return obj


# ---------------------------------------------------------------------------- singletons
def gen_singleton(entity: str) -> Any:
    def gen(c: Company, count: int) -> None:
        if count:
            add_row(c, entity, 1, SEED_START, SEED_START, {})

    return gen


def build_company_info(c: Company, row: Row) -> dict[str, Any]:
    return c.company_info(0)


def build_preferences(c: Company, row: Row) -> dict[str, Any]:
    return {
        "AccountingInfoPrefs": {
            "TrackDepartments": True,
            "DepartmentTerminology": "Location",
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": True,
            "CustomerTerminology": "Customers",
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": True,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": True,
        },
        "SalesFormsPrefs": {
            "CustomField": [
                {
                    "CustomField": [
                        {
                            "Name": "SalesFormsPrefs.UseSalesCustom1",
                            "Type": "BooleanType",
                            "BooleanValue": True,
                        },
                        {
                            "Name": "SalesFormsPrefs.SalesCustomName1",
                            "Type": "StringType",
                            "StringValue": "Crew #",
                        },
                    ]
                }
            ],
            "AllowDeposit": True,
            "AllowDiscount": True,
            "AllowShipping": False,
            "DefaultTerms": {"value": "3"},
            "DefaultCustomerMessage": "Thank you for your business and have a great day!",
            "ETransactionEnabledStatus": "NotApplicable",
        },
        "VendorAndPurchasesPrefs": {
            "TrackingByCustomer": True,
            "BillableExpenseTracking": True,
            "POCustomField": [],
        },
        "TimeTrackingPrefs": {
            "UseServices": True,
            "BillCustomers": True,
            "ShowBillRateToAll": False,
            "WorkWeekStartDate": "Monday",
            "MarkTimeEntriesBillable": True,
        },
        "TaxPrefs": {"UsingSalesTax": True, "TaxGroupCodeRef": {"value": "2"}},
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": c.multicurrency,
            "HomeCurrency": {"value": "USD"},
        },
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {
            "NameValue": [
                {
                    "Name": "SalesFormsPrefs.DefaultCustomerMessage",
                    "Value": "Thank you for your business and have a great day!",
                }
            ]
        },
        **base(row),
    }
