-- The accounts QuickBooks posts to when a transaction does not name one, per company, role and
-- currency (multi-currency companies keep one A/R and one A/P account per currency). Among several
-- candidates the active one with the lowest Id wins (QuickBooks creates the default first).
-- Key: (realm_id, role, currency); currency is null for roles that are not per currency.
with accounts as (
    select * from {{ ref('stg_qbo__accounts') }}
),

candidates as (
    select
        realm_id,
        case
            when account_type = 'Accounts Receivable' then 'accounts_receivable'
            when account_type = 'Accounts Payable' then 'accounts_payable'
            when account_sub_type = 'UndepositedFunds' then 'undeposited_funds'
            when account_sub_type in ('SalesTaxPayable', 'GlobalTaxPayable') then 'sales_tax_payable'
        end as role,
        case when account_type in ('Accounts Receivable', 'Accounts Payable') then currency end as currency,
        account_id,
        is_active
    from accounts
)

select distinct on (realm_id, role, currency)
    realm_id,
    role,
    currency,
    account_id
from candidates
where role is not null
order by realm_id, role, currency, is_active desc, length(account_id), account_id
