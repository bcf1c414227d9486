-- One row per line of every VendorCredit (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('vendor_credits', 'vendor_credit', 'VendorCredit') }}
