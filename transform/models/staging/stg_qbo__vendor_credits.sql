-- VendorCredit objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, vendor_credit_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/vendorcredit
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as vendor_credit_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'VendorRef') }} as vendor_id,
    {{ ref_id("payload", 'APAccountRef') }} as ap_account_id,
    {{ num("payload", 'Balance') }} as balance,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('vendor_credits') }} as r
{{ join_home_currency() }}
