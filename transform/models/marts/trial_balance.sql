-- Trial balance by month, on both accounting bases: per company, basis, month and account, the
-- month's debits and credits and the closing balance at the month end (every posting up to it),
-- in the home currency. 'Accrual' reads general_ledger, 'Cash' general_ledger_cash (QuickBooks'
-- spelling of accounting_method). Both the period net and the closing balances add up to zero
-- per company, basis and month (tested). Accounts whose postings could not be resolved (chart of
-- accounts not loaded) appear as 'unresolved:<role>'.
-- Key: (realm_id, accounting_method, period_month, account_id).
with gl as (
    select
        'Accrual'::text as accounting_method,
        realm_id, period_month, account_id, posting_role, account_name, account_type,
        account_classification, debit, credit, amount
    from {{ ref('general_ledger') }}
    union all
    select
        'Cash'::text,
        realm_id, period_month, account_id, posting_role, account_name, account_type,
        account_classification, debit, credit, amount
    from {{ ref('general_ledger_cash') }}
),

postings as (
    select
        accounting_method,
        realm_id,
        period_month,
        coalesce(account_id, 'unresolved:' || posting_role) as account_id,
        account_name,
        account_type,
        account_classification,
        debit,
        credit,
        amount
    from gl
),

accounts as (
    select distinct on (realm_id, account_id)
        realm_id, account_id, account_name, account_type, account_classification
    from postings
    order by realm_id, account_id, account_name nulls last
),

activity as (
    select accounting_method, realm_id, period_month, account_id,
        sum(debit) as debit, sum(credit) as credit, sum(amount) as amount
    from postings
    group by accounting_method, realm_id, period_month, account_id
),

grid as (
    select b.accounting_method, m.realm_id, m.period_month, m.month_end, a.account_id, a.account_name, a.account_type, a.account_classification
    from {{ ref('int_qbo__months') }} as m
    inner join accounts as a on a.realm_id = m.realm_id
    cross join (values ('Accrual'::text), ('Cash'::text)) as b (accounting_method)
),

running as (
    select
        g.*,
        coalesce(x.debit, 0) as period_debit,
        coalesce(x.credit, 0) as period_credit,
        coalesce(x.amount, 0) as period_net,
        sum(coalesce(x.amount, 0)) over (
            partition by g.realm_id, g.accounting_method, g.account_id order by g.period_month
        ) as closing_balance,
        count(x.account_id) over (
            partition by g.realm_id, g.accounting_method, g.account_id order by g.period_month
        ) as months_with_activity
    from grid as g
    left join activity as x
        on x.realm_id = g.realm_id and x.accounting_method = g.accounting_method
        and x.period_month = g.period_month and x.account_id = g.account_id
)

select
    realm_id,
    accounting_method,
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
