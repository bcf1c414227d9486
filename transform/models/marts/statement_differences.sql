-- Where the models disagree with QuickBooks' own reports: every account (P&L, balance sheet) or
-- name (aging) and month whose amount differs from the report loaded for that month, to the
-- cent. Read from the report line views raw.qb_report_<name>_lines (one row per report cell:
-- line_kind, account_id, col_key, col_index, value_number, ...); a report that is not loaded
-- is not compared. Only one-month report periods, and the bases the models offer (Accrual).
-- Empty when everything matches (tested: data_tests/statements_match_quickbooks.sql).
{%- set pl = raw_relation('qb_report_profit_and_loss_lines') %}
{%- set bs = raw_relation('qb_report_balance_sheet_lines') %}
{%- set ar = raw_relation('qb_report_aged_receivables_lines') %}
{%- set ap = raw_relation('qb_report_aged_payables_lines') %}

with empty as (
    select
        null::text as realm_id,
        null::text as accounting_method,
        null::date as period_month,
        null::text as account_id,
        null::numeric as amount
    where false
),

{% if pl is not none %}
report_pl as (
    select realm_id, accounting_method, period_start as period_month, account_id, sum(value_number) as amount
    from {{ pl }}
    where line_kind = 'Data' and col_key = 'total' and account_id is not null and value_number is not null
      and period_start = date_trunc('month', period_start)
      and period_end = (period_start + interval '1 month' - interval '1 day')::date
    group by 1, 2, 3, 4
),
{% else %}
report_pl as (select * from empty),
{% endif %}

{% if bs is not none %}
report_bs as (
    select
        realm_id, accounting_method, date_trunc('month', period_end)::date as period_month,
        coalesce(account_id, case when label = 'Net Income' then 'NetIncome' end) as account_id,
        sum(value_number) as amount
    from {{ bs }}
    where line_kind = 'Data' and col_key = 'total' and value_number is not null
      and (account_id is not null or label = 'Net Income')
      and period_end = (date_trunc('month', period_end) + interval '1 month' - interval '1 day')::date
    group by 1, 2, 3, 4
),
{% else %}
report_bs as (select * from empty),
{% endif %}

{% for name, relation in [('ar', ar), ('ap', ap)] %}
{% if relation is not none %}
report_{{ name }} as (
    -- The total is the last column of each name's line.
    select realm_id, 'Accrual'::text as accounting_method, period_end as period_month,
        coalesce(nullif(account_id, ''), 'none') as account_id, sum(value_number) as amount
    from (
        select *, max(col_index) over (partition by realm_id, accounting_method, period_start, period_end, line_position) as last_col
        from {{ relation }}
        where line_kind = 'Data'
    ) as cells
    where col_index = last_col and value_number is not null
    group by 1, 2, 3, 4
),
{% else %}
report_{{ name }} as (select * from empty),
{% endif %}
{% endfor %}

compared as (
    select 'ProfitAndLoss' as statement, r.* from report_pl as r
    union all
    select 'BalanceSheet', r.* from report_bs as r
    union all
    select 'AgedReceivables', r.* from report_ar as r
    union all
    select 'AgedPayables', r.* from report_ap as r
),

-- The periods QuickBooks' reports cover, per statement (only those are compared).
periods as (
    select distinct statement, realm_id, accounting_method, period_month from compared
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
    m.account_name,
    coalesce(q.amount, 0) as quickbooks_amount,
    coalesce(m.amount, 0) as model_amount,
    coalesce(m.amount, 0) - coalesce(q.amount, 0) as difference
from compared as q
full outer join modelled as m
    on m.statement = q.statement and m.realm_id = q.realm_id and m.accounting_method = q.accounting_method
    and m.period_month = q.period_month and m.account_id = q.account_id
where q.accounting_method is distinct from 'Cash'
  and coalesce(q.amount, 0) <> coalesce(m.amount, 0)
