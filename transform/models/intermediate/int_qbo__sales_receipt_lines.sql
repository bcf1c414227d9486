-- One row per line of every SalesReceipt (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('sales_receipts', 'sales_receipt', 'SalesReceipt') }}
