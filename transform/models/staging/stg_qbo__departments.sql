-- Department objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, department_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/department
select
    r.realm_id,
    r.id as department_id,
    nullif(payload ->> 'Name', '') as name,
    nullif(payload ->> 'FullyQualifiedName', '') as fully_qualified_name,
    {{ ref_id("payload", 'ParentRef') }} as parent_department_id,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('departments') }} as r
