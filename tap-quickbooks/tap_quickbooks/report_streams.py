"""Report streams: one QuickBooks report per period, accounting method and realm.

Each stream reads `GET /v3/company/<realm>/reports/<Report>` for every complete month (or
quarter) from `start_date` to `end_date`, with each accounting method asked for, and emits the
whole report body as `payload`. Its bookmark (per realm) is the last day of the last period read;
every run also reads the last `report_restate_months` months again (see `reports.plan`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import typing as t
import weakref

from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_quickbooks import limits, reports
from tap_quickbooks.connection import Connections, RealmConnection, RequestStats, connections_for
from tap_quickbooks.errors import QueryFaultError
from tap_quickbooks.realm_metrics import RealmCountedStream, log_requests

if t.TYPE_CHECKING:
    from concurrent.futures import Future

    from singer_sdk.helpers.types import Context

    from tap_quickbooks.settings import Settings

REPORT_SCHEMA = th.PropertiesList(
    th.Property("realm_id", th.StringType, required=True, description="QuickBooks company id"),
    th.Property(
        "accounting_method",
        th.StringType,
        required=True,
        description="`Accrual` or `Cash`, as QuickBooks spells them",
    ),
    th.Property("period_start", th.DateType, required=True, description="First day of the period"),
    th.Property(
        "period_end",
        th.DateType,
        required=True,
        description="Last day of the period (inclusive, the report's EndPeriod); the bookmark",
    ),
    th.Property("payload", th.ObjectType(), description="The whole report body as returned"),
    th.Property("ingested_at_utc", th.DateTimeType),
    th.Property("extract_window_start_utc", th.DateTimeType),
    th.Property("extract_window_end_utc", th.DateTimeType),
    th.Property("page_number", th.IntegerType, description="Requests the period took (splits)"),
    th.Property("page_size", th.IntegerType),
    th.Property(
        "request_payload", th.ObjectType(), description="Endpoint and parameters; no token"
    ),
    th.Property("_sdc_deleted_at", th.DateTimeType, description="Always null for reports"),
).to_dict()
#: Periods fetched ahead of the one being emitted (the realm's limits still apply).
READ_AHEAD = 4

_limiters: weakref.WeakKeyDictionary[RealmConnection, limits.RateLimiter] = (
    weakref.WeakKeyDictionary()
)
_limiters_lock = threading.Lock()


def report_limiter(conn: RealmConnection, per_minute: int) -> limits.RateLimiter:
    """The report budget of a realm, taken on top of (not instead of) its request budget."""
    with _limiters_lock:
        limiter = _limiters.get(conn)
        if limiter is None:
            limiter = _limiters[conn] = limits.RateLimiter(per_minute)
        return limiter


class ReportTooLargeError(QueryFaultError):
    """QuickBooks cut a report short and the period cannot be split further."""


class ReportStream(RealmCountedStream):
    """One QuickBooks report per period and accounting method.

    Not a `QuickBooksStream`: a report is no entity, so the realm plan (CDC, `/batch`,
    windows) never sees it. It shares the realm's connection, budget and RECORD writer.
    """

    kind: t.ClassVar[str] = "report"
    cdc: t.ClassVar[bool] = False
    tombstones: t.ClassVar[bool] = False
    entity: t.ClassVar[str]  # the report's name in the API, e.g. "ProfitAndLoss"
    #: Aging reports: read as of each period's last day, once (aging has no accounting basis).
    as_of: t.ClassVar[bool] = False
    #: Detail reports: split a period cut short by QuickBooks and merge the pieces.
    splittable: t.ClassVar[bool] = False
    primary_keys: t.ClassVar[list[str]] = [
        "realm_id",
        "accounting_method",
        "period_start",
        "period_end",
    ]
    replication_key = "period_end"
    is_sorted = False
    schema = REPORT_SCHEMA
    #: Reads only when selected (catalog, or `select` in meltano.yml): reports cost requests.
    selected_by_default = False
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # records are built JSON-ready

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up per-run bookkeeping."""
        super().__init__(*args, **kwargs)
        self._deselected: tuple[str, ...] | None = None

    @property
    def settings(self) -> Settings:
        """The validated settings of the tap."""
        return self.tap.settings  # type: ignore[attr-defined, no-any-return]

    @property
    def report_settings(self) -> reports.ReportSettings:
        return self.settings.report

    @property
    def connections(self) -> Connections:
        """The realm connections shared by every stream of this run."""
        return connections_for(self.tap, self.settings)

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        return [{"realm_id": realm} for realm in self.settings.realm_ids]

    @override
    def mapped_records(self, record: dict[str, t.Any]) -> t.Iterator[tuple[str, dict[str, t.Any]]]:
        """`(stream alias, record)` for each stream map that keeps the record."""
        if self._deselected is None:
            self._deselected = tuple(
                name for name in self.schema["properties"] if not self.mask[("properties", name)]
            )
        for name in self._deselected:
            record.pop(name, None)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield stream_map.stream_alias, mapped

    def _period_bookmark(self, context: Context) -> dt.date | None:
        state = self.get_context_state(context)
        value = state.get("replication_key_value")
        if value and state.get("replication_key") == self.replication_key:
            try:
                return dt.date.fromisoformat(str(value)[:10])
            except ValueError:
                self.logger.warning("Ignoring unreadable bookmark %r", value)
        return None

    def _commit_period(self, context: Context, period_end: dt.date) -> None:
        """Move the bookmark forward to `period_end` (never back: restated periods are older)."""
        state = self.get_context_state(context)
        current = self._period_bookmark(context)
        if current is not None and period_end <= current:
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = period_end.isoformat()
        self.emit_state()

    @classmethod
    def params(cls, first: dt.date, last: dt.date, method: str) -> dict[str, str]:
        """The query parameters of one period's report."""
        if cls.as_of:
            return {
                "report_date": last.isoformat(),
                "start_date": first.isoformat(),
                "end_date": last.isoformat(),
            }
        return {
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
            "accounting_method": method,
        }

    def _fetch(
        self,
        conn: RealmConnection,
        first: dt.date,
        last: dt.date,
        method: str,
        stats: RequestStats,
        limiter: limits.RateLimiter,
    ) -> tuple[dict[str, t.Any], int]:
        """The report of first..last, split and merged when QuickBooks cuts it short."""
        limiter.acquire()
        body = conn.get(f"reports/{self.entity}", self.params(first, last, method), stats)
        if not reports.is_truncated(body):
            return body, 1
        pieces = reports.split(first, last) if self.splittable else None
        if pieces is None:
            what = "a single day" if self.splittable else "one request"
            msg = (
                f"QuickBooks cut the {self.entity} report of realm {conn.realm_id} for "
                f'{first}..{last} ({method}) short ("{reports.TRUNCATED}"), and {what} '
                "cannot be split further"
            )
            raise ReportTooLargeError(msg)
        self.logger.info(
            "%s %s..%s (%s) is too large for one report: reading it in %d pieces",
            self.entity,
            first,
            last,
            method,
            len(pieces),
        )
        bodies = []
        requests = 1
        for lo, hi in pieces:
            piece, used = self._fetch(conn, lo, hi, method, stats, limiter)
            bodies.append(piece)
            requests += used
        return reports.merge(bodies, first, last), requests

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        realm = context["realm_id"]
        settings = self.settings
        rs = self.report_settings
        conn = self.connections.get(realm)
        limiter = report_limiter(conn, rs.requests_per_minute)
        stats = RequestStats()
        started = time.monotonic()
        end = (settings.end_date or self.connections.run_started_at).date()
        bookmark = self._period_bookmark(context)
        start = max(settings.start_date.date(), rs.start_date or settings.start_date.date())
        periods = reports.plan(start, end, rs.period, bookmark, rs.restate_months)
        methods = (reports.ACCRUAL,) if self.as_of else rs.methods
        jobs = [(first, last, method) for first, last in periods for method in methods]
        self.logger.info(
            "Extracting %s for realm %s: %d periods (bookmark %s) x %s",
            self.name,
            realm,
            len(periods),
            bookmark,
            "/".join(methods),
        )

        def submit(job: tuple[dt.date, dt.date, str]) -> Future[tuple[dict[str, t.Any], int]]:
            first, last, method = job
            return conn.executor.submit(self._fetch, conn, first, last, method, stats, limiter)

        pending: list[Future[tuple[dict[str, t.Any], int]]] = [
            submit(job) for job in jobs[:READ_AHEAD]
        ]
        rows = 0
        try:
            for n, (first, last, method) in enumerate(jobs):
                body, used = pending.pop(0).result()
                if n + READ_AHEAD < len(jobs):
                    pending.append(submit(jobs[n + READ_AHEAD]))
                ingested = dt.datetime.now(dt.UTC).isoformat()
                rows += 1
                yield {
                    "realm_id": realm,
                    "accounting_method": method,
                    "period_start": first.isoformat(),
                    "period_end": last.isoformat(),
                    "payload": body,
                    "ingested_at_utc": ingested,
                    "extract_window_start_utc": f"{first.isoformat()}T00:00:00+00:00",
                    "extract_window_end_utc": f"{last.isoformat()}T00:00:00+00:00",
                    "page_number": used,
                    "page_size": None,
                    "request_payload": conn.request_payload(
                        f"reports/{self.entity}", self.params(first, last, method)
                    ),
                    "_sdc_deleted_at": None,
                }
                if n + 1 == len(jobs) or jobs[n + 1][:2] != (first, last):
                    self._commit_period(context, last)
        finally:
            for future in pending:
                future.cancel()
        log_requests(self.name, realm, f"/v3/company/{realm}/reports/{self.entity}", stats.requests)
        self.logger.info(
            "Summary %s realm=%s rows=%d periods=%d requests=%d retries=%d throttles=%d "
            "seconds=%.1f",
            self.name,
            realm,
            rows,
            len(periods),
            stats.requests,
            stats.retries,
            stats.throttles,
            time.monotonic() - started,
        )


class ProfitAndLossReport(ReportStream):
    """Profit and loss per period.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/profitandloss
    """

    name = "report_profit_and_loss"
    entity = "ProfitAndLoss"


class BalanceSheetReport(ReportStream):
    """Balance sheet as of each period's last day (StartPeriod..EndPeriod as asked).

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/balancesheet
    """

    name = "report_balance_sheet"
    entity = "BalanceSheet"


class CashFlowReport(ReportStream):
    """Statement of cash flows per period.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/cashflow
    """

    name = "report_cash_flow"
    entity = "CashFlow"


class TrialBalanceReport(ReportStream):
    """Trial balance as of each period's last day.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/trialbalance
    """

    name = "report_trial_balance"
    entity = "TrialBalance"


class GeneralLedgerReport(ReportStream):
    """General ledger (every posting) per period; split by week, then day, when too large.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/generalledger
    """

    name = "report_general_ledger"
    entity = "GeneralLedger"
    splittable = True


class ProfitAndLossDetailReport(ReportStream):
    """Profit and loss postings per period; split by week, then day, when too large.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/profitandlossdetail
    """

    name = "report_profit_and_loss_detail"
    entity = "ProfitAndLossDetail"
    splittable = True


class AgedReceivablesReport(ReportStream):
    """Receivables aging as of each period's last day.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/agedreceivables
    """

    name = "report_aged_receivables"
    entity = "AgedReceivables"
    as_of = True


class AgedPayablesReport(ReportStream):
    """Payables aging as of each period's last day.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/agedpayables
    """

    name = "report_aged_payables"
    entity = "AgedPayables"
    as_of = True


REPORT_STREAM_TYPES: tuple[type[ReportStream], ...] = (
    ProfitAndLossReport,
    BalanceSheetReport,
    CashFlowReport,
    TrialBalanceReport,
    GeneralLedgerReport,
    ProfitAndLossDetailReport,
    AgedReceivablesReport,
    AgedPayablesReport,
)
