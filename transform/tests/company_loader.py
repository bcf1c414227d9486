"""The emulator's company in the raw tables as the tap's streams store it (entities, reports)."""

from __future__ import annotations

import calendar
import importlib
import json
import re
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from collections.abc import Iterable

    from conftest import Warehouse

#: QuickBooks report -> the report stream's raw table.
REPORTS = {
    "ProfitAndLoss": "qb_report_profit_and_loss",
    "BalanceSheet": "qb_report_balance_sheet",
    "AgedReceivables": "qb_report_aged_receivables",
    "AgedPayables": "qb_report_aged_payables",
}
SPECIAL = {"Class": "classes", "CompanyInfo": "company_info", "Preferences": "preferences"}


def stream_of(entity: str) -> str:
    """The tap's stream name of a QuickBooks entity: the snake_case plural."""
    if entity in SPECIAL:
        return SPECIAL[entity]
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", entity).lower()
    return snake[:-1] + "ies" if snake.endswith("y") else snake + "s"


def load_objects(warehouse: Warehouse, realm: str, company: Any) -> None:
    """Every object of every entity, as the API renders it."""
    for entity, table in company.tables.items():
        objects = [json.loads(company.render(entity, row)) for row in table.rows.values()]
        warehouse.load(stream_of(entity), realm, objects)


def load_reports(
    warehouse: Warehouse,
    realm: str,
    company: Any,
    months: Iterable[str],
    methods: tuple[str, ...] = ("Accrual",),
) -> None:
    """Each month's reports of the emulator, stored as the report streams store them: one row per
    realm, basis and period (the aging reports as of the month end, under Accrual only)."""
    # Imported by name: these modules exist only in versions with reports.
    books = importlib.import_module("qbo_emulator.reporting").Books
    build_report = importlib.import_module("qbo_emulator.reports").build_report

    ledger = books(company).ledger()
    with psycopg.connect(warehouse.dsn, autocommit=True) as conn:
        for name, table in REPORTS.items():
            target = sql.Identifier("raw", table)
            conn.execute(
                sql.SQL(
                    "create table if not exists {} (realm_id text, accounting_method text,"
                    " period_start date, period_end date, payload jsonb,"
                    " _sdc_deleted_at timestamp,"
                    " primary key (realm_id, accounting_method, period_start, period_end))"
                ).format(target)
            )
            for month in sorted(months):
                year, number = int(month[:4]), int(month[5:])
                start = f"{month}-01"
                end = f"{month}-{calendar.monthrange(year, number)[1]:02d}"
                for method in ("Accrual",) if name.startswith("Aged") else methods:
                    if name.startswith("Aged"):
                        params = {"report_date": end, "accounting_method": method}
                    else:
                        params = {"start_date": start, "end_date": end, "accounting_method": method}
                    body = build_report(
                        ledger,
                        name,
                        params,
                        today="2030-01-01",
                        time_text="2030-01-01T00:00:00-08:00",
                    )
                    conn.execute(
                        sql.SQL("insert into {} values (%s, %s, %s, %s, %s, null)").format(target),
                        (realm, method, start, end, json.dumps(body)),
                    )
