-- Every posting of every posting transaction, in the transaction's currency (amount_txn: debit
-- positive). The rules, with their sources, are in README.md ("Posting rules"). Each transaction
-- has at most one control posting (A/R, A/P, or the money account), which balances it:
-- general_ledger converts the other postings to the home currency and gives the control posting
-- the rest, so every transaction balances to the cent in both currencies.
with items as (
    select realm_id, item_id, income_account_id, expense_account_id, asset_account_id, tracks_quantity_on_hand
    from {{ ref('stg_qbo__items') }}
),

-- Sales forms: invoice (+1), sales receipt (+1), credit memo (-1), refund receipt (-1).
sales_headers as (
    select realm_id, 'Invoice' as transaction_type, invoice_id as transaction_id, 1 as sign, transaction_date, doc_number,
        currency, exchange_rate, class_id, department_id, customer_id, total_amount, total_tax,
        coalesce(ar_account_id, {{ default_account('accounts_receivable', 's.realm_id', 's.currency') }}) as control_account_id,
        'accounts_receivable' as control_role,
        deposit_to_account_id as deposit_account_id, coalesce(deposit_amount, 0) as deposit_amount
    from {{ ref('stg_qbo__invoices') }} as s
    union all
    select realm_id, 'SalesReceipt', sales_receipt_id, 1, transaction_date, doc_number,
        currency, exchange_rate, class_id, department_id, customer_id, total_amount, total_tax,
        coalesce(deposit_to_account_id, {{ default_account('undeposited_funds', 's.realm_id', 's.currency') }}),
        'deposit_to', null, 0
    from {{ ref('stg_qbo__sales_receipts') }} as s
    union all
    select realm_id, 'CreditMemo', credit_memo_id, -1, transaction_date, doc_number,
        currency, exchange_rate, class_id, department_id, customer_id, total_amount, total_tax,
        coalesce(ar_account_id, {{ default_account('accounts_receivable', 's.realm_id', 's.currency') }}),
        'accounts_receivable', null, 0
    from {{ ref('stg_qbo__credit_memos') }} as s
    union all
    select realm_id, 'RefundReceipt', refund_receipt_id, -1, transaction_date, doc_number,
        currency, exchange_rate, class_id, department_id, customer_id, total_amount, total_tax,
        coalesce(deposit_to_account_id, {{ default_account('undeposited_funds', 's.realm_id', 's.currency') }}),
        'refund_from', null, 0
    from {{ ref('stg_qbo__refund_receipts') }} as s
),

sales_lines as (
    select * from {{ ref('int_qbo__invoice_lines') }}
    union all
    select * from {{ ref('int_qbo__sales_receipt_lines') }}
    union all
    select * from {{ ref('int_qbo__credit_memo_lines') }}
    union all
    select * from {{ ref('int_qbo__refund_receipt_lines') }}
),

sales_postings as (
    -- Each item line credits the item's income account (debits it on a credit memo or refund).
    select
        h.realm_id, h.transaction_type, h.transaction_id, h.transaction_date, h.doc_number,
        l.line_index as posting_index, l.line_index, 'income' as posting_role,
        coalesce(l.item_account_id, i.income_account_id) as account_id,
        -h.sign * l.amount as amount_txn,
        h.currency, h.exchange_rate, l.class_id, l.department_id, h.customer_id, null::text as vendor_id,
        l.description, false as is_control
    from sales_headers as h
    inner join sales_lines as l
        on l.realm_id = h.realm_id and l.transaction_type = h.transaction_type and l.transaction_id = h.transaction_id
    left join items as i on i.realm_id = l.realm_id and i.item_id = l.item_id
    where l.detail_type = 'SalesItemLineDetail' and l.amount <> 0
    union all
    -- A discount line debits the discount account (credits it on a credit memo or refund).
    select
        h.realm_id, h.transaction_type, h.transaction_id, h.transaction_date, h.doc_number,
        l.line_index, l.line_index, 'discount',
        l.account_id,
        h.sign * l.amount,
        h.currency, h.exchange_rate, l.class_id, l.department_id, h.customer_id, null,
        l.description, false
    from sales_headers as h
    inner join sales_lines as l
        on l.realm_id = h.realm_id and l.transaction_type = h.transaction_type and l.transaction_id = h.transaction_id
    where l.detail_type = 'DiscountLineDetail' and l.amount <> 0
    union all
    -- The sales tax charged credits the sales tax payable account.
    select
        h.realm_id, h.transaction_type, h.transaction_id, h.transaction_date, h.doc_number,
        'tax', null, 'sales_tax',
        {{ default_account('sales_tax_payable', 'h.realm_id', 'h.currency') }},
        -h.sign * h.total_tax,
        h.currency, h.exchange_rate, h.class_id, h.department_id, h.customer_id, null,
        null, false
    from sales_headers as h
    where h.total_tax <> 0
    union all
    -- A deposit taken on an invoice debits the account it went to (and A/R gets the rest).
    select
        h.realm_id, h.transaction_type, h.transaction_id, h.transaction_date, h.doc_number,
        'deposit', null, 'deposit_to',
        h.deposit_account_id,
        h.deposit_amount,
        h.currency, h.exchange_rate, h.class_id, h.department_id, h.customer_id, null,
        null, false
    from sales_headers as h
    where h.deposit_amount <> 0
    union all
    -- A/R (invoice, credit memo) or the deposit account (sales receipt, refund receipt) balances it.
    select
        h.realm_id, h.transaction_type, h.transaction_id, h.transaction_date, h.doc_number,
        'control', null, h.control_role,
        h.control_account_id,
        h.sign * h.total_amount,
        h.currency, h.exchange_rate, h.class_id, h.department_id, h.customer_id, null,
        null, true
    from sales_headers as h
),

-- A payment debits the deposit account (Undeposited Funds when none is named) and credits A/R.
payment_postings as (
    select
        p.realm_id, 'Payment' as transaction_type, p.payment_id as transaction_id, p.transaction_date, p.doc_number,
        'deposit' as posting_index, null as line_index, 'deposit_to' as posting_role,
        coalesce(p.deposit_to_account_id, {{ default_account('undeposited_funds', 'p.realm_id', 'p.currency') }}) as account_id,
        p.total_amount as amount_txn,
        p.currency, p.exchange_rate, p.class_id, p.department_id, p.customer_id, null::text as vendor_id,
        null as description, false as is_control
    from {{ ref('stg_qbo__payments') }} as p
    where p.total_amount <> 0
    union all
    select
        p.realm_id, 'Payment', p.payment_id, p.transaction_date, p.doc_number,
        'control', null, 'accounts_receivable',
        coalesce(p.ar_account_id, {{ default_account('accounts_receivable', 'p.realm_id', 'p.currency') }}),
        -p.total_amount,
        p.currency, p.exchange_rate, p.class_id, p.department_id, p.customer_id, null,
        null, true
    from {{ ref('stg_qbo__payments') }} as p
    where p.total_amount <> 0
),

-- Expense forms: bill (+1), vendor credit (-1), purchase (+1, or -1 for a credit card credit).
expense_headers as (
    select realm_id, 'Bill' as transaction_type, bill_id as transaction_id, 1 as sign, transaction_date, doc_number,
        currency, exchange_rate, class_id, department_id, null::text as customer_id, vendor_id, total_amount,
        coalesce(ap_account_id, {{ default_account('accounts_payable', 's.realm_id', 's.currency') }}) as control_account_id,
        'accounts_payable' as control_role
    from {{ ref('stg_qbo__bills') }} as s
    union all
    select realm_id, 'VendorCredit', vendor_credit_id, -1, transaction_date, doc_number,
        currency, exchange_rate, class_id, department_id, null, vendor_id, total_amount,
        coalesce(ap_account_id, {{ default_account('accounts_payable', 's.realm_id', 's.currency') }}),
        'accounts_payable'
    from {{ ref('stg_qbo__vendor_credits') }} as s
    union all
    select realm_id, 'Purchase', purchase_id, case when is_credit then -1 else 1 end, transaction_date, doc_number,
        currency, exchange_rate, class_id, department_id,
        case when entity_type = 'Customer' then entity_id end,
        case when entity_type = 'Vendor' then entity_id end,
        total_amount, payment_account_id, 'payment_account'
    from {{ ref('stg_qbo__purchases') }} as s
),

expense_lines as (
    select * from {{ ref('int_qbo__bill_lines') }}
    union all
    select * from {{ ref('int_qbo__vendor_credit_lines') }}
    union all
    select * from {{ ref('int_qbo__purchase_lines') }}
),

expense_postings as (
    -- An account line debits its account; an item line debits the item's inventory asset account
    -- (items that track quantity) or its expense account. Reversed on credits.
    select
        h.realm_id, h.transaction_type, h.transaction_id, h.transaction_date, h.doc_number,
        l.line_index as posting_index, l.line_index, 'expense' as posting_role,
        case
            when l.detail_type = 'AccountBasedExpenseLineDetail' then l.account_id
            when i.tracks_quantity_on_hand then coalesce(i.asset_account_id, i.expense_account_id)
            else i.expense_account_id
        end as account_id,
        h.sign * l.amount as amount_txn,
        h.currency, h.exchange_rate, l.class_id, l.department_id,
        coalesce(l.line_customer_id, h.customer_id) as customer_id, h.vendor_id,
        l.description, false as is_control
    from expense_headers as h
    inner join expense_lines as l
        on l.realm_id = h.realm_id and l.transaction_type = h.transaction_type and l.transaction_id = h.transaction_id
    left join items as i on i.realm_id = l.realm_id and i.item_id = l.item_id
    where l.detail_type in ('AccountBasedExpenseLineDetail', 'ItemBasedExpenseLineDetail') and l.amount <> 0
    union all
    select
        h.realm_id, h.transaction_type, h.transaction_id, h.transaction_date, h.doc_number,
        'control', null, h.control_role,
        h.control_account_id,
        -h.sign * h.total_amount,
        h.currency, h.exchange_rate, h.class_id, h.department_id, h.customer_id, h.vendor_id,
        null, true
    from expense_headers as h
),

-- A bill payment debits A/P and credits the bank or credit card account it was paid from.
bill_payment_postings as (
    select
        b.realm_id, 'BillPayment' as transaction_type, b.bill_payment_id as transaction_id, b.transaction_date, b.doc_number,
        'payable' as posting_index, null as line_index, 'accounts_payable' as posting_role,
        coalesce(b.ap_account_id, {{ default_account('accounts_payable', 'b.realm_id', 'b.currency') }}) as account_id,
        b.total_amount as amount_txn,
        b.currency, b.exchange_rate, b.class_id, b.department_id, null::text as customer_id, b.vendor_id,
        null as description, false as is_control
    from {{ ref('stg_qbo__bill_payments') }} as b
    where b.total_amount <> 0
    union all
    select
        b.realm_id, 'BillPayment', b.bill_payment_id, b.transaction_date, b.doc_number,
        'control', null, 'payment_account',
        b.payment_account_id,
        -b.total_amount,
        b.currency, b.exchange_rate, b.class_id, b.department_id, null, b.vendor_id,
        null, true
    from {{ ref('stg_qbo__bill_payments') }} as b
    where b.total_amount <> 0
),

-- A deposit credits each line's account (a line that deposits a payment or sales receipt credits
-- Undeposited Funds), debits the cash-back account, and debits the account deposited to.
deposit_postings as (
    select
        d.realm_id, 'Deposit' as transaction_type, d.deposit_id as transaction_id, d.transaction_date, d.doc_number,
        l.line_index as posting_index, l.line_index, 'deposit_line' as posting_role,
        coalesce(l.account_id, {{ default_account('undeposited_funds', 'd.realm_id', 'd.currency') }}) as account_id,
        -l.amount as amount_txn,
        d.currency, d.exchange_rate, l.class_id, l.department_id,
        case when l.entity_type = 'Customer' then l.entity_id when l.linked_transaction_type in ('Payment', 'SalesReceipt') then null end as customer_id,
        case when l.entity_type = 'Vendor' then l.entity_id end as vendor_id,
        l.description, false as is_control
    from {{ ref('stg_qbo__deposits') }} as d
    inner join {{ ref('int_qbo__deposit_lines') }} as l
        on l.realm_id = d.realm_id and l.transaction_id = d.deposit_id
    where l.amount <> 0
    union all
    select
        d.realm_id, 'Deposit', d.deposit_id, d.transaction_date, d.doc_number,
        'cash_back', null, 'cash_back',
        d.cash_back_account_id,
        d.cash_back_amount,
        d.currency, d.exchange_rate, d.class_id, d.department_id, null, null,
        null, false
    from {{ ref('stg_qbo__deposits') }} as d
    where d.cash_back_amount <> 0
    union all
    select
        d.realm_id, 'Deposit', d.deposit_id, d.transaction_date, d.doc_number,
        'control', null, 'deposit_to',
        d.deposit_to_account_id,
        d.total_amount,
        d.currency, d.exchange_rate, d.class_id, d.department_id, null, null,
        null, true
    from {{ ref('stg_qbo__deposits') }} as d
),

-- A transfer debits the account transferred to and credits the one transferred from.
transfer_postings as (
    select
        t.realm_id, 'Transfer' as transaction_type, t.transfer_id as transaction_id, t.transaction_date, t.doc_number,
        'to' as posting_index, null as line_index, 'transfer_to' as posting_role,
        t.to_account_id as account_id,
        t.amount as amount_txn,
        t.currency, t.exchange_rate, t.class_id, t.department_id, null::text as customer_id, null::text as vendor_id,
        null as description, false as is_control
    from {{ ref('stg_qbo__transfers') }} as t
    where t.amount <> 0
    union all
    select
        t.realm_id, 'Transfer', t.transfer_id, t.transaction_date, t.doc_number,
        'control', null, 'transfer_from',
        t.from_account_id,
        -t.amount,
        t.currency, t.exchange_rate, t.class_id, t.department_id, null, null,
        null, true
    from {{ ref('stg_qbo__transfers') }} as t
    where t.amount <> 0
),

-- A journal entry line debits or credits its account, as its PostingType says.
journal_postings as (
    select
        j.realm_id, 'JournalEntry' as transaction_type, j.journal_entry_id as transaction_id, j.transaction_date, j.doc_number,
        l.line_index as posting_index, l.line_index, 'journal' as posting_role,
        l.account_id,
        case l.posting_type when 'Debit' then l.amount when 'Credit' then -l.amount end as amount_txn,
        j.currency, j.exchange_rate, l.class_id, l.department_id,
        case when l.entity_type = 'Customer' then l.entity_id end as customer_id,
        case when l.entity_type = 'Vendor' then l.entity_id end as vendor_id,
        l.description, false as is_control
    from {{ ref('stg_qbo__journal_entries') }} as j
    inner join {{ ref('int_qbo__journal_entry_lines') }} as l
        on l.realm_id = j.realm_id and l.transaction_id = j.journal_entry_id
    where l.detail_type = 'JournalEntryLineDetail' and l.amount <> 0
),

all_postings as (
    select * from sales_postings
    union all
    select * from payment_postings
    union all
    select * from expense_postings
    union all
    select * from bill_payment_postings
    union all
    select * from deposit_postings
    union all
    select * from transfer_postings
    union all
    select * from journal_postings
)

-- posting_seq orders the postings of a transaction as QuickBooks lists them: the lines in their
-- order (a group's components inside it), then tax and other header postings, the control last.
select
    *,
    case
        when line_index is not null then string_to_array(line_index, '.')::integer[]
        when is_control then array[2000000]
        else array[1000000]
    end as posting_seq
from all_postings
