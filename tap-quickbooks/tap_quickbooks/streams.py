"""The QuickBooks Online streams: one short class per entity."""

from __future__ import annotations

import datetime as dt
import typing as t

from typing_extensions import override

from tap_quickbooks.client import QuickBooksStream, RealmConnection, RequestStats, StreamTotals
from tap_quickbooks.records import strip_nul, utc_iso

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

CDC_WINDOW = dt.timedelta(days=30)
CDC_MAX_OBJECTS = 1000


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
        """Emit CDC tombstones (`status == "Deleted"`); the bookmark does not move."""
        realm = context["realm_id"]
        if not self.settings.include_deletes:
            return
        if bookmark_at_start is None:
            self.logger.info(
                "No bookmark yet for %s realm %s: deletes are read from CDC from the next run on",
                self.name,
                realm,
            )
            return
        now = dt.datetime.now(dt.UTC)
        if now - bookmark_at_start > CDC_WINDOW:
            self.logger.warning(
                "The last sync of %s for realm %s (%s) is older than 30 days: QuickBooks CDC "
                "cannot report invoices deleted before %s. Run `make reconcile` (a full id "
                "reconciliation) to mark those rows deleted.",
                self.name,
                realm,
                bookmark_at_start.isoformat(),
                (now - CDC_WINDOW).date(),
            )
        objects, request_payload = conn.cdc(self.entity, bookmark_at_start, stats)
        if len(objects) >= CDC_MAX_OBJECTS:
            self.logger.warning(
                "CDC returned %d objects for %s realm %s (its limit is %d): some deletes may be "
                "missing; run `make reconcile` to check",
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
                "extract_window_start_utc": bookmark_at_start.isoformat(),
                "extract_window_end_utc": ingested,
                "page_number": None,
                "page_size": None,
                "request_payload": request_payload,
                "_sdc_deleted_at": deleted_at,
            }


STREAM_TYPES: tuple[type[QuickBooksStream], ...] = (InvoicesStream, CustomersStream, ItemsStream)
