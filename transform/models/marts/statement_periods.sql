-- The QuickBooks reports the statements are compared with (statement_differences): one row per
-- loaded ProfitAndLoss, BalanceSheet, AgedReceivables and AgedPayables body (company, basis,
-- period), the month it stands for, whether it is compared, and the md5 of its body.
-- period_month: the period's first day for ProfitAndLoss (one-month periods), the first day of
-- the month of the period's last day for BalanceSheet, the report date (period_end, a month end)
-- for the aging reports, as the models key them. Compared: one-month P&L periods; balance sheets
-- and aging as of a month end (when two loaded periods end on the same day, the shorter one); the
-- bases the models offer (aging: Accrual, as the tap stores it).
-- Key: (statement, realm_id, accounting_method, period_start, period_end).
{%- set reports = [
    ('ProfitAndLoss', 'profit_and_loss'),
    ('BalanceSheet', 'balance_sheet'),
    ('AgedReceivables', 'aged_receivables'),
    ('AgedPayables', 'aged_payables'),
] %}

with loaded as (
{%- for statement, report in reports %}
    select '{{ statement }}'::text as statement, b.*
    from ({{ report_bodies(report) }}) as b
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
),

placed as (
    select
        *,
        case statement
            when 'ProfitAndLoss' then period_start
            when 'BalanceSheet' then date_trunc('month', period_end)::date
            else period_end
        end as period_month,
        case
            when statement like 'Aged%' and accounting_method <> 'Accrual'
                then 'aging is compared on the Accrual rows'
            when statement not like 'Aged%' and accounting_method not in ('Accrual', 'Cash')
                then 'basis not modelled: ' || accounting_method
            when statement = 'ProfitAndLoss'
                and (period_start <> date_trunc('month', period_start)
                     or period_end <> (date_trunc('month', period_start) + interval '1 month' - interval '1 day')::date)
                then 'not a one-month period'
            when statement <> 'ProfitAndLoss'
                and period_end <> (date_trunc('month', period_end) + interval '1 month' - interval '1 day')::date
                then 'not as of a month end'
        end as not_compared_because
    from loaded
),

ranked as (
    select
        *,
        row_number() over (
            partition by statement, realm_id, accounting_method, period_month
            order by not_compared_because is null desc, period_start desc
        ) as rank_in_month
    from placed
)

select
    statement,
    realm_id,
    accounting_method,
    period_start,
    period_end,
    period_month,
    not_compared_because is null and rank_in_month = 1 as is_compared,
    coalesce(
        not_compared_because,
        case when rank_in_month > 1 then 'a shorter period ends on the same day' end
    ) as not_compared_because,
    payload_md5
from ranked
