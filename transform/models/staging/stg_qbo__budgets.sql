-- Budget objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, budget_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/budget
select
    r.realm_id,
    r.id as budget_id,
    nullif(payload ->> 'Name', '') as name,
    {{ dt('payload', 'StartDate') }} as start_date,
    {{ dt('payload', 'EndDate') }} as end_date,
    nullif(payload ->> 'BudgetType', '') as budget_type,
    nullif(payload ->> 'BudgetEntryType', '') as budget_entry_type,
    coalesce({{ bool('payload', 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('budgets') }} as r
