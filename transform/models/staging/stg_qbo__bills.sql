-- Bill objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, bill_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/bill
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as bill_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'VendorRef') }} as vendor_id,
    {{ dt("payload", 'DueDate') }} as due_date,
    {{ num("payload", 'Balance') }} as balance,
    {{ ref_id("payload", 'APAccountRef') }} as ap_account_id,
    {{ ref_id("payload", 'SalesTermRef') }} as term_id,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('bills') }} as r
{{ join_home_currency() }}
