-- Purchase objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, purchase_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/purchase
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as purchase_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'AccountRef') }} as payment_account_id,
    nullif(payload ->> 'PaymentType', '') as payment_type,
    coalesce({{ bool("payload", 'Credit') }}, false) as is_credit,
    {{ ref_id("payload", 'EntityRef') }} as entity_id,
    payload -> 'EntityRef' ->> 'type' as entity_type,
    {{ ref_id("payload", 'PaymentMethodRef') }} as payment_method_id,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('purchases') }} as r
{{ join_home_currency() }}
