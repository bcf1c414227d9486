"""The general ledger of the emulator's whole company equals the emulator's own ledger.

The emulator keeps a ledger of what each of its documents posts (`qbo_emulator.postings`, the
same QuickBooks rules written in Python). Every object of every entity of its seeded company goes
into the raw tables as the API renders it, `dbt build` runs, and each document's postings per
account must equal the emulator's to the cent, as must every month's balance per account.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Warehouse

postings = pytest.importorskip(
    "qbo_emulator.postings", reason="this emulator keeps no ledger (qbo_emulator.postings)"
)
data = pytest.importorskip("qbo_emulator.data")

SPECIAL = {"Class": "classes", "CompanyInfo": "company_info", "Preferences": "preferences"}


def stream_of(entity: str) -> str:
    """The tap's stream name of a QuickBooks entity: the snake_case plural."""
    if entity in SPECIAL:
        return SPECIAL[entity]
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", entity).lower()
    return snake[:-1] + "ies" if snake.endswith("y") else snake + "s"


@pytest.fixture(scope="module")
def company(warehouse: Warehouse) -> Any:
    companies = data.build_companies(seed=8, customers=150, items=50, invoices=1600, realms=1)
    ((realm, c),) = companies.items()
    for entity, table in c.tables.items():
        objects = [json.loads(c.render(entity, row)) for row in table.rows.values()]
        warehouse.load(stream_of(entity), realm, objects)
    result = warehouse.dbt("build")
    if result.returncode != 0:
        pytest.fail("dbt build failed:\n" + "\n".join(result.stdout.splitlines()[-60:]))
    return realm, c


def test_every_document_posts_what_the_emulator_posts(warehouse: Warehouse, company: Any) -> None:
    realm, c = company
    expected: dict[tuple[str, str, str], int] = defaultdict(int)
    for _day, entity, doc_id, account, cents in postings.journal(c):
        expected[(entity, str(doc_id), str(account))] += cents
    found: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in warehouse.query(
        "select transaction_type, transaction_id, account_id, sum(amount) * 100 as cents"
        " from analytics.general_ledger where realm_id = %s group by 1, 2, 3",
        realm,
    ):
        key = (row["transaction_type"], row["transaction_id"], str(row["account_id"]))
        found[key] += int(row["cents"])
    expected = {k: v for k, v in expected.items() if v}
    found = {k: v for k, v in found.items() if v}
    missing = sorted(set(expected) - set(found))[:10]
    extra = sorted(set(found) - set(expected))[:10]
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])[:10]
    assert (missing, extra, wrong) == ([], [], [])
    assert len(found) > 5000


def test_month_end_balances_equal_the_emulators(warehouse: Warehouse, company: Any) -> None:
    realm, c = company
    moves: dict[tuple[str, str], int] = defaultdict(int)
    for day, _entity, _doc_id, account, cents in postings.journal(c):
        moves[(day[:7], str(account))] += cents
    found = {
        (row["month"], row["account_id"]): int(row["cents"])
        for row in warehouse.query(
            "select to_char(period_month, 'YYYY-MM') as month, account_id,"
            " period_net * 100 as cents from analytics.trial_balance where realm_id = %s",
            realm,
        )
        if row["cents"]
    }
    assert found == {k: v for k, v in moves.items() if v}
