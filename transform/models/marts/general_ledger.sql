-- The general ledger: one double-entry row per posting of every posting transaction.
-- debit, credit and amount (debit - credit) are in the company's home currency, converted at the
-- transaction's exchange rate: the control posting (A/R, A/P or the money account) carries the
-- converted total rounded to the cent, each other posting is rounded on its own and the last of
-- them takes the rounding difference, so every transaction balances to the cent.
-- amount_in_transaction_currency is the same posting in the transaction's own currency.
-- Key: (realm_id, transaction_type, transaction_id, posting_index).
with postings as (
    select * from {{ ref('int_qbo__postings') }}
),

converted as (
    select
        *,
        round(amount_txn * exchange_rate, 2) as naive_home,
        row_number() over (
            partition by realm_id, transaction_type, transaction_id, is_control
            order by posting_seq desc, posting_index desc
        ) as from_last,
        sum(amount_txn) filter (where not is_control) over txn as detail_txn,
        sum(round(amount_txn * exchange_rate, 2)) filter (where not is_control) over txn as detail_naive,
        bool_or(is_control) over txn as has_control
    from postings
    window txn as (partition by realm_id, transaction_type, transaction_id)
),

-- Home amounts. With a control posting: it carries the converted total, round(total x rate);
-- each other posting is converted on its own and the last of them takes the rounding
-- difference. Without one (journal entries): the last posting takes the difference.
balanced as (
    select
        *,
        case
            when is_control then -round(coalesce(detail_txn, 0) * exchange_rate, 2)
            when from_last = 1 and has_control
                then naive_home + round(detail_txn * exchange_rate, 2) - detail_naive
            when from_last = 1 then naive_home - detail_naive
            else naive_home
        end as amount_home
    from converted
)

select
    b.realm_id,
    b.transaction_date,
    date_trunc('month', b.transaction_date)::date as period_month,
    b.transaction_type,
    b.transaction_id,
    b.doc_number,
    b.posting_index,
    b.line_index as line_id,
    b.posting_role,
    b.account_id,
    a.name as account_name,
    -- From the chart of accounts; for a posting whose account is not loaded, the type its role implies.
    coalesce(a.account_type, {{ account_type_of_role('b.posting_role') }}) as account_type,
    coalesce(a.classification, {{ classification_of(account_type_of_role('b.posting_role')) }}) as account_classification,
    a.account_sub_type,
    a.parent_account_id,
    greatest(b.amount_home, 0) as debit,
    greatest(-b.amount_home, 0) as credit,
    b.amount_home as amount,
    b.currency,
    b.exchange_rate,
    greatest(b.amount_txn, 0) as debit_in_transaction_currency,
    greatest(-b.amount_txn, 0) as credit_in_transaction_currency,
    b.amount_txn as amount_in_transaction_currency,
    coalesce(h.home_currency, b.currency) as home_currency,
    b.class_id,
    b.department_id,
    b.customer_id,
    b.vendor_id,
    b.description,
    b.is_control
from balanced as b
left join {{ ref('stg_qbo__accounts') }} as a
    on a.realm_id = b.realm_id and a.account_id = b.account_id
left join {{ ref('stg_qbo__home_currency') }} as h
    on h.realm_id = b.realm_id
where b.amount_home <> 0 or b.amount_txn <> 0
