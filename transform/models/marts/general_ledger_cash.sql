-- The general ledger on the cash basis (QuickBooks' reports with accounting_method=Cash): the
-- postings of general_ledger, except that invoices, credit memos, bills and vendor credits post
-- only when, and as far as, they are paid. Their own postings are left out; each payment or bill
-- payment line that settles one (int_qbo__payment_applications) posts, instead of its amount on
-- A/R or A/P, that document's other postings (income, discounts, sales tax, expenses, inventory)
-- scaled by the share of the document it settles, dated on the payment. The shares are in cents
-- and add up exactly to the amount settled: each posting gets the floor of its share, and the
-- cents left over go to the postings with the largest remainders (in line order on ties).
-- What a payment does not settle this way (an unapplied amount, a document that is not loaded or
-- totals zero) stays on A/R or A/P. The rules and their sources: README.md ("Cash basis").
-- Amounts in the home currency. Key: (realm_id, transaction_type, transaction_id, posting_index);
-- a reallocated posting's posting_index is '<payment line>:<the document's posting_index>'.
with gl as (
    select
        *,
        case
            when line_id is not null then string_to_array(line_id, '.')::integer[]
            when is_control then array[2000000]
            else array[1000000]
        end as posting_seq
    from {{ ref('general_ledger') }}
),

deferred as (
    select * from gl
    where transaction_type in ('Invoice', 'CreditMemo', 'Bill', 'VendorCredit')
),

-- The document's other postings, and the weights they are paid in proportion to.
document_legs as (
    select
        d.*,
        round(d.amount * 100)::bigint as weight,
        sum(round(d.amount * 100)::bigint) over (partition by d.realm_id, d.transaction_type, d.transaction_id) as weights_total
    from deferred as d
    where not d.is_control
),

document_totals as (
    select realm_id, transaction_type, transaction_id, abs(sum(amount) filter (where is_control)) as total
    from deferred
    group by 1, 2, 3
),

-- The payment lines whose document is loaded and has a total: these are reallocated.
settled as (
    select a.*
    from {{ ref('int_qbo__payment_applications') }} as a
    inner join document_totals as t
        on t.realm_id = a.realm_id and t.transaction_type = a.linked_transaction_type
        and t.transaction_id = a.linked_transaction_id
    where t.total <> 0
),

shares as (
    select
        s.realm_id, s.transaction_type, s.transaction_id, s.transaction_date, s.line_position,
        s.linked_transaction_type, s.linked_transaction_id,
        l.posting_index as document_posting_index, l.posting_seq, l.line_id, l.posting_role,
        l.account_id, l.account_name, l.account_type, l.account_classification, l.account_sub_type,
        l.parent_account_id, l.home_currency, l.class_id, l.department_id, l.customer_id, l.vendor_id,
        l.description,
        round(s.amount * 100)::bigint as target,
        floor(round(s.amount * 100)::numeric * l.weight / l.weights_total) as floor_cents,
        round(s.amount * 100)::numeric * l.weight / l.weights_total
            - floor(round(s.amount * 100)::numeric * l.weight / l.weights_total) as remainder
    from settled as s
    inner join document_legs as l
        on l.realm_id = s.realm_id and l.transaction_type = s.linked_transaction_type
        and l.transaction_id = s.linked_transaction_id
    where l.weights_total <> 0
),

allocated as (
    select
        *,
        target - sum(floor_cents) over leg as cents_left,
        row_number() over (leg order by remainder desc, posting_seq, document_posting_index) as remainder_rank
    from shares
    window leg as (partition by realm_id, transaction_type, transaction_id, line_position)
),

reallocated as (
    select
        a.realm_id,
        a.transaction_date,
        a.transaction_type,
        a.transaction_id,
        p.doc_number,
        a.line_position || ':' || a.document_posting_index as posting_index,
        a.line_id,
        a.posting_role,
        a.account_id, a.account_name, a.account_type, a.account_classification, a.account_sub_type,
        a.parent_account_id,
        round((a.floor_cents + case when a.remainder_rank <= a.cents_left then 1 else 0 end) / 100.0, 2) as amount,
        a.home_currency, a.class_id, a.department_id, a.customer_id, a.vendor_id, a.description,
        false as is_control,
        a.linked_transaction_type as applied_transaction_type,
        a.linked_transaction_id as applied_transaction_id
    from allocated as a
    left join (
        select distinct on (realm_id, transaction_type, transaction_id) realm_id, transaction_type, transaction_id, doc_number
        from gl
        where transaction_type in ('Payment', 'BillPayment')
        order by realm_id, transaction_type, transaction_id
    ) as p
        on p.realm_id = a.realm_id and p.transaction_type = a.transaction_type and p.transaction_id = a.transaction_id
),

reallocated_totals as (
    select realm_id, transaction_type, transaction_id, sum(s.amount) as amount
    from settled as s
    group by 1, 2, 3
),

-- Every other posting as on the accrual basis; a payment's posting on A/R or A/P keeps what was
-- not reallocated.
kept as (
    select
        g.realm_id, g.transaction_date, g.transaction_type, g.transaction_id, g.doc_number,
        g.posting_index, g.line_id, g.posting_role,
        g.account_id, g.account_name, g.account_type, g.account_classification, g.account_sub_type,
        g.parent_account_id,
        g.amount - case
            when g.posting_role in ('accounts_receivable', 'accounts_payable') then coalesce(r.amount, 0)
            else 0
        end as amount,
        g.home_currency, g.class_id, g.department_id, g.customer_id, g.vendor_id, g.description,
        g.is_control,
        null::text as applied_transaction_type,
        null::text as applied_transaction_id
    from gl as g
    left join reallocated_totals as r
        on r.realm_id = g.realm_id and r.transaction_type = g.transaction_type and r.transaction_id = g.transaction_id
    where g.transaction_type not in ('Invoice', 'CreditMemo', 'Bill', 'VendorCredit')
),

postings as (
    select * from kept
    union all
    select * from reallocated
)

select
    realm_id,
    transaction_date,
    date_trunc('month', transaction_date)::date as period_month,
    transaction_type,
    transaction_id,
    doc_number,
    posting_index,
    line_id,
    posting_role,
    account_id,
    account_name,
    account_type,
    account_classification,
    account_sub_type,
    parent_account_id,
    greatest(amount, 0) as debit,
    greatest(-amount, 0) as credit,
    amount,
    home_currency,
    class_id,
    department_id,
    customer_id,
    vendor_id,
    description,
    is_control,
    applied_transaction_type,
    applied_transaction_id
from postings
where amount <> 0
