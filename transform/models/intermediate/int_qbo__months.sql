-- Every month of every company, from its first posting to its last, or to the last month of a
-- loaded ProfitAndLoss, BalanceSheet or aging report when that is later (the balances carry on
-- through months without postings, and those months' reports are compared too), with the start
-- of the fiscal year the month belongs to (CompanyInfo.FiscalYearStartMonth; January when not
-- loaded). Key: (realm_id, period_month).
with posted as (
    select realm_id, min(period_month) as first_month, max(period_month) as last_month
    from {{ ref('general_ledger') }}
    group by realm_id
),

reported as (
    select realm_id, date_trunc('month', max(period_end))::date as last_month
    from (
{%- for report in ['profit_and_loss', 'balance_sheet', 'aged_receivables', 'aged_payables'] %}
        {{ report_bodies(report, hashed=false) }}
        {% if not loop.last %}union all{% endif %}
{%- endfor %}
    ) as bodies
    group by realm_id
),

bounds as (
    select p.realm_id, p.first_month, greatest(p.last_month, r.last_month) as last_month
    from posted as p
    left join reported as r on r.realm_id = p.realm_id
),

fiscal as (
    select distinct on (realm_id)
        realm_id,
        extract(month from to_date(fiscal_year_start_month, 'Month'))::integer as first_fiscal_month
    from {{ ref('stg_qbo__company_info') }}
    order by realm_id, company_info_id
),

months as (
    select
        b.realm_id,
        m::date as period_month,
        coalesce(f.first_fiscal_month, 1) as first_fiscal_month
    from bounds as b
    cross join lateral generate_series(b.first_month, b.last_month, interval '1 month') as m
    left join fiscal as f on f.realm_id = b.realm_id
)

select
    realm_id,
    period_month,
    (period_month + interval '1 month' - interval '1 day')::date as month_end,
    -- The first day of the fiscal year: the latest first_fiscal_month on or before this month.
    make_date(
        extract(year from period_month)::integer
        - case when extract(month from period_month) < first_fiscal_month then 1 else 0 end,
        first_fiscal_month,
        1
    ) as fiscal_year_start
from months
