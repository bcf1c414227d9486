-- CustomerType objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, customer_type_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/customertype
select
    r.realm_id,
    r.id as customer_type_id,
    nullif(payload ->> 'Name', '') as name,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('customer_types') }} as r
