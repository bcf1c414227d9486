-- The general ledger: one double-entry row per posting of every posting transaction.
-- debit, credit and amount (debit - credit) are in the company's home currency: each posting is
-- converted at its transaction's exchange rate and rounded to the cent, and the control posting
-- (A/R, A/P or the money account) takes the rest, so every transaction balances to the cent.
-- amount_in_transaction_currency is the same posting in the transaction's own currency.
-- Key: (realm_id, transaction_type, transaction_id, posting_index).
with postings as (
    select * from {{ ref('int_qbo__postings') }}
),

home as (
    select
        *,
        case
            when is_control then null
            else round(amount_txn * exchange_rate, 2)
        end as detail_home
    from postings
),

balanced as (
    select
        *,
        case
            when is_control
                then -coalesce(sum(detail_home) over (partition by realm_id, transaction_type, transaction_id), 0)
            else detail_home
        end as amount_home
    from home
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
