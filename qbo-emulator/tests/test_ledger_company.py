"""One ledger, read two ways: the served payloads (the reports) and the company's rows (the
balances on accounts, customers and vendors) post the same legs through the same rules."""

from __future__ import annotations

from collections import Counter

import pytest

from qbo_emulator.ledger import (
    ACCRUAL,
    CASH,
    POSTING_TYPES,
    Entry,
    Reader,
    company_objects,
    post,
)
from qbo_emulator.postings import entries, posting_entities, trial_balance
from qbo_emulator.reports import build_report
from qbo_emulator.server import Emulator


@pytest.fixture(scope="module", params=[False, True], ids=["home", "multicurrency"])
def emulator(request: pytest.FixtureRequest) -> Emulator:
    return Emulator(seed=4, invoices=300, prewarm=False, multicurrency=request.param)


def _legs(entry: Entry) -> Counter[tuple[str, int, int]]:
    return Counter((leg.account, leg.amount, leg.txn_amount) for leg in post(entry))


def test_both_readers_post_the_same_legs_for_every_document(emulator: Emulator) -> None:
    company = emulator.companies[emulator.realm_ids[0]]
    objects = company_objects(company)
    reader = Reader(objects)
    served = {}
    for entity in POSTING_TYPES:  # in this order: payments find the accounts of their invoices
        for obj in objects.get(entity, ()):
            found = reader.entry(entity, obj)
            assert found is not None
            served[(entity, found.txn_id)] = found
    assert set(posting_entities(company)) == set(POSTING_TYPES)
    seen = 0
    for entity, row, from_row in entries(company):
        from_json = served.pop((entity, str(row.id)))
        assert from_row.account == from_json.account, (entity, row.id)
        assert from_row.rate == from_json.rate, (entity, row.id)
        assert _legs(from_row) == _legs(from_json), (entity, row.id)
        seen += 1
    assert not served and seen > 500


def test_payload_ledger_equals_the_company_books(emulator: Emulator) -> None:
    realm = emulator.realm_ids[0]
    ledger = emulator.books[realm].ledger()
    ours = {a: v for a, v in ledger.net(ACCRUAL, None, "9999-12-31").items() if v}
    books = {str(a): v for a, v in trial_balance(emulator.companies[realm]).items() if v}
    assert ours == books


def test_every_transaction_balances_and_cash_basis_defers_unpaid_documents(
    emulator: Emulator,
) -> None:
    realm = emulator.realm_ids[0]
    ledger = emulator.books[realm].ledger()
    for basis in (ACCRUAL, CASH):
        per_txn: dict[tuple[str, str], int] = {}
        for p in ledger.postings[basis]:
            per_txn[(p.txn_type, p.txn_id)] = per_txn.get((p.txn_type, p.txn_id), 0) + p.amount
        assert per_txn
        assert not {k: v for k, v in per_txn.items() if v}, basis
    assert not [p for p in ledger.postings[CASH] if p.txn_type in ("Invoice", "Bill")]
    assert [p for p in ledger.postings[CASH] if p.txn_type == "Payment" and p.account_id == "1"]


@pytest.mark.parametrize("basis", ["Accrual", "Cash"])
def test_statements_tie_out_every_quarter(emulator: Emulator, basis: str) -> None:
    realm = emulator.realm_ids[0]
    ledger = emulator.books[realm].ledger()
    for end in ("2022-03-31", "2023-06-30", "2024-09-30", "2025-12-31"):
        params = {"start_date": end[:8] + "01", "end_date": end, "accounting_method": basis}
        sheet = build_report(ledger, "BalanceSheet", params, today=end, time_text="t")
        top = [row["Summary"]["ColData"][1]["value"] for row in sheet["Rows"]["Row"]]
        assert top[0] == top[1], (end, basis)
        trial = build_report(ledger, "TrialBalance", params, today=end, time_text="t")
        debit, credit = (c["value"] for c in trial["Rows"]["Row"][-1]["Summary"]["ColData"][1:])
        assert debit == credit, (end, basis)


def test_the_served_company_has_every_posting_entity() -> None:
    objects = company_objects(
        Emulator(seed=4, invoices=50, prewarm=False).companies["9341450000000001"]
    )
    for entity in ("Payment", "Bill", "BillPayment", "Deposit", "JournalEntry", "Account"):
        assert objects.get(entity), entity
