-- Assets equal liabilities plus equity at every month end of every company, to the cent.
select realm_id, accounting_method, period_month,
    sum(amount) filter (where classification = 'Asset') as assets,
    sum(amount) filter (where classification in ('Liability', 'Equity')) as liabilities_and_equity
from {{ ref('balance_sheet') }}
group by realm_id, accounting_method, period_month
having coalesce(sum(amount) filter (where classification = 'Asset'), 0)
    <> coalesce(sum(amount) filter (where classification in ('Liability', 'Equity')), 0)
