-- Trial balance by month: per company, month and account, the month's debits and credits and the
-- closing balance at the month end (every posting up to it), in the home currency. Both the
-- period net and the closing balances add up to zero per company and month (tested).
-- Accounts whose postings could not be resolved (chart of accounts not loaded) appear as
-- 'unresolved:<role>'. Key: (realm_id, period_month, account_id).
with gl as (
    select
        realm_id,
        period_month,
        coalesce(account_id, 'unresolved:' || posting_role) as account_id,
        account_name,
        account_type,
        account_classification,
        debit,
        credit,
        amount
    from {{ ref('general_ledger') }}
),

accounts as (
    select distinct on (realm_id, account_id)
        realm_id, account_id, account_name, account_type, account_classification
    from gl
    order by realm_id, account_id, account_name nulls last
),

activity as (
    select realm_id, period_month, account_id, sum(debit) as debit, sum(credit) as credit, sum(amount) as amount
    from gl
    group by realm_id, period_month, account_id
),

grid as (
    select m.realm_id, m.period_month, m.month_end, a.account_id, a.account_name, a.account_type, a.account_classification
    from {{ ref('int_qbo__months') }} as m
    inner join accounts as a on a.realm_id = m.realm_id
),

running as (
    select
        g.*,
        coalesce(x.debit, 0) as period_debit,
        coalesce(x.credit, 0) as period_credit,
        coalesce(x.amount, 0) as period_net,
        sum(coalesce(x.amount, 0)) over (
            partition by g.realm_id, g.account_id order by g.period_month
        ) as closing_balance,
        count(x.account_id) over (
            partition by g.realm_id, g.account_id order by g.period_month
        ) as months_with_activity
    from grid as g
    left join activity as x
        on x.realm_id = g.realm_id and x.period_month = g.period_month and x.account_id = g.account_id
)

select
    realm_id,
    period_month,
    month_end,
    account_id,
    account_name,
    account_type,
    account_classification,
    period_debit,
    period_credit,
    period_net,
    greatest(closing_balance, 0) as closing_debit,
    greatest(-closing_balance, 0) as closing_credit,
    closing_balance
from running
where months_with_activity > 0
