-- Balance sheet at every month end, per account, on both accounting bases ('Accrual', 'Cash'),
-- with the BalanceSheet report's sections. Amounts in the home currency, signed as the report
-- shows them (assets positive when debit, liabilities and equity positive when credit). As in
-- QuickBooks, the income and expense accounts are closed into equity: the current fiscal year's
-- profit is the row 'Net Income' (account_id 'NetIncome'), earlier years' profit is added to
-- Retained Earnings (the Equity account whose AccountSubType is RetainedEarnings, or a row
-- 'RetainedEarnings' when none is loaded). Key: (realm_id, accounting_method, period_month, account_id).
with tb as (
    select tb.*, m.fiscal_year_start
    from {{ ref('trial_balance') }} as tb
    inner join {{ ref('int_qbo__months') }} as m
        on m.realm_id = tb.realm_id and m.period_month = tb.period_month
),

retained_earnings_account as (
    select distinct on (realm_id) realm_id, account_id, name
    from {{ ref('stg_qbo__accounts') }}
    where account_sub_type = 'RetainedEarnings'
    order by realm_id, is_active desc, length(account_id), account_id
),

balance_accounts as (
    select realm_id, accounting_method, period_month, month_end, account_id, account_name, account_type, closing_balance as balance
    from tb
    where account_classification in ('Asset', 'Liability', 'Equity')
),

-- Profit of each month, to be closed into Net Income (this fiscal year) or Retained Earnings.
monthly_profit as (
    select m.realm_id, b.accounting_method, m.period_month, m.month_end, m.fiscal_year_start,
        coalesce(sum(tb.period_net) filter (where tb.account_classification in ('Revenue', 'Expense')), 0) as profit_debit
    from {{ ref('int_qbo__months') }} as m
    cross join (values ('Accrual'::text), ('Cash'::text)) as b (accounting_method)
    left join tb
        on tb.realm_id = m.realm_id and tb.accounting_method = b.accounting_method and tb.period_month = m.period_month
    group by m.realm_id, b.accounting_method, m.period_month, m.month_end, m.fiscal_year_start
),

closing as (
    -- This fiscal year's profit up to the month, and every earlier year's (all profit up to the
    -- month less this year's).
    select
        realm_id,
        accounting_method,
        period_month,
        month_end,
        sum(profit_debit) over (
            partition by realm_id, accounting_method, fiscal_year_start order by period_month
        ) as net_income_debit,
        sum(profit_debit) over (partition by realm_id, accounting_method order by period_month)
        - sum(profit_debit) over (
            partition by realm_id, accounting_method, fiscal_year_start order by period_month
        ) as retained_debit
    from monthly_profit
),

rows_ as (
    select realm_id, accounting_method, period_month, month_end, account_id, account_name, account_type, balance
    from balance_accounts
    where account_id not in (select account_id from retained_earnings_account as r where r.realm_id = balance_accounts.realm_id)
    union all
    -- Retained Earnings: what is posted to it plus every earlier fiscal year's profit.
    select
        c.realm_id, c.accounting_method, c.period_month, c.month_end,
        coalesce(r.account_id, 'RetainedEarnings'),
        coalesce(r.name, 'Retained Earnings'),
        'Equity',
        coalesce(b.balance, 0) + c.retained_debit
    from closing as c
    left join retained_earnings_account as r on r.realm_id = c.realm_id
    left join balance_accounts as b
        on b.realm_id = c.realm_id and b.accounting_method = c.accounting_method
        and b.period_month = c.period_month and b.account_id = r.account_id
    where c.retained_debit <> 0 or b.balance is not null
    union all
    select c.realm_id, c.accounting_method, c.period_month, c.month_end, 'NetIncome', 'Net Income', 'Equity', c.net_income_debit
    from closing as c
)

select
    realm_id,
    accounting_method,
    period_month,
    month_end,
    account_id,
    account_name,
    account_type,
    {{ classification_of('account_type') }} as classification,
    {{ bs_section('account_type') }} as section,
    case when {{ classification_of('account_type') }} = 'Asset' then balance else -balance end as amount
from rows_
