"""The QuickBooks Online streams: one short class per entity."""

from __future__ import annotations

import contextlib
import datetime as dt
import typing as t

from typing_extensions import override

from tap_quickbooks.client import QuickBooksStream, RealmConnection, RequestStats, StreamTotals
from tap_quickbooks.records import strip_nul, utc_iso

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

CDC_WINDOW = dt.timedelta(days=30)
CDC_MAX_OBJECTS = 1000
CDC_MARGIN = dt.timedelta(seconds=60)
DELETES_CHECKED_AT = "deletes_checked_at"


class CustomersStream(QuickBooksStream):
    """Customers, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/customer
    """

    name = "customers"
    entity = "Customer"
    include_inactive = True


class ItemsStream(QuickBooksStream):
    """Items (products and services), active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/item
    """

    name = "items"
    entity = "Item"
    include_inactive = True


class InvoicesStream(QuickBooksStream):
    """Invoices, plus tombstones of invoices deleted since the last run (from CDC).

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice
    """

    name = "invoices"
    entity = "Invoice"

    @override
    def after_windows(
        self,
        conn: RealmConnection,
        context: Context,
        bookmark_at_start: dt.datetime | None,
        stats: RequestStats,
        totals: StreamTotals,
    ) -> t.Iterable[dict[str, t.Any]]:
        """Emit CDC tombstones (`status == "Deleted"`); the bookmark does not move.

        CDC is read from the QuickBooks time of the previous run's CDC answer (kept in the
        partition state as `deletes_checked_at`; older state: the bookmark; first run: this
        run's start), and the run warns when that is longer ago than CDC's 30 days.
        """
        realm = context["realm_id"]
        if not self.settings.include_deletes:
            return
        state = self.get_context_state(context)
        since = bookmark_at_start or self.connections.run_started_at
        if isinstance(state.get(DELETES_CHECKED_AT), str):
            with contextlib.suppress(ValueError):
                since = dt.datetime.fromisoformat(state[DELETES_CHECKED_AT])
        asked = dt.datetime.now(dt.UTC)
        objects, request_payload, server_time = conn.cdc(self.entity, since, stats)
        now = server_time or asked
        if now - since > CDC_WINDOW:
            self.logger.warning(
                "Deletes of %s for realm %s were last checked at %s, more than 30 days ago: "
                "QuickBooks CDC cannot report every invoice deleted before %s. Run "
                "`qbo-warehouse reconcile --mark-deleted` (make reconcile ARGS=--mark-deleted), "
                "a full id reconciliation, to mark those rows deleted.",
                self.name,
                realm,
                since.isoformat(),
                (now - CDC_WINDOW).date(),
            )
        if len(objects) >= CDC_MAX_OBJECTS:
            self.logger.warning(
                "CDC returned %d objects for %s realm %s (its limit is %d): some deletes may be "
                "missing; run `qbo-warehouse reconcile --mark-deleted` to check",
                len(objects),
                self.name,
                realm,
                CDC_MAX_OBJECTS,
            )
        ingested = now.isoformat()
        for obj in objects:
            if obj.get("status") != "Deleted" or not obj.get("Id"):
                continue
            meta = obj.get("MetaData") or {}
            stamp = meta.get("LastUpdatedTime") if isinstance(meta, dict) else None
            deleted_at = utc_iso(stamp) if isinstance(stamp, str) and stamp else ingested
            totals.tombstones += 1
            yield {
                "realm_id": realm,
                "id": str(obj["Id"]),
                "sync_token": None,
                "last_updated_time": deleted_at,
                "payload": strip_nul(obj),
                "ingested_at_utc": ingested,
                "extract_window_start_utc": since.isoformat(),
                "extract_window_end_utc": ingested,
                "page_number": None,
                "page_size": None,
                "request_payload": request_payload,
                "_sdc_deleted_at": deleted_at,
            }
        # Deletes from here on are read next time (a margin for the time the answer took).
        checked = (now - (dt.datetime.now(dt.UTC) - asked) - CDC_MARGIN).replace(microsecond=0)
        state[DELETES_CHECKED_AT] = max(checked, since).isoformat()
        self.state_manager.is_flushed = False
        self._write_state_message()


STREAM_TYPES: tuple[type[QuickBooksStream], ...] = (InvoicesStream, CustomersStream, ItemsStream)
