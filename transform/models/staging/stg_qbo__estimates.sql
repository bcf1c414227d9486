-- Estimate objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, estimate_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/estimate
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as estimate_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'CustomerRef') }} as customer_id,
    {{ dt("payload", 'ExpirationDate') }} as expiration_date,
    nullif(payload ->> 'TxnStatus', '') as status,
    coalesce({{ num("payload -> 'TxnTaxDetail'", 'TotalTax') }}, 0) as total_tax,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('estimates') }} as r
{{ join_home_currency() }}
