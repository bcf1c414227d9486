"""The company is one consistent set of books: references resolve, payments never exceed balances,
journal entries balance, totals equal their lines, and the balances agree with the ledger."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from qbo_emulator.data import Company, build_companies
from qbo_emulator.entities import REGISTRY
from qbo_emulator.postings import journal, posting_entities, postings, trial_balance

REALM = "9341450000000001"
#: reference key -> the entity it names
REF_ENTITY = {
    "CustomerRef": "Customer",
    "VendorRef": "Vendor",
    "ItemRef": "Item",
    "AccountRef": "Account",
    "ItemAccountRef": "Account",
    "IncomeAccountRef": "Account",
    "ExpenseAccountRef": "Account",
    "AssetAccountRef": "Account",
    "APAccountRef": "Account",
    "DepositToAccountRef": "Account",
    "BankAccountRef": "Account",
    "CCAccountRef": "Account",
    "FromAccountRef": "Account",
    "ToAccountRef": "Account",
    "ClassRef": "Class",
    "DepartmentRef": "Department",
    "SalesTermRef": "Term",
    "PaymentMethodRef": "PaymentMethod",
    "EmployeeRef": "Employee",
    "TaxRateRef": "TaxRate",
    "TxnTaxCodeRef": "TaxCode",
    "AgencyRef": "TaxAgency",
}
TXN_TYPE = {"BillPaymentCheck": "BillPayment"}


def money(value: Any) -> int:
    return int(Decimal(str(value)) * 100)


@pytest.fixture(scope="module", params=[False, True], ids=["usd", "multicurrency"])
def company(request: pytest.FixtureRequest) -> Company:
    return build_companies(3, 80, 20, 1500, multicurrency=request.param)[REALM]


def objects(c: Company) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        entity: {
            str(i): json.loads(c.render(entity, row)) for i, row in c.tables[entity].rows.items()
        }
        for entity in REGISTRY
    }


def walk(obj: Any, found: list[tuple[str, Any]]) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            found.append((key, value))
            walk(value, found)
    elif isinstance(obj, list):
        for value in obj:
            walk(value, found)


def test_every_reference_resolves(company: Company) -> None:
    objs = objects(company)
    checked = 0
    for entity, rows in objs.items():
        for obj in rows.values():
            found: list[tuple[str, Any]] = []
            walk(obj, found)
            for key, value in found:
                if key == "ParentRef":
                    assert value["value"] in objs[entity], (entity, obj["Id"], key)
                elif key in REF_ENTITY:
                    target = REF_ENTITY[key]
                    assert value["value"] in objs[target], (entity, obj["Id"], key, value)
                    if "name" in value and target != "Item":
                        shown = objs[target][value["value"]]
                        names = {
                            shown.get(k) for k in ("FullyQualifiedName", "DisplayName", "Name")
                        }
                        assert value["name"] in names, (entity, key, value)
                    checked += 1
                elif key == "EntityRef" and isinstance(value, dict) and "value" in value:
                    target = value["type"]
                    assert value["value"] in objs[target], (entity, obj["Id"], key)
                elif key == "LinkedTxn":
                    for link in value:
                        target = TXN_TYPE.get(link["TxnType"], link["TxnType"])
                        assert link["TxnId"] in objs[target], (entity, obj["Id"], link)
                        checked += 1
    assert checked > 5000


def test_payments_never_exceed_balances(company: Company) -> None:
    objs = objects(company)
    paid: dict[str, int] = defaultdict(int)
    for pay in objs["Payment"].values():
        applied = sum(money(line["Amount"]) for line in pay["Line"])
        assert money(pay["TotalAmt"]) - applied == money(pay["UnappliedAmt"]) >= 0
        for line in pay["Line"]:
            (link,) = line["LinkedTxn"]
            invoice = objs["Invoice"][link["TxnId"]]
            assert invoice["CustomerRef"]["value"] == pay["CustomerRef"]["value"]
            assert invoice["TxnDate"] <= pay["TxnDate"]
            paid[link["TxnId"]] += money(line["Amount"])
            assert {"TxnId": pay["Id"], "TxnType": "Payment"} in invoice["LinkedTxn"]
    for iid, invoice in objs["Invoice"].items():
        total, balance = money(invoice["TotalAmt"]), money(invoice["Balance"])
        assert 0 <= balance <= total
        assert balance == total - paid[iid], iid
    assert any(money(i["Balance"]) == 0 for i in objs["Invoice"].values())
    assert any(0 < money(i["Balance"]) < money(i["TotalAmt"]) for i in objs["Invoice"].values())
    bill_paid: dict[str, int] = defaultdict(int)
    for bp in objs["BillPayment"].values():
        for line in bp["Line"]:
            (link,) = line["LinkedTxn"]
            assert objs["Bill"][link["TxnId"]]["VendorRef"] == bp["VendorRef"]
            bill_paid[link["TxnId"]] += money(line["Amount"])
    for bid, bill in objs["Bill"].items():
        assert money(bill["Balance"]) == money(bill["TotalAmt"]) - bill_paid[bid] >= 0


def test_totals_equal_their_lines(company: Company) -> None:
    objs = objects(company)
    for entity in ("Invoice", "SalesReceipt", "CreditMemo", "RefundReceipt", "Estimate"):
        for obj in objs[entity].values():
            lines = [ln for ln in obj["Line"] if ln["DetailType"] == "SalesItemLineDetail"]
            subtotal = sum(money(ln["Amount"]) for ln in lines)
            for ln in lines:
                detail = ln["SalesItemLineDetail"]
                exact = money(detail["UnitPrice"]) * Decimal(str(detail["Qty"]))
                assert money(ln["Amount"]) == exact.quantize(Decimal(1), ROUND_HALF_UP)
            (sub,) = [ln for ln in obj["Line"] if ln["DetailType"] == "SubTotalLineDetail"]
            assert money(sub["Amount"]) == subtotal
            tax = money(obj["TxnTaxDetail"]["TotalTax"])
            for tax_line in obj["TxnTaxDetail"].get("TaxLine", []):
                detail = tax_line["TaxLineDetail"]
                assert money(detail["NetAmountTaxable"]) == subtotal
                assert money(tax_line["Amount"]) == tax == (subtotal * 8 + 50) // 100
            assert money(obj["TotalAmt"]) == subtotal + tax, (entity, obj["Id"])
    for entity in ("Bill", "VendorCredit", "Purchase", "PurchaseOrder", "Deposit", "BillPayment"):
        for obj in objs[entity].values():
            assert money(obj["TotalAmt"]) == sum(money(ln["Amount"]) for ln in obj["Line"])


def test_every_journal_entry_and_document_balances(company: Company) -> None:
    objs = objects(company)
    for je in objs["JournalEntry"].values():
        sides: dict[str, int] = defaultdict(int)
        for line in je["Line"]:
            sides[line["JournalEntryLineDetail"]["PostingType"]] += money(line["Amount"])
        assert sides["Debit"] == sides["Credit"] > 0
    for entity in posting_entities(company):
        for row in company.tables[entity].rows.values():
            assert sum(cents for _, cents in postings(company, entity, row)) == 0, entity
    accounts = set(company.tables["Account"].rows)
    net = trial_balance(company)
    assert sum(net.values()) == 0 and set(net) <= accounts


def test_balances_agree_with_the_ledger(company: Company) -> None:
    objs = objects(company)
    accounts = objs["Account"]
    ar = money(accounts["84"]["CurrentBalance"])
    assert ar == sum(money(c["Balance"]) for c in objs["Customer"].values()) != 0
    by_currency: dict[str, int] = defaultdict(int)
    for vendor in objs["Vendor"].values():
        by_currency[vendor["CurrencyRef"]["value"]] += money(vendor["Balance"])
    payables = {
        a["CurrencyRef"]["value"]: money(a["CurrentBalance"])
        for a in accounts.values()
        if a["AccountType"] == "Accounts Payable"
    }
    assert payables == dict(by_currency) and payables["USD"] != 0
    open_invoices = sum(money(i["Balance"]) for i in objs["Invoice"].values())
    credits = sum(money(m["TotalAmt"]) for m in objs["CreditMemo"].values())
    unapplied = sum(money(p["UnappliedAmt"]) for p in objs["Payment"].values())
    assert ar == open_invoices - credits - unapplied
    undeposited = [
        money(p["TotalAmt"])
        for p in objs["Payment"].values()
        if p["DepositToAccountRef"]["value"] == "4" and "LinkedTxn" not in p
    ] + [
        money(s["TotalAmt"])
        for s in objs["SalesReceipt"].values()
        if s["DepositToAccountRef"]["value"] == "4" and "LinkedTxn" not in s
    ]
    assert money(accounts["4"]["CurrentBalance"]) == sum(undeposited) > 0
    for acct in accounts.values():
        if acct["Classification"] in ("Revenue", "Expense"):
            assert acct["CurrentBalance"] == 0


def test_deletes_keep_the_books_consistent() -> None:
    c = build_companies(5, 30, 10, 300)[REALM]
    c.prewarm()  # cached JSON must follow the changes below
    now = 1_800_000_000
    pay = next(r for r in c.tables["Payment"].rows.values() if r.info and r.info["applies"])
    (_, inv_id, cents) = pay.info["applies"][0]  # type: ignore[index]
    invoice = c.tables["Invoice"].rows[inv_id]
    before = c.invoice_facts(invoice)["balance"]
    sync = invoice.sync
    c.mutate("Payment", "delete", pay.id, now)
    assert c.invoice_facts(invoice)["balance"] == before + cents
    assert invoice.sync == sync + 1 and invoice.lut == now
    assert json.loads(c.render("Invoice", invoice))["LinkedTxn"] == [
        {"TxnId": str(t), "TxnType": k} for k, t, _ in c.links.get(("Invoice", inv_id), [])
    ]
    # an invoice with payments: the payments stay, unapplied
    inv_id = next(t for (e, t), links in c.links.items() if e == "Invoice" and links)
    payers = [src for _, src, _ in c.links[("Invoice", inv_id)]]
    c.mutate("Invoice", "delete", inv_id, now + 1)
    for pid in payers:
        obj = json.loads(c.render("Payment", c.tables["Payment"].rows[pid]))
        assert money(obj["UnappliedAmt"]) > 0
    # a deposit: its payments are back in Undeposited Funds
    dep = next(r for r in c.tables["Deposit"].rows.values() if r.info and r.info["applies"])
    c.mutate("Deposit", "delete", dep.id, now + 2)
    for entity, iid, _ in dep.info["applies"]:  # type: ignore[index]
        assert "LinkedTxn" not in json.loads(c.render(entity, c.tables[entity].rows[iid]))
    test_every_journal_entry_and_document_balances(c)
    test_balances_agree_with_the_ledger(c)


def test_fast_payment_renderer_matches_the_builder(company: Company) -> None:
    from qbo_emulator.books import build_payment, payment_bytes
    from qbo_emulator.data import dumps

    c = build_companies(9, 20, 8, 300)[REALM]
    some = sorted(c.tables["Payment"].rows)[:3]
    c.mutate("Payment", "update", some[0], 1_800_000_000)
    c.mutate("Deposit", "delete", sorted(c.tables["Deposit"].rows)[0], 1_800_000_001)
    for row in [*c.tables["Payment"].rows.values(), *company.tables["Payment"].rows.values()]:
        owner = c if row in c.tables["Payment"].rows.values() else company
        assert payment_bytes(owner, row) == dumps(build_payment(owner, row))


def test_journal_dates_are_the_documents_txn_dates(company: Company) -> None:
    entries = journal(company)
    net: dict[int, int] = defaultdict(int)
    for day, entity, iid, _, _ in entries[:: max(1, len(entries) // 500)]:
        obj = json.loads(company.render(entity, company.tables[entity].rows[iid]))
        assert obj["TxnDate"] == day
    for _, _, _, acct, cents in entries:
        net[acct] += cents
    assert {a: v for a, v in net.items() if v} == {
        a: v for a, v in trial_balance(company).items() if v
    }
    by_month: dict[str, int] = defaultdict(int)
    for day, _, _, _, cents in entries:
        by_month[day[:7]] += cents
    assert set(by_month.values()) == {0}  # every month's postings balance


def test_foreign_currency_documents_post_in_home_currency() -> None:
    from qbo_emulator.books import to_home

    c = build_companies(4, 40, 12, 800, multicurrency=True)[REALM]
    objs = objects(c)
    assert objs["Preferences"]["1"]["CurrencyPrefs"]["MultiCurrencyEnabled"] is True
    vendors = {v["Id"]: v["CurrencyRef"]["value"] for v in objs["Vendor"].values()}
    assert len(set(vendors.values())) > 1
    ap_of = {
        a["CurrencyRef"]["value"]: a["Id"]
        for a in objs["Account"].values()
        if a["AccountType"] == "Accounts Payable"
    }
    foreign = 0
    for entity in ("Bill", "VendorCredit", "PurchaseOrder", "BillPayment"):
        for obj in objs[entity].values():
            code = vendors[obj["VendorRef"]["value"]]
            assert obj["CurrencyRef"]["value"] == code
            assert ("ExchangeRate" in obj) == (code != "USD")
            if "APAccountRef" in obj:
                assert obj["APAccountRef"]["value"] == ap_of[code]
            if code == "USD":
                continue
            foreign += 1
            rate = int(Decimal(str(obj["ExchangeRate"])) * 1_000_000)
            if entity in ("Bill", "VendorCredit"):
                legs = postings(c, entity, c.tables[entity].rows[int(obj["Id"])])
                ap_leg = next(cents for acct, cents in legs if str(acct) == ap_of[code])
                assert abs(ap_leg) == to_home(money(obj["TotalAmt"]), rate)
    for purchase in objs["Purchase"].values():
        assert purchase["CurrencyRef"]["value"] == "USD"
    assert foreign > 20
    # a bill paid in full leaves nothing on its A/P account in home currency either
    net: dict[int, int] = defaultdict(int)
    for bill_id, links in [(k[1], v) for k, v in c.links.items() if k[0] == "Bill"]:
        bill = c.tables["Bill"].rows.get(bill_id)
        if bill is None or not (bill.info or {}).get("cur"):
            continue
        if json.loads(c.render("Bill", bill))["Balance"] != 0:
            continue
        for acct, cents in postings(c, "Bill", bill):
            net[acct] += cents
        for _, pid, _ in links:
            for acct, cents in postings(c, "BillPayment", c.tables["BillPayment"].rows[pid]):
                net[acct] += cents
    foreign_ap = {int(a) for code, a in ap_of.items() if code != "USD"}
    assert net and all(net[a] == 0 for a in foreign_ap)
