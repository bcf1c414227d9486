-- Accounts payable aging per vendor as of every month end (AgedPayables' columns: current, 1-30,
-- 31-60, 61-90 and 91+ days past due), in the home currency, amounts owed positive. Rules:
-- macros/aging.sql. Key: (realm_id, as_of_date, vendor_id); vendor_id 'none' collects A/P
-- postings without a vendor.
{{ aging(
    'Accounts Payable',
    'vendor_id',
    'int_qbo__bill_payment_lines',
    "select realm_id, 'Bill' as transaction_type, bill_id as transaction_id, due_date from " ~ ref('stg_qbo__bills'),
    -1
) }}
