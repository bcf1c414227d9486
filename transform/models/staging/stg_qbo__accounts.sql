-- Account objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, account_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/account
select
    r.realm_id,
    r.id as account_id,
    nullif(payload ->> 'Name', '') as name,
    nullif(payload ->> 'FullyQualifiedName', '') as fully_qualified_name,
    nullif(payload ->> 'AcctNum', '') as account_number,
    nullif(payload ->> 'AccountType', '') as account_type,
    nullif(payload ->> 'AccountSubType', '') as account_sub_type,
    nullif(payload ->> 'Classification', '') as classification,
    {{ ref_id("payload", 'ParentRef') }} as parent_account_id,
    coalesce({{ bool("payload", 'SubAccount') }}, false) as is_sub_account,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    {{ ref_id("payload", 'CurrencyRef') }} as currency,
    {{ num("payload", 'CurrentBalance') }} as current_balance,
    {{ num("payload", 'CurrentBalanceWithSubAccounts') }} as current_balance_with_sub_accounts,
    {{ ref_id("payload", 'TaxCodeRef') }} as tax_code_id,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('accounts') }} as r
