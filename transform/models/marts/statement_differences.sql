-- Where the models disagree with QuickBooks' own reports: every account (P&L, balance sheet) or
-- name (aging) and month whose amount differs from the report loaded for that month, to the
-- cent. Read from the report lines models stg_qbo__report_<name>_lines (one row per report
-- cell: line_kind, account_id, col_key, col_index, value_number, ...; empty while that report is
-- not loaded, and then nothing is compared). The report periods compared, and why others are
-- not, are in statement_periods (one-month periods, the bases the models offer).
-- Empty when everything matches (tested: data_tests/statements_match_quickbooks.sql; run by
-- `qbo-warehouse reconcile`). Key: (statement, realm_id, accounting_method, period_month, account_id).
{%- set pl = ref('stg_qbo__report_profit_and_loss_lines') %}
{%- set bs = ref('stg_qbo__report_balance_sheet_lines') %}
{%- set ar = ref('stg_qbo__report_aged_receivables_lines') %}
{%- set ap = ref('stg_qbo__report_aged_payables_lines') %}

with periods as (
    select statement, realm_id, accounting_method, period_start, period_end, period_month
    from {{ ref('statement_periods') }}
    where is_compared
),

report_pl as (
    select realm_id, accounting_method, period_start, period_end, account_id,
        max(account_name) as account_name, sum(value_number) as amount
    from {{ pl }}
    where line_kind = 'Data' and col_key = 'total' and account_id is not null and value_number is not null
    group by 1, 2, 3, 4, 5
),

report_bs as (
    select
        realm_id, accounting_method, period_start, period_end,
        coalesce(account_id, case when label = 'Net Income' then 'NetIncome' end) as account_id,
        max(coalesce(account_name, label)) as account_name,
        sum(value_number) as amount
    from {{ bs }}
    where line_kind = 'Data' and col_key = 'total' and value_number is not null
      and (account_id is not null or label = 'Net Income')
    group by 1, 2, 3, 4, 5
),

{% for name, relation in [('ar', ar), ('ap', ap)] %}
report_{{ name }} as (
    -- The total is the last column of each name's line.
    select realm_id, accounting_method, period_start, period_end,
        coalesce(nullif(account_id, ''), 'none') as account_id,
        max(account_name) as account_name, sum(value_number) as amount
    from (
        select *, max(col_index) over (partition by realm_id, accounting_method, period_start, period_end, line_position) as last_col
        from {{ relation }}
        where line_kind = 'Data'
    ) as cells
    where col_index = last_col and value_number is not null
    group by 1, 2, 3, 4, 5
),
{% endfor %}

reported as (
    select 'ProfitAndLoss' as statement, r.* from report_pl as r
    union all
    select 'BalanceSheet', r.* from report_bs as r
    union all
    select 'AgedReceivables', r.* from report_ar as r
    union all
    select 'AgedPayables', r.* from report_ap as r
),

-- The reports' lines of the compared periods, by the month the models key them.
compared as (
    select r.statement, r.realm_id, r.accounting_method, p.period_month, r.account_id, r.account_name, r.amount
    from reported as r
    inner join periods as p
        on p.statement = r.statement and p.realm_id = r.realm_id and p.accounting_method = r.accounting_method
        and p.period_start = r.period_start and p.period_end = r.period_end
),

models as (
    select 'ProfitAndLoss' as statement, realm_id, accounting_method, period_month, account_id, account_name, amount
    from {{ ref('profit_and_loss') }}
    union all
    select 'BalanceSheet', realm_id, accounting_method, period_month, account_id, account_name, amount
    from {{ ref('balance_sheet') }}
    union all
    select 'AgedReceivables', realm_id, 'Accrual', as_of_date, customer_id, null, total_amount
    from {{ ref('ar_aging') }}
    union all
    select 'AgedPayables', realm_id, 'Accrual', as_of_date, vendor_id, null, total_amount
    from {{ ref('ap_aging') }}
),

modelled as (
    select m.*
    from models as m
    inner join periods as p
        on p.statement = m.statement and p.realm_id = m.realm_id
        and p.accounting_method = m.accounting_method and p.period_month = m.period_month
)

select
    coalesce(q.statement, m.statement) as statement,
    coalesce(q.realm_id, m.realm_id) as realm_id,
    coalesce(q.accounting_method, m.accounting_method) as accounting_method,
    coalesce(q.period_month, m.period_month) as period_month,
    coalesce(q.account_id, m.account_id) as account_id,
    coalesce(m.account_name, q.account_name) as account_name,
    coalesce(q.amount, 0) as quickbooks_amount,
    coalesce(m.amount, 0) as model_amount,
    coalesce(m.amount, 0) - coalesce(q.amount, 0) as difference
from compared as q
full outer join modelled as m
    on m.statement = q.statement and m.realm_id = q.realm_id and m.accounting_method = q.accounting_method
    and m.period_month = q.period_month and m.account_id = q.account_id
where coalesce(q.amount, 0) <> coalesce(m.amount, 0)
