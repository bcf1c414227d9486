-- PaymentMethod objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, payment_method_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/paymentmethod
select
    r.realm_id,
    r.id as payment_method_id,
    nullif(payload ->> 'Name', '') as name,
    nullif(payload ->> 'Type', '') as payment_method_type,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('payment_methods') }} as r
