-- TimeActivity objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, time_activity_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/timeactivity
select
    r.realm_id,
    r.id as time_activity_id,
    {{ dt('payload', 'TxnDate') }} as activity_date,
    nullif(payload ->> 'NameOf', '') as name_of,
    {{ ref_id('payload', 'EmployeeRef') }} as employee_id,
    {{ ref_id('payload', 'VendorRef') }} as vendor_id,
    {{ ref_id('payload', 'CustomerRef') }} as customer_id,
    {{ ref_id('payload', 'ItemRef') }} as item_id,
    {{ ref_id('payload', 'ClassRef') }} as class_id,
    {{ ref_id('payload', 'DepartmentRef') }} as department_id,
    coalesce(nullif(payload ->> 'Hours', '')::integer, 0) * 60
        + coalesce(nullif(payload ->> 'Minutes', '')::integer, 0) as duration_minutes,
    {{ num('payload', 'HourlyRate') }} as hourly_rate,
    nullif(payload ->> 'BillableStatus', '') as billable_status,
    nullif(payload ->> 'Description', '') as description,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('time_activities') }} as r
