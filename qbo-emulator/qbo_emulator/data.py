"""The seeded company: compact row state, deterministic generation, JSON rendering, mutations.

Rows keep only a few integers (ids, epochs, SyncToken, a 64-bit content hash); the QBO JSON of a
row is rendered from them once and kept as bytes, so a page is a join of pre-serialised slices.
The same seed always yields the same company.
"""

from __future__ import annotations

import bisect
import gc
import json
import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from qbo_emulator.timeutil import SEED_END, SEED_START, pacific_date, pacific_seconds

if TYPE_CHECKING:
    from collections.abc import Mapping

MASK = (1 << 64) - 1
FIRST_REALM = 9341450000000001
BURST_THRESHOLD = 1500

_MONEY_RE = re.compile(r'"\\u0000([MNR])(-?\d+)"')


def mix(x: int) -> int:
    """splitmix64: a cheap, well-spread deterministic hash."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def money(cents: int) -> str:
    """Money as QBO writes it: exactly two decimals, but a bare 0 for zero."""
    if cents == 0:
        return "0"
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def minimal(cents: int) -> str:
    """UnitPrice/Qty style: minimal decimal form (275, 22.5, 12.75)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    whole, frac = divmod(cents, 100)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:02d}".rstrip("0")


def M(cents: int) -> str:
    return f"\x00M{cents}"


def N(cents: int) -> str:
    return f"\x00N{cents}"


def R(micros: int) -> str:
    """An exchange rate given in millionths, written in minimal decimal form (1.083456)."""
    return f"\x00R{micros}"


def rate_text(micros: int) -> str:
    whole, frac = divmod(micros, 1_000_000)
    return f"{whole}.{frac:06d}".rstrip("0").rstrip(".") if frac else str(whole)


def _numbers(match: re.Match[str]) -> str:
    value = int(match.group(2))
    kind = match.group(1)
    if kind == "R":
        return rate_text(value)
    return money(value) if kind == "M" else minimal(value)


def _js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dumps(obj: Any) -> bytes:
    """Compact JSON with QBO's number formats substituted for the markers."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return _MONEY_RE.sub(_numbers, text).encode()


@dataclass(slots=True)
class Row:
    id: int
    create: int
    lut: int
    sync: int = 0
    active: bool = True
    version: int = 0
    h: int = 0
    ref: int = 0
    info: dict[str, Any] | None = None


FIRST_NAMES = (
    "Amy",
    "Kirby",
    "Sasha",
    "Peter",
    "Geeta",
    "Russ",
    "Grace",
    "Dylan",
    "José",
    "Zoë",
    "Łukasz",
    "Søren",
    "François",
    "Renée",
    "Björn",
    "Chloé",
    "Mateo",
    "Aiko",
    "Nuño",
    "Siobhán",
    "Kathy",
    "Emily",
    "Tony",
    "Bessie",
    "Nick",
    "Jenni",
    "Melanie",
    "Geoff",
    "Laurel",
    "Wei",
)
LAST_NAMES = (
    "Lauterbach",
    "Freeman",
    "Tillou",
    "Dukes",
    "Kalapatapu",
    "Sonnenschein",
    "Pariente",
    "O'Brien",
    "D'Angelo",
    "Müller",
    "Núñez",
    "Østergaard",
    "Żółć",
    "Dubois",
    "Sato",
    "Hall",
    "Hicks",
    "Lee",
    "Ellis",
    "Winslow",
    "Brosnahan",
    "Rondonuwu",
    "Platt",
    "Sollfrank",
    "王",
)
BUSINESS_NOUNS = (
    "Bird Sanctuary",
    "Sporting Goods",
    "Basketball Camp",
    "Family Store",
    "Medical Supplies",
    "Road Warrior Bodyshop",
    "Gas and Oil",
    "Café & Bistro",
    "Diner",
    "Landscaping",
    "Pool Supplies",
    "Bakery",
    "Hardware",
    "Garden Center",
    "Crêperie",
)
JOB_NAMES = (
    "Ocean View Road",
    "Remodel",
    "Kitchen Project",
    "Backyard Pond",
    "Phase II",
    "Hauptstraße",
    "Rock Garden",
    "Patio",
    "Office Fit-out",
    "Fountain Repair",
)
CITIES = (
    ("Middlefield", "CA", "94482"),
    ("Bayshore", "CA", "94326"),
    ("Tucson", "AZ", "85719"),
    ("Palo Alto", "CA", "94303"),
    ("Half Moon Bay", "CA", "94213"),
    ("South Orange", "NJ", "07079"),
)
STREETS = ("Finch St.", "Easy St.", "Court St.", "Main St.", "Ocean Dr.", "Cypress Hill Ave.")
ITEM_NOUNS = (
    "Rock Fountain",
    "Fountain Pump",
    "Concrete",
    "Garden Rocks",
    "Sprinkler Heads",
    "Sprinkler Pipes",
    "Sod",
    "Design",
    "Installation",
    "Pest Control",
    "Trimming",
    "Gardener's Gloves",
    "Crème Fertilizer",
    "Lighting",
    "Maintenance & Repair",
    "Hours",
)
ITEM_ADJ = ("Deluxe", "Basic", "Premium", "Small", "Large", "Organic", "Señor", "Kids'")
CUSTOMER_MEMO = "Thank you for your business and have a great day!"
TERMS = (("3", "Net 30", 30), ("2", "Net 15", 15), ("1", "Due on receipt", 0))


@dataclass
class EntityTable:
    """One entity of one realm: rows, the (LastUpdatedTime, Id) index and the bytes cache."""

    name: str
    rows: dict[int, Row] = field(default_factory=dict)
    order: list[tuple[int, int]] = field(default_factory=list)
    cache: dict[int, bytes] = field(default_factory=dict)
    deleted: dict[int, int] = field(default_factory=dict)
    next_id: int = 1

    def reindex(self) -> None:
        self.order = sorted((r.lut, r.id) for r in self.rows.values())

    def move(self, row: Row, new_lut: int) -> None:
        key = (row.lut, row.id)
        i = bisect.bisect_left(self.order, key)
        if i < len(self.order) and self.order[i] == key:
            del self.order[i]
        row.lut = new_lut
        bisect.insort(self.order, (row.lut, row.id))

    def insert(self, row: Row) -> None:
        self.rows[row.id] = row
        bisect.insort(self.order, (row.lut, row.id))
        self.next_id = max(self.next_id, row.id + 1)

    def remove(self, row: Row) -> None:
        key = (row.lut, row.id)
        i = bisect.bisect_left(self.order, key)
        if i < len(self.order) and self.order[i] == key:
            del self.order[i]
        del self.rows[row.id]
        self.cache.pop(row.id, None)


class Company:
    """One realm's data."""

    def __init__(
        self,
        realm_id: str,
        seed: int,
        customers: int,
        items: int,
        invoices: int,
        cache_rows: int = 250_000,
        sizes: Mapping[str, int] | None = None,
        multicurrency: bool = False,
    ) -> None:
        from qbo_emulator.entities import REGISTRY, resolve_sizes

        #: foreign-currency vendors and their documents (with ExchangeRate) besides USD
        self.multicurrency = multicurrency
        self.realm_id = realm_id
        self.seed = seed
        self.cache_rows = cache_rows
        self.rng = random.Random(f"{seed}:{realm_id}")
        self.specs = REGISTRY
        self.sizes = resolve_sizes(customers, items, invoices, sizes)
        self.tables: dict[str, EntityTable] = {e: EntityTable(e) for e in REGISTRY}
        #: (target entity, target id) -> [(TxnType, source id, cents)]: payments applied to an
        #: invoice, bill payments to a bill, the deposit of a payment or sales receipt
        self.links: dict[tuple[str, int], list[tuple[str, int, int]]] = {}
        self._choices: dict[str, list[int]] = {}
        self._kids: dict[int, list[int]] | None = None
        #: customers or vendors (row refs) of the documents a mutation touched
        self._parties: set[int] = set()
        #: values derived once from the generated company (lists of ids the documents use)
        self.memo: dict[str, list[int]] = {}
        self._balances: dict[str, dict[int, int]] | None = None
        self._cust_frags: dict[int, tuple[str, str, str]] = {}
        self._item_names: dict[int, str] = {}
        self._item_accts: dict[int, str] = {}
        self._refs: dict[tuple[str, int], str] = {}
        self.ref_objs: dict[tuple[str, int], dict[str, str]] = {}
        self.company_name = f"Sandbox Company US {realm_id[-4:]}"
        for name, spec in REGISTRY.items():
            spec.generate(self, self.sizes[name])
            self.tables[name].reindex()
            if spec.kind == "name_list":
                self._choices[name] = sorted(
                    i for i, r in self.tables[name].rows.items() if r.active
                )
        self.churn_rng = random.Random(f"churn:{seed}:{realm_id}")

    # ------------------------------------------------------------------ generation
    def _unique(self, base: str, used: set[str]) -> str:
        name, n = base, 2
        while name.lower() in used:
            name = f"{base} {n}"
            n += 1
        used.add(name.lower())
        return name

    def _times(self, count: int, rng: random.Random) -> list[tuple[int, int]]:
        """(create, last_updated) pairs, create ascending, many timestamps shared."""
        rand = rng.random  # int(rand() * n) is much faster than randrange in these loops
        span = SEED_END - SEED_START
        creates = sorted([SEED_START + int(rand() * (span - 86400 * 2)) for _ in range(count)])
        for i in range(1, count):  # saves in quick succession share a second
            if rand() < 0.15:
                creates[i] = creates[i - 1]
        pool = sorted([SEED_START + int(rand() * (span - 1)) for _ in range(max(3, count // 25))])
        last = len(pool) - 1
        out = []
        for c in creates:
            r = rand()
            if r < 0.5:
                lut = c
            elif r < 0.8:
                j = bisect.bisect_left(pool, c)
                lut = pool[min(j + int(rand() * 3), last)] if j <= last else c
            else:
                lut = c + 1 + int(rand() * max(1, min(86400 * 200, SEED_END - 2 - c)))
            out.append((c, lut if lut > c else c))
        return out

    def _gen_items(self, count: int) -> None:
        rng = random.Random(f"items:{self.seed}:{self.realm_id}")
        table = self.tables["Item"]
        used: set[str] = set()
        for i, (create, lut) in enumerate(self._times(count, rng)):
            iid = i + 1
            if i < count // 12 and i < 2 and count >= 10:
                kind = "Category"
            else:
                kind = rng.choice(("Service", "Service", "Inventory", "NonInventory"))
            base = ITEM_NOUNS[i % len(ITEM_NOUNS)]
            if i >= len(ITEM_NOUNS):
                base = f"{rng.choice(ITEM_ADJ)} {base}"
            name = self._unique(base, used)
            price = rng.choice((0, 200, 400, 950, 1275, 2250, 3500, 5000, 7500, 27500))
            active = not (kind != "Category" and i >= 3 and rng.random() < 0.1)
            if i == count - 1 and count >= 5 and all(r.active for r in table.rows.values()):
                active = False  # always at least one inactive item
            sync = 0 if lut == create else rng.randrange(1, 4)
            if not active:
                sync = max(sync, 1)
                lut = max(lut, create + 1)
            row = Row(iid, create, lut, sync, active, 0, mix(self.seed * 7919 + iid))
            row.info = {"name": name, "type": kind, "price": price, "base_price": price}
            table.insert(row)
        table.reindex()

    def _gen_customers(self, count: int) -> None:
        rng = random.Random(f"customers:{self.seed}:{self.realm_id}")
        table = self.tables["Customer"]
        used: set[str] = set()
        tops: list[int] = []
        for i, (create, lut) in enumerate(self._times(count, rng)):
            cid = i + 1
            given = rng.choice(FIRST_NAMES)
            family = rng.choice(LAST_NAMES)
            parent = 0
            company = ""
            if tops and i >= 3 and rng.random() < 0.15:
                parent = rng.choice(tops)
                display = self._unique(f"{rng.randrange(100, 9999)} {rng.choice(JOB_NAMES)}", used)
            else:
                if rng.random() < 0.6:
                    company = (
                        f"{family}'s {rng.choice(BUSINESS_NOUNS)}"
                        if rng.random() < 0.5
                        else f"{given} {rng.choice(BUSINESS_NOUNS)}"
                    )
                    display = self._unique(company, used)
                else:
                    display = self._unique(f"{given} {family}", used)
                tops.append(cid)
            active = not (i >= 2 and rng.random() < 0.08)
            if i == count - 1 and count >= 5 and all(r.active for r in table.rows.values()):
                active = False  # always at least one inactive customer
            sync = 0 if lut == create else rng.randrange(1, 3)
            if not active:
                sync = max(sync, 1)
                lut = max(lut, create + 1)
            row = Row(cid, create, lut, sync, active, 0, mix(self.seed * 104729 + cid), parent)
            row.info = {
                "display": display,
                "given": given,
                "family": family,
                "company": company,
                "balance": rng.choice((0, 0, 0, 8500, 23950, 73900, 47750)),
            }
            table.insert(row)
        table.reindex()

    def _gen_invoices(self, count: int) -> None:
        rng = random.Random(f"invoices:{self.seed}:{self.realm_id}")
        table = self.tables["Invoice"]
        customers = sorted(self.tables["Customer"].rows)
        if count and not customers:
            raise ValueError("invoices need at least one customer")
        if count and not self.line_items():
            raise ValueError("invoices need at least one non-category item")
        times = self._times(count, rng)
        burst = range(0)
        if count >= BURST_THRESHOLD:
            size = 1000 + max(50, count // 40)
            start = rng.randrange(count // 10, max(count // 10 + 1, count - size - count // 10))
            burst = range(start, start + size)
            moment = times[start][0]
            for k in burst:
                times[k] = (moment, moment)
        rows: dict[int, Row] = {}
        rand = rng.random
        ncust = len(customers)
        base = self.seed * 15485863
        for i, (create, lut) in enumerate(times):
            iid = i + 1
            sync = 0 if lut == create else 1 + int(rand() * 5)
            cust = customers[int(rand() * ncust)]
            rows[iid] = Row(iid, create, lut, sync, True, 0, mix(base + iid), cust)
        if count >= 50:
            outside = [i + 1 for i in range(count) if i not in burst]
            for iid in rng.sample(outside, max(1, count // 100)):
                row = rows.pop(iid)
                table.deleted[iid] = min(row.lut + rng.randrange(1, 86400 * 30), SEED_END - 1)
        table.rows = rows
        table.next_id = count + 1
        table.reindex()

    def line_items(self) -> list[Row]:
        items = self.tables["Item"].rows
        return [r for r in items.values() if r.info and r.info["type"] != "Category"]

    # ------------------------------------------------------------------ references
    def choices(self, entity: str) -> list[int]:
        """Ids of a name list's rows that were active when the company was generated."""
        return self._choices.get(entity, [])

    def ref_name(self, entity: str, iid: int) -> str:
        """The `name` of a reference to a name-list row (with ` (deleted)` when inactive)."""
        if entity == "Customer":
            return self.customer_display(iid)
        row = self.tables[entity].rows.get(iid)
        if row is None or row.info is None:
            return ""
        if entity == "Account":
            from qbo_emulator.books import account_fqn

            return account_fqn(self, row)
        name = str(row.info.get("name", ""))
        return name if row.active else f"{name} (deleted)"

    def item_income_account(self, item_id: int) -> int:
        """Services (1) for service items, Sales of Product Income (79) for the others."""
        row = self.tables["Item"].rows.get(item_id)
        return 79 if row is not None and row.info and row.info["type"] != "Service" else 1

    # ------------------------------------------------------------------ balances
    def invalidate(self) -> None:
        """Forget computed balances (after a mutation)."""
        self._balances = None

    def balances(self) -> dict[str, dict[int, int]]:
        if self._balances is None:
            from qbo_emulator.postings import balances

            self._balances = balances(self)
        return self._balances

    def account_balance(self, aid: int) -> int:
        return self.balances()["Account"].get(aid, 0)

    def sub_account_balance(self, aid: int) -> int:
        return self.balances()["AccountChildren"].get(aid, 0)

    def vendor_balance(self, vid: int) -> int:
        return self.balances()["Vendor"].get(vid, 0)

    def customer_balance(self, cid: int) -> int:
        return self.balances()["Customer"].get(cid, 0)

    # ------------------------------------------------------------------ rendering
    def render(self, entity: str, row: Row) -> bytes:
        table = self.tables[entity]
        cached = table.cache.get(row.id)
        if cached is not None:
            return cached
        data = self.specs[entity].render_bytes(self, row)
        if len(table.cache) < self.cache_rows:
            table.cache[row.id] = data
        return data

    def prewarm(self) -> None:
        """Serialise every row now, unless an entity has more rows than the cache holds."""
        for entity, table in self.tables.items():
            if len(table.rows) > self.cache_rows:
                continue
            for row in table.rows.values():
                if len(table.cache) >= self.cache_rows:
                    break
                self.render(entity, row)

    @staticmethod
    def _meta(row: Row) -> dict[str, str]:
        return {
            "CreateTime": pacific_seconds(row.create),
            "LastUpdatedTime": pacific_seconds(row.lut),
        }

    def _addr(self, h: int, addr_id: int) -> dict[str, str]:
        city, state, postal = CITIES[h % len(CITIES)]
        return {
            "Id": str(addr_id),
            "Line1": f"{(h >> 8) % 9000 + 100} {STREETS[(h >> 20) % len(STREETS)]}",
            "City": city,
            "CountrySubDivisionCode": state,
            "PostalCode": postal,
            "Lat": "INVALID" if (h >> 30) % 3 == 0 else f"37.{(h >> 32) % 9000000 + 1000000}",
            "Long": "INVALID" if (h >> 30) % 3 == 0 else f"-122.{(h >> 40) % 9000000 + 1000000}",
        }

    def customer_display(self, cid: int) -> str:
        row = self.tables["Customer"].rows.get(cid)
        if row is None or row.info is None:
            return ""
        return str(row.info["display"]) + ("" if row.active else " (deleted)")

    def customer_fqn(self, row: Row) -> str:
        assert row.info is not None
        name = str(row.info["display"])
        if row.ref:
            parent = self.tables["Customer"].rows.get(row.ref)
            if parent is not None and parent.info is not None:
                name = f"{parent.info['display']}:{name}"
        return name + ("" if row.active else " (deleted)")

    def customer_email(self, row: Row) -> str | None:
        assert row.info is not None
        if row.h % 5 == 0:
            return None
        local = re.sub(r"[^a-z0-9]+", "_", str(row.info["family"]).lower()).strip("_") or "info"
        return f"{local}{row.id}@intuit.com"

    def customer_obj(self, row: Row) -> dict[str, Any]:
        info = row.info
        assert info is not None
        h = row.h
        balance = self.customer_balance(row.id)
        with_jobs = balance + sum(
            self.customer_balance(child) for child in self._children().get(row.id, ())
        )
        obj: dict[str, Any] = {
            "Taxable": bool(h & 1),
            "BillAddr": self._addr(h >> 3, row.id + 1),
            "ShipAddr": self._addr(h >> 3, row.id + 1),
            "Job": bool(row.ref),
            "BillWithParent": False,
        }
        if (h >> 9) % 4 == 0:
            del obj["ShipAddr"]
        if row.ref:
            obj["ParentRef"] = {"value": str(row.ref)}
            obj["Level"] = 1
        obj.update(
            {
                "Balance": M(balance),
                "BalanceWithJobs": M(with_jobs),
                "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
                "PreferredDeliveryMethod": "Email" if (h >> 11) & 1 else "Print",
                "IsProject": False,
                "domain": "QBO",
                "sparse": False,
                "Id": str(row.id),
                "SyncToken": str(row.sync),
                "MetaData": self._meta(row),
                "GivenName": info["given"],
                "FamilyName": info["family"],
                "FullyQualifiedName": self.customer_fqn(row),
            }
        )
        if info["company"]:
            obj["CompanyName"] = info["company"]
        obj["DisplayName"] = info["display"] + ("" if row.active else " (deleted)")
        obj["PrintOnCheckName"] = info["company"] or info["display"]
        obj["Active"] = row.active
        obj["PrimaryPhone"] = {"FreeFormNumber": f"(650) 555-{h % 10000:04d}"}
        email = self.customer_email(row)
        if email:
            obj["PrimaryEmailAddr"] = {"Address": email}
        if row.version:
            obj["Notes"] = f"Updated {row.version} time(s)"
        return obj

    def _children(self) -> dict[int, list[int]]:
        """Sub-customers per parent (new customers are never sub-customers)."""
        if self._kids is None:
            self._kids = {}
            for r in self.tables["Customer"].rows.values():
                if r.ref:
                    self._kids.setdefault(r.ref, []).append(r.id)
        return self._kids

    def item_obj(self, row: Row) -> dict[str, Any]:
        info = row.info
        assert info is not None
        name = str(info["name"]) + ("" if row.active else " (deleted)")
        if info["type"] == "Category":
            return {
                "Name": name,
                "Active": row.active,
                "FullyQualifiedName": name,
                "Type": "Category",
                "domain": "QBO",
                "sparse": False,
                "Id": str(row.id),
                "SyncToken": str(row.sync),
                "MetaData": self._meta(row),
            }
        price = int(info["price"])
        obj: dict[str, Any] = {
            "Name": name,
            "Description": info["name"],
            "Active": row.active,
            "FullyQualifiedName": name,
            "Taxable": bool(row.h & 1),
            "UnitPrice": N(price),
            "Type": info["type"],
            "IncomeAccountRef": {
                "value": str(self.item_income_account(row.id)),
                "name": self.ref_name("Account", self.item_income_account(row.id)),
            },
        }
        if info["type"] == "Inventory":
            obj.update(
                {
                    "PurchaseDesc": info["name"],
                    "PurchaseCost": N(price // 2),
                    "ExpenseAccountRef": {"value": "80", "name": "Cost of Goods Sold"},
                    "AssetAccountRef": {"value": "81", "name": "Inventory Asset"},
                    "TrackQtyOnHand": True,
                    "QtyOnHand": N(((row.h >> 5) % 40) * 100),
                    "InvStartDate": pacific_date(row.create),
                }
            )
        else:
            obj["PurchaseCost"] = N(0)
            obj["TrackQtyOnHand"] = False
        obj.update(
            {
                "domain": "QBO",
                "sparse": False,
                "Id": str(row.id),
                "SyncToken": str(row.sync),
                "MetaData": self._meta(row),
            }
        )
        if (row.h >> 7) % 3 == 0:
            obj["Sku"] = f"SKU-{row.id:05d}"
        return obj

    def invoice_amounts(self, row: Row) -> tuple[list[tuple[Row, int, int, int]], int, bool, int]:
        """(lines as (item, qty tenths, unit cents, amount cents), subtotal, taxed, tax)."""
        h = row.h
        items = self._line_items_cache()
        lines = []
        subtotal = 0
        for j in range(1 + h % 4):
            item = items[(h >> (7 + j * 9)) % len(items)]
            qty_tenths = (1 + (h >> (3 + j * 5)) % 9) * 10 + (5 if (h >> (44 + j)) & 7 == 0 else 0)
            price = int(item.info["base_price"]) if item.info else 0
            amount = (price * qty_tenths + 5) // 10  # cents, half up as QuickBooks rounds
            lines.append((item, qty_tenths, price, amount))
            subtotal += amount
        taxed = (h >> 50) & 3 == 0
        tax = (subtotal * 8 + 50) // 100 if taxed else 0
        return lines, subtotal, taxed, tax

    def invoice_total(self, row: Row) -> int:
        _, subtotal, _, tax = self.invoice_amounts(row)
        return subtotal + tax

    def invoice_facts(self, row: Row) -> dict[str, Any]:
        """Amounts and dates of an invoice, derived from its hash."""
        h = row.h
        lines, subtotal, taxed, tax = self.invoice_amounts(row)
        total = subtotal + tax
        links = self.links.get(("Invoice", row.id), ())
        applied = sum(link[2] for link in links)
        txn_text = pacific_date(row.create)
        term = TERMS[(h >> 52) % 3]
        due = (
            (date.fromisoformat(txn_text) + timedelta(days=term[2])).isoformat()
            if term[2]
            else txn_text
        )
        return {
            "lines": lines,
            "subtotal": subtotal,
            "taxed": taxed,
            "tax": tax,
            "total": total,
            "balance": total - applied,
            "links": links,
            "txn_date": txn_text,
            "due_date": due,
            "term": term,
        }

    def invoice_dims(self, row: Row, lines: int) -> tuple[int, list[int]]:
        """(DepartmentRef id or 0, ClassRef id or 0 per line) of an invoice, from its hash."""
        h2 = mix(row.h)
        departments = self._choices.get("Department")
        classes = self._choices.get("Class")
        dept = departments[(h2 >> 8) % len(departments)] if departments and h2 % 3 == 0 else 0
        if not classes:
            return dept, [0] * lines
        return dept, [
            classes[(h2 >> (20 + n)) % len(classes)] if (h2 >> (50 + n)) & 1 else 0
            for n in range(lines)
        ]

    _items_cache: list[Row] | None = None

    def _line_items_cache(self) -> list[Row]:
        if self._items_cache is None:
            self._items_cache = sorted(self.line_items(), key=lambda r: r.id)
        return self._items_cache

    def invoice_obj(self, row: Row) -> dict[str, Any]:
        f = self.invoice_facts(row)
        h = row.h
        crew: dict[str, Any] = {"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}
        if (h >> 56) % 3 == 0:
            crew["StringValue"] = str(100 + (h >> 58) % 50)
        obj: dict[str, Any] = {
            "AllowIPNPayment": False,
            "AllowOnlinePayment": False,
            "AllowOnlineCreditCardPayment": False,
            "AllowOnlineACHPayment": False,
            "domain": "QBO",
            "sparse": False,
            "Id": str(row.id),
            "SyncToken": str(row.sync),
            "MetaData": self._meta(row),
            "CustomField": [crew],
            "DocNumber": str(1000 + row.id),
            "TxnDate": f["txn_date"],
        }
        dept, classes = self.invoice_dims(row, len(f["lines"]))
        if dept:
            obj["DepartmentRef"] = {"value": str(dept), "name": self.ref_name("Department", dept)}
        obj["CurrencyRef"] = {"value": "USD", "name": "United States Dollar"}
        if row.version:
            obj["PrivateNote"] = f"Updated {row.version} time(s)"
        obj["LinkedTxn"] = [{"TxnId": str(t), "TxnType": kind} for kind, t, _ in f["links"]]
        lines: list[dict[str, Any]] = []
        for n, (item, qty, price, amount) in enumerate(f["lines"], start=1):
            iname = item.info["name"] if item.info else ""
            detail: dict[str, Any] = {"ItemRef": {"value": str(item.id), "name": iname}}
            klass = classes[n - 1]
            if klass:
                detail["ClassRef"] = {"value": str(klass), "name": self.ref_name("Class", klass)}
            acct = self.item_income_account(item.id)
            detail["UnitPrice"] = N(price)
            detail["Qty"] = N(qty * 10)
            detail["ItemAccountRef"] = {"value": str(acct), "name": self.ref_name("Account", acct)}
            detail["TaxCodeRef"] = {"value": "TAX" if f["taxed"] else "NON"}
            lines.append(
                {
                    "Id": str(n),
                    "LineNum": n,
                    "Description": iname,
                    "Amount": M(amount),
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": detail,
                }
            )
        lines.append(
            {
                "Amount": M(f["subtotal"]),
                "DetailType": "SubTotalLineDetail",
                "SubTotalLineDetail": {},
            }
        )
        obj["Line"] = lines
        if f["taxed"]:
            obj["TxnTaxDetail"] = {
                "TxnTaxCodeRef": {"value": "2"},
                "TotalTax": M(f["tax"]),
                "TaxLine": [
                    {
                        "Amount": M(f["tax"]),
                        "DetailType": "TaxLineDetail",
                        "TaxLineDetail": {
                            "TaxRateRef": {"value": "3"},
                            "PercentBased": True,
                            "TaxPercent": 8,
                            "NetAmountTaxable": M(f["subtotal"]),
                        },
                    }
                ],
            }
        else:
            obj["TxnTaxDetail"] = {"TotalTax": 0}
        cust = self.tables["Customer"].rows.get(row.ref)
        obj["CustomerRef"] = {"value": str(row.ref), "name": self.customer_display(row.ref)}
        obj["CustomerMemo"] = {"value": CUSTOMER_MEMO}
        if cust is not None:
            obj["BillAddr"] = self._addr(cust.h >> 3, cust.id + 1)
            if (h >> 60) & 1:
                obj["ShipAddr"] = self._addr(cust.h >> 3, cust.id + 1)
        term = f["term"]
        obj["SalesTermRef"] = {"value": term[0], "name": term[1]}
        obj["DueDate"] = f["due_date"]
        obj["TotalAmt"] = M(f["total"])
        obj["ApplyTaxAfterDiscount"] = False
        obj["PrintStatus"] = ("NeedToPrint", "NotSet")[(h >> 61) & 1]
        obj["EmailStatus"] = ("NotSet", "NeedToSend", "EmailSent")[(h >> 62) % 3]
        email = self.customer_email(cust) if cust is not None else None
        if email:
            obj["BillEmail"] = {"Address": email}
        obj["Balance"] = M(f["balance"])
        return obj

    def _customer_fragment(self, cid: int) -> tuple[str, str, str]:
        """Invoice JSON pieces that depend on the customer: (CustomerRef..ShipAddr, BillEmail)."""
        frag = self._cust_frags.get(cid)
        if frag is None:
            cust = self.tables["Customer"].rows.get(cid)
            ref = _js({"value": str(cid), "name": self.customer_display(cid)})
            head = f'"CustomerRef":{ref},"CustomerMemo":{{"value":{_js(CUSTOMER_MEMO)}}}'
            ship = ""
            email = ""
            if cust is not None:
                addr = _js(self._addr(cust.h >> 3, cust.id + 1))
                head += f',"BillAddr":{addr}'
                ship = f',"ShipAddr":{addr}'
                address = self.customer_email(cust)
                if address:
                    email = f',"BillEmail":{{"Address":{_js(address)}}}'
            frag = (head, ship, email)
            self._cust_frags[cid] = frag
        return frag

    def invoice_bytes(self, row: Row) -> bytes:
        """The same JSON as `dumps(invoice_obj(row))`, built from cached fragments (fast path)."""
        f = self.invoice_facts(row)
        h = row.h
        crew = '{"DefinitionId":"1","Name":"Crew #","Type":"StringType"'
        if (h >> 56) % 3 == 0:
            crew += f',"StringValue":"{100 + (h >> 58) % 50}"'
        p = [
            '{"AllowIPNPayment":false,"AllowOnlinePayment":false,'
            '"AllowOnlineCreditCardPayment":false,"AllowOnlineACHPayment":false,'
            f'"domain":"QBO","sparse":false,"Id":"{row.id}","SyncToken":"{row.sync}",'
            f'"MetaData":{{"CreateTime":"{pacific_seconds(row.create)}",'
            f'"LastUpdatedTime":"{pacific_seconds(row.lut)}"}},"CustomField":[{crew}}}],'
            f'"DocNumber":"{1000 + row.id}","TxnDate":"{f["txn_date"]}",'
        ]
        dept, classes = self.invoice_dims(row, len(f["lines"]))
        if dept:
            p.append(f'"DepartmentRef":{self._ref_js("Department", dept)},')
        p.append('"CurrencyRef":{"value":"USD","name":"United States Dollar"},')
        if row.version:
            p.append(f'"PrivateNote":"Updated {row.version} time(s)",')
        links = ",".join(f'{{"TxnId":"{t}","TxnType":"{kind}"}}' for kind, t, _ in f["links"])
        p.append(f'"LinkedTxn":[{links}],"Line":[')
        code = "TAX" if f["taxed"] else "NON"
        for n, (item, qty, price, amount) in enumerate(f["lines"], start=1):
            iname = self._item_names.get(item.id)
            if iname is None:
                iname = _js(item.info["name"] if item.info else "")
                self._item_names[item.id] = iname
            acct = self._item_accts.get(item.id)
            if acct is None:
                acct = self._ref_js("Account", self.item_income_account(item.id))
                self._item_accts[item.id] = acct
            klass = classes[n - 1]
            cref = f'"ClassRef":{self._ref_js("Class", klass)},' if klass else ""
            p.append(
                f'{{"Id":"{n}","LineNum":{n},"Description":{iname},"Amount":{money(amount)},'
                f'"DetailType":"SalesItemLineDetail","SalesItemLineDetail":{{"ItemRef":'
                f'{{"value":"{item.id}","name":{iname}}},{cref}"UnitPrice":{minimal(price)},'
                f'"Qty":{minimal(qty * 10)},"ItemAccountRef":{acct},'
                f'"TaxCodeRef":{{"value":"{code}"}}}}}},'
            )
        sub = money(f["subtotal"])
        p.append(
            f'{{"Amount":{sub},"DetailType":"SubTotalLineDetail","SubTotalLineDetail":{{}}}}],'
        )
        if f["taxed"]:
            tax = money(f["tax"])
            p.append(
                f'"TxnTaxDetail":{{"TxnTaxCodeRef":{{"value":"2"}},"TotalTax":{tax},"TaxLine":['
                f'{{"Amount":{tax},"DetailType":"TaxLineDetail","TaxLineDetail":{{"TaxRateRef":'
                f'{{"value":"3"}},"PercentBased":true,"TaxPercent":8,"NetAmountTaxable":{sub}}}}}]}},'
            )
        else:
            p.append('"TxnTaxDetail":{"TotalTax":0},')
        head, ship, email = self._customer_fragment(row.ref)
        p.append(head)
        if (h >> 60) & 1:
            p.append(ship)
        term = f["term"]
        p.append(
            f',"SalesTermRef":{{"value":"{term[0]}","name":"{term[1]}"}},"DueDate":"{f["due_date"]}",'
            f'"TotalAmt":{money(f["total"])},"ApplyTaxAfterDiscount":false,'
            f'"PrintStatus":"{("NeedToPrint", "NotSet")[(h >> 61) & 1]}",'
            f'"EmailStatus":"{("NotSet", "NeedToSend", "EmailSent")[(h >> 62) % 3]}"'
        )
        p.append(email)
        p.append(f',"Balance":{money(f["balance"])}}}')
        return "".join(p).encode()

    def _ref_js(self, entity: str, iid: int) -> str:
        """A reference's JSON, cached until a name-list row is deactivated."""
        key = (entity, iid)
        text = self._refs.get(key)
        if text is None:
            text = _js({"value": str(iid), "name": self.ref_name(entity, iid)})
            self._refs[key] = text
        return text

    def tombstone(self, entity: str, iid: int) -> bytes:
        when = self.tables[entity].deleted[iid]
        return dumps(
            {
                "domain": "QBO",
                "status": "Deleted",
                "Id": str(iid),
                "MetaData": {"LastUpdatedTime": pacific_seconds(when)},
            }
        )

    def company_info(self, now: float) -> dict[str, Any]:
        return {
            "CompanyName": self.company_name,
            "LegalName": self.company_name,
            "CompanyAddr": {
                "Id": "1",
                "Line1": "123 Sierra Way",
                "City": "San Pablo",
                "CountrySubDivisionCode": "CA",
                "PostalCode": "87999",
            },
            "Country": "US",
            "Email": {"Address": "noreply@quickbooks.com"},
            "SupportedLanguages": "en",
            "NameValue": [{"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}],
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": "0",
            "MetaData": {
                "CreateTime": pacific_seconds(SEED_START),
                "LastUpdatedTime": pacific_seconds(SEED_START),
            },
        }

    # ------------------------------------------------------------------ mutations
    def mutate(self, entity: str, op: str, iid: int | None, now: float) -> int:
        """update | deactivate | delete | create; returns the id. Raises KeyError/ValueError.

        Transactions are hard-deleted (a tombstone in CDC); `delete` of a name list deactivates
        it, as QuickBooks does. Documents linked to a deleted one are updated as QuickBooks
        updates them: deleting a payment reopens the invoices it paid, deleting an invoice leaves
        its payments unapplied, deleting a deposit returns its payments to Undeposited Funds.
        """
        spec = self.specs.get(entity)
        if spec is None:
            raise ValueError(f"unknown entity {entity!r}")
        table = self.tables[entity]
        stamp = int(now)
        if op == "create":
            if spec.kind == "singleton":
                raise ValueError(f"{entity} is a singleton; only update applies")
            new = self._create(entity, stamp)
            self._parties.add(self.tables[entity].rows[new].ref)
            self._after_change(entity, new, stamp)
            return new
        if iid is None:
            raise ValueError(f"op {op!r} needs an id")
        row = table.rows.get(iid)
        if row is None:
            raise KeyError(f"{entity} {iid} does not exist")
        self._parties.add(row.ref)
        if op == "delete" and spec.deletable:
            self._detach(entity, row, stamp)
            table.remove(row)
            table.deleted[iid] = stamp
            self._after_change(entity, iid, stamp)
            return iid
        if op in ("deactivate", "delete"):
            if not spec.active:
                raise ValueError(f"{entity} has no Active flag; use update")
            row.active = False
        elif op == "update":
            row.version += 1
        else:
            raise ValueError(f"unknown op {op!r}")
        self._touch(entity, iid, stamp)
        if op != "update":
            self._after_rename(entity, iid)
        self._after_change(entity, iid, stamp)
        return iid

    def _touch(self, entity: str, iid: int, stamp: int) -> None:
        """An update of a row: SyncToken + 1, LastUpdatedTime now, JSON rendered again."""
        table = self.tables[entity]
        row = table.rows.get(iid)
        if row is None:
            return
        row.sync += 1
        table.move(row, max(stamp, row.lut))
        table.cache.pop(iid, None)
        self._parties.add(row.ref)

    def _after_rename(self, entity: str, iid: int) -> None:
        """A name-list row was deactivated: documents showing its name render again."""
        if entity == "Customer":
            # invoices carry the customer's display name in CustomerRef
            self._cust_frags.pop(iid, None)
            inv = self.tables["Invoice"]
            for inv_row in inv.rows.values():
                if inv_row.ref == iid:
                    inv.cache.pop(inv_row.id, None)
        elif entity in ("Account", "Class", "Department"):
            self._item_accts.clear()
            self.tables["Invoice"].cache.clear()
        self._refs.clear()
        self.ref_objs.clear()
        for name, table in self.tables.items():
            if name not in ("Invoice", "Customer", "Item"):
                table.cache.clear()

    def _after_change(self, entity: str, iid: int, stamp: int) -> None:
        """Balances follow every change of a document; rows showing balances render again:
        the accounts, and the customers or vendors of the documents involved."""
        parties, self._parties = self._parties, set()
        if self.specs[entity].kind != "transaction":
            return
        self.invalidate()
        self.tables["Account"].cache.clear()
        customers = self.tables["Customer"]
        for party in parties:
            self.tables["Vendor"].cache.pop(party, None)
            customers.cache.pop(party, None)
            parent = customers.rows.get(party)
            if parent is not None and parent.ref:  # BalanceWithJobs of the parent
                customers.cache.pop(parent.ref, None)

    def _detach(self, entity: str, row: Row, stamp: int) -> None:
        """Unlink a document being deleted from the documents it applies to or that apply to it."""
        touched: set[tuple[str, int]] = set()
        for kind, src, _ in self.links.pop((entity, row.id), []):
            source = self.tables[kind].rows.get(src)
            if source is not None and source.info is not None:
                source.info["applies"] = [
                    a for a in source.info["applies"] if (a[0], a[1]) != (entity, row.id)
                ]
                touched.add((kind, src))
        for target, tid, _ in (row.info or {}).get("applies", ()):
            entries = self.links.get((target, tid), [])
            entries[:] = [e for e in entries if (e[0], e[1]) != (entity, row.id)]
            if not entries:
                self.links.pop((target, tid), None)
            touched.add((target, tid))
        for kind, tid in sorted(touched):
            self._touch(kind, tid, stamp)

    def _create(self, entity: str, stamp: int) -> int:
        table = self.tables[entity]
        iid = table.next_id
        rng = self.churn_rng
        h = mix(self.seed * 31 + iid + (1 << 40))
        row = Row(iid, stamp, stamp, 0, True, 0, h)
        if entity == "Invoice":
            row.ref = rng.choice(sorted(self.tables["Customer"].rows))
        elif entity == "Customer":
            used = {str(r.info["display"]).lower() for r in table.rows.values() if r.info}
            given, family = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            row.info = {
                "display": self._unique(f"{given} {family}", used),
                "given": given,
                "family": family,
                "company": "",
                "balance": 0,
            }
        elif entity == "Item":
            used = {str(r.info["name"]).lower() for r in table.rows.values() if r.info}
            price = rng.choice((500, 1250, 9900))
            row.info = {
                "name": self._unique(f"New {rng.choice(ITEM_NOUNS)}", used),
                "type": "Service",
                "price": price,
                "base_price": price,
            }
        else:
            # a new row modelled on an existing one: its facts, a new id and hash, applied to
            # nothing (a new payment is an unapplied credit)
            models = sorted(table.rows) or sorted(table.deleted)
            if not table.rows:
                raise ValueError(f"cannot create {entity}: the company has none to model it on")
            model = table.rows[models[rng.randrange(len(models))]]
            info = json.loads(json.dumps(model.info)) if model.info is not None else {}
            if "applies" in info:
                moved = sum(int(a[2]) for a in info["applies"])
                info["applies"] = []
                if "total" not in info:
                    info["other"] = [59, moved or 10000]  # Interest Earned
            if self.specs[entity].kind == "name_list" and "name" in info:
                info["name"] = f"{info['name']} {iid}"
            row.info = info
            row.ref = model.ref
        table.insert(row)
        return iid

    def truth(self) -> dict[str, Any]:
        """Ids and SyncTokens of every entity, deleted ids, inactive ids and counts."""
        out: dict[str, Any] = {}
        deleted: dict[str, list[str]] = {}
        inactive: dict[str, list[str]] = {}
        counts: dict[str, dict[str, int]] = {}
        for entity, spec in self.specs.items():
            table = self.tables[entity]
            rows = table.rows
            out[entity] = {str(i): str(rows[i].sync) for i in sorted(rows)}
            off = [str(i) for i in sorted(rows) if not rows[i].active]
            if spec.deletable:
                deleted[entity] = [str(i) for i in sorted(table.deleted)]
            if spec.active:
                inactive[entity] = off
            counts[entity] = {
                "rows": len(rows),
                "active": len(rows) - len(off),
                "inactive": len(off),
                "deleted": len(table.deleted),
            }
        out["deleted"] = deleted
        out["inactive"] = inactive
        out["counts"] = counts
        return out


def realm_ids(count: int) -> list[str]:
    return [str(FIRST_REALM + i) for i in range(count)]


def build_companies(
    seed: int,
    customers: int,
    items: int,
    invoices: int,
    realms: int = 1,
    cache_rows: int = 250_000,
    sizes: Mapping[str, int] | None = None,
    multicurrency: bool = False,
) -> dict[str, Company]:
    # Millions of small objects: collecting while building only rescans them; freezing them
    # afterwards keeps later collections from walking the whole company.
    enabled = gc.isenabled()
    gc.disable()
    try:
        companies = {
            realm: Company(
                realm, seed, customers, items, invoices, cache_rows, sizes, multicurrency
            )
            for realm in realm_ids(realms)
        }
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return companies
