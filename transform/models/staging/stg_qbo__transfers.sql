-- Transfer objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, transfer_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/transfer
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as transfer_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'FromAccountRef') }} as from_account_id,
    {{ ref_id("payload", 'ToAccountRef') }} as to_account_id,
    {{ num("payload", 'Amount') }} as amount,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('transfers') }} as r
{{ join_home_currency() }}
