"""A NUL character in a QuickBooks memo, through `meltano run` into Postgres.

Postgres text and jsonb cannot store U+0000, so one NUL left in a page fails the whole load. The
emulator's `nul_in_memo` switch serves one in every invoice's CustomerMemo.
"""

from __future__ import annotations

from typing import Any

from conftest import COMPANY, TABLES, mismatches, rows
from qbo_emulator.testing import EmulatorServer

MEMO = "Thank you for your business and have a great day!"


def test_a_nul_in_every_invoice_memo_loads_without_it(make_project: Any) -> None:
    with EmulatorServer(**COMPANY, nul_in_memo=1) as emu:
        project = make_project(emu)
        project.run()
        assert mismatches(project.dsn, emu.truth()) == {table: {} for table in TABLES.values()}
        invoices = rows(project.dsn, "qb_invoices")
        assert invoices
        assert {r["payload"]["CustomerMemo"]["value"] for r in invoices} == {MEMO}
