-- PurchaseOrder objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, purchase_order_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/purchaseorder
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as purchase_order_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'VendorRef') }} as vendor_id,
    {{ ref_id("payload", 'APAccountRef') }} as ap_account_id,
    nullif(payload ->> 'POStatus', '') as status,
    {{ dt("payload", 'DueDate') }} as due_date,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('purchase_orders') }} as r
{{ join_home_currency() }}
