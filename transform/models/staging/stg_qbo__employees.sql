-- Employee objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, employee_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/employee
select
    r.realm_id,
    r.id as employee_id,
    nullif(payload ->> 'DisplayName', '') as display_name,
    nullif(payload ->> 'GivenName', '') as given_name,
    nullif(payload ->> 'FamilyName', '') as family_name,
    nullif(payload ->> 'EmployeeNumber', '') as employee_number,
    {{ dt("payload", 'HiredDate') }} as hired_date,
    {{ dt("payload", 'ReleasedDate') }} as released_date,
    {{ num("payload", 'BillRate') }} as bill_rate,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('employees') }} as r
