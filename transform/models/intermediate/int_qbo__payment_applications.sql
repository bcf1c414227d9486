-- What each payment and bill payment settles, for the cash basis: one row per payment line that
-- pays an invoice or credit memo (Payment) or a bill or vendor credit (BillPayment), the first
-- such LinkedTxn of the line (a line pays one transaction). amount_txn and amount are the line's
-- posting on A/R or A/P, debit positive (paying an invoice credits A/R, applying a credit memo
-- debits it; paying a bill debits A/P, applying a vendor credit credits it); amount is in the home
-- currency: each line converted at the payment's rate, the last line taking the rounding
-- difference, so the lines add up to their converted total (the rule of general_ledger).
-- Key: (realm_id, transaction_type, transaction_id, line_position).
with linked as (
    select
        l.*,
        row_number() over (
            partition by l.realm_id, l.transaction_type, l.transaction_id, l.line_position
            order by split_part(l.line_index, '.', 2)::integer
        ) as nth_link
    from (
        select * from {{ ref('int_qbo__payment_lines') }}
        union all
        select * from {{ ref('int_qbo__bill_payment_lines') }}
    ) as l
    where l.linked_transaction_id is not null
      and ((l.transaction_type = 'Payment' and l.linked_transaction_type in ('Invoice', 'CreditMemo'))
       or (l.transaction_type = 'BillPayment' and l.linked_transaction_type in ('Bill', 'VendorCredit')))
),

legs as (
    select
        realm_id, transaction_type, transaction_id, transaction_date, line_position,
        linked_transaction_type, linked_transaction_id, currency, exchange_rate,
        case when linked_transaction_type in ('Invoice', 'VendorCredit') then -amount else amount end as amount_txn
    from linked
    where nth_link = 1
),

converted as (
    select
        *,
        round(amount_txn * exchange_rate, 2) as naive_home,
        round(sum(amount_txn) over payment * exchange_rate, 2) - sum(round(amount_txn * exchange_rate, 2)) over payment as drift,
        row_number() over (
            partition by realm_id, transaction_type, transaction_id order by line_position desc
        ) as from_last
    from legs
    window payment as (partition by realm_id, transaction_type, transaction_id)
)

select
    realm_id,
    transaction_type,
    transaction_id,
    transaction_date,
    line_position,
    linked_transaction_type,
    linked_transaction_id,
    currency,
    exchange_rate,
    amount_txn,
    naive_home + case when from_last = 1 then drift else 0 end as amount
from converted
