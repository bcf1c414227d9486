-- Accounts receivable aging per customer as of every month end (AgedReceivables' columns:
-- current, 1-30, 31-60, 61-90 and 91+ days past due), in the home currency. Rules: macros/aging.sql.
-- Key: (realm_id, as_of_date, customer_id); customer_id 'none' collects A/R postings without a customer.
{{ aging(
    'Accounts Receivable',
    'customer_id',
    'int_qbo__payment_lines',
    "select realm_id, 'Invoice' as transaction_type, invoice_id as transaction_id, due_date from " ~ ref('stg_qbo__invoices'),
    1
) }}
