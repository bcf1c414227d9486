"""The QuickBooks Online streams: one short class per entity."""

from __future__ import annotations

import contextlib
import datetime as dt
import typing as t

from typing_extensions import override

from tap_quickbooks import realms
from tap_quickbooks.client import QuickBooksStream, RealmConnection, RequestStats, StreamTotals
from tap_quickbooks.errors import AuthError, TapQuickBooksError
from tap_quickbooks.records import strip_nul, utc_iso

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

CDC_WINDOW = dt.timedelta(days=30)
CDC_MAX_OBJECTS = 1000
CDC_MARGIN = dt.timedelta(seconds=60)
# CDC is never asked further back than CDC_WINDOW less this (a clock behind QuickBooks' by up to
# an hour, or a company that counts the 30 days in its own time zone, still gets a start it covers).
CDC_SKEW_MARGIN = dt.timedelta(hours=1)
DELETES_CHECKED_AT = "deletes_checked_at"


def cdc_since(wanted: dt.datetime, now: dt.datetime) -> dt.datetime:
    """The `changedSince` to ask for deletes since `wanted`: never older than CDC covers.

    QuickBooks documents CDC as covering the last 30 days; an older start is answered either
    silently or with a 400 fault ("... older than fixed days is not supported"), depending on
    the company. So the start is clamped to `now` - 30 days + a margin for clock skew.
    """
    oldest = (now - CDC_WINDOW + CDC_SKEW_MARGIN).replace(microsecond=0)
    return max(wanted, oldest)


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
        run's start), but never from further back than CDC covers (:func:`cdc_since`): the run
        warns once what that leaves to `qbo-warehouse reconcile --mark-deleted`. A CDC request
        that fails (other than on authentication) skips the deletes for this run with a warning;
        the rows and their state stand, and the next run asks again from the same point.
        """
        realm = context["realm_id"]
        if not self.settings.include_deletes:
            return
        state = self.get_context_state(context)
        wanted = bookmark_at_start or self.connections.run_started_at
        if isinstance(state.get(DELETES_CHECKED_AT), str):
            with contextlib.suppress(ValueError):
                wanted = dt.datetime.fromisoformat(state[DELETES_CHECKED_AT])
        asked = dt.datetime.now(dt.UTC)
        since = cdc_since(wanted, asked)
        try:
            objects, request_payload, server_time = conn.cdc(self.entity, since, stats)
        except AuthError:
            raise
        except TapQuickBooksError as exc:
            self.logger.warning(
                "Deletes of %s for realm %s were not checked this run (CDC from %s failed: %s); "
                "the rows and the state are saved, and the next run checks deletes again.",
                self.name,
                realm,
                since.isoformat(),
                exc,
            )

            # Keep the point deletes are unchecked from, so the next run starts there.
            def unchecked() -> None:
                state[DELETES_CHECKED_AT] = wanted.isoformat()
                self.state_manager.is_flushed = False
                self._write_state_message()

            realms.on_sync_thread(unchecked)  # (state changes on the SDK's thread)
            return
        now = server_time or asked
        if since > wanted or now - since > CDC_WINDOW:  # (the second: QuickBooks' clock ahead)
            self.logger.warning(
                "Deletes of %s for realm %s were last checked at %s, more than 30 days ago: "
                "QuickBooks CDC covers only the last 30 days, so deletes were read from %s. "
                "Invoices deleted before %s may be missing: run "
                "`qbo-warehouse reconcile --mark-deleted` (make reconcile ARGS=--mark-deleted), "
                "a full id reconciliation, to mark those rows deleted.",
                self.name,
                realm,
                wanted.isoformat(),
                since.isoformat(),
                max(since, now - CDC_WINDOW).replace(microsecond=0).isoformat(),
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

        def checkpoint() -> None:
            state[DELETES_CHECKED_AT] = max(checked, since).isoformat()
            self.state_manager.is_flushed = False
            self._write_state_message()

        realms.on_sync_thread(checkpoint)  # after the tombstones above are written


STREAM_TYPES: tuple[type[QuickBooksStream], ...] = (InvoicesStream, CustomersStream, ItemsStream)
