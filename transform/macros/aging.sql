{#-
  Aging of the open items of one control account type ('Accounts Receivable' or 'Accounts
  Payable') as of every month end, per party (customer or vendor), in 30-day buckets.

  Open items are the control-account postings of the general ledger, one per transaction and
  party. Payment lines (`applications`: a payment or bill payment line linking a transaction)
  move amounts between the paying transaction and the one paid as of the payment's date, so an
  item's balance at a month end is its amount less what was applied to it by then, and the total
  of all items always equals the control accounts' balance. Invoices and bills are aged from
  their due date (the transaction date when there is none), everything else from its
  transaction date. `sign` turns the ledger's debit-positive amounts into the report's: +1 for
  receivables, -1 for payables.
-#}
{% macro aging(account_type, party, applications, due_dates, sign) -%}
with items as (
    select
        gl.realm_id,
        gl.transaction_type,
        gl.transaction_id,
        gl.{{ party }} as party_id,
        min(gl.transaction_date) as transaction_date,
        sum(gl.amount) as amount
    from {{ ref('general_ledger') }} as gl
    where gl.account_type = '{{ account_type }}'
    group by 1, 2, 3, 4
),

applications as (
    select
        a.realm_id,
        a.transaction_type as paying_type,
        a.transaction_id as paying_id,
        a.linked_transaction_type as paid_type,
        a.linked_transaction_id as paid_id,
        a.transaction_date,
        round(a.amount * a.exchange_rate, 2) as amount
    from {{ ref(applications) }} as a
    where a.amount <> 0
),

-- What each application does: the paid item moves toward zero, the paying one by the same amount
-- the other way.
movements as (
    select
        ap.realm_id, ap.paid_type as transaction_type, ap.paid_id as transaction_id, ap.transaction_date,
        -sign(i.amount) * ap.amount as amount
    from applications as ap
    inner join items as i
        on i.realm_id = ap.realm_id and i.transaction_type = ap.paid_type and i.transaction_id = ap.paid_id
    union all
    select
        ap.realm_id, ap.paying_type, ap.paying_id, ap.transaction_date,
        sign(i.amount) * ap.amount
    from applications as ap
    inner join items as i
        on i.realm_id = ap.realm_id and i.transaction_type = ap.paid_type and i.transaction_id = ap.paid_id
),

aged_from as (
    select
        i.*,
        coalesce(d.due_date, i.transaction_date) as aged_from
    from items as i
    left join ({{ due_dates }}) as d
        on d.realm_id = i.realm_id and d.transaction_type = i.transaction_type and d.transaction_id = i.transaction_id
),

month_ends as (
    select realm_id, period_month, month_end from {{ ref('int_qbo__months') }}
),

-- What was applied to each item in each month (summed per month, then run over the months).
monthly_movements as (
    select realm_id, transaction_type, transaction_id, date_trunc('month', transaction_date)::date as period_month,
        sum(amount) as amount
    from movements
    group by 1, 2, 3, 4
),

open_at as (
    select
        m.realm_id,
        m.month_end as as_of_date,
        i.party_id,
        i.transaction_type,
        i.transaction_id,
        m.month_end - i.aged_from as days_past_due,
        {{ sign }} * (
            i.amount + sum(coalesce(mv.amount, 0)) over (
                partition by i.realm_id, i.transaction_type, i.transaction_id, i.party_id
                order by m.period_month
            )
        ) as open_amount
    from aged_from as i
    inner join month_ends as m
        on m.realm_id = i.realm_id and m.month_end >= i.transaction_date
    left join monthly_movements as mv
        on mv.realm_id = i.realm_id and mv.transaction_type = i.transaction_type
        and mv.transaction_id = i.transaction_id and mv.period_month = m.period_month
)

select
    realm_id,
    as_of_date,
    coalesce(party_id, 'none') as {{ party }},
    coalesce(sum(open_amount) filter (where days_past_due <= 0), 0) as current_amount,
    coalesce(sum(open_amount) filter (where days_past_due between 1 and 30), 0) as days_1_30,
    coalesce(sum(open_amount) filter (where days_past_due between 31 and 60), 0) as days_31_60,
    coalesce(sum(open_amount) filter (where days_past_due between 61 and 90), 0) as days_61_90,
    coalesce(sum(open_amount) filter (where days_past_due > 90), 0) as days_91_and_over,
    sum(open_amount) as total_amount,
    count(*) as open_transactions
from open_at
where open_amount <> 0
group by 1, 2, 3
{%- endmacro %}
