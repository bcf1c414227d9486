-- The aging totals equal the A/R and A/P balances of the (accrual) trial balance at every month end.
with tb as (
    select realm_id, month_end,
        sum(closing_balance) filter (where account_type = 'Accounts Receivable') as receivable,
        -sum(closing_balance) filter (where account_type = 'Accounts Payable') as payable
    from {{ ref('trial_balance') }}
    where accounting_method = 'Accrual'
    group by realm_id, month_end
),

ar as (select realm_id, as_of_date, sum(total_amount) as total from {{ ref('ar_aging') }} group by 1, 2),
ap as (select realm_id, as_of_date, sum(total_amount) as total from {{ ref('ap_aging') }} group by 1, 2)

select tb.realm_id, tb.month_end, tb.receivable, ar.total as aged_receivable, tb.payable, ap.total as aged_payable
from tb
left join ar on ar.realm_id = tb.realm_id and ar.as_of_date = tb.month_end
left join ap on ap.realm_id = tb.realm_id and ap.as_of_date = tb.month_end
where coalesce(tb.receivable, 0) <> coalesce(ar.total, 0)
   or coalesce(tb.payable, 0) <> coalesce(ap.total, 0)
