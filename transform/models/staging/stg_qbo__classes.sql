-- Class objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, class_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/class
select
    r.realm_id,
    r.id as class_id,
    nullif(payload ->> 'Name', '') as name,
    nullif(payload ->> 'FullyQualifiedName', '') as fully_qualified_name,
    {{ ref_id("payload", 'ParentRef') }} as parent_class_id,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('classes') }} as r
