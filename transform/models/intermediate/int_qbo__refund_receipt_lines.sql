-- One row per line of every RefundReceipt (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('refund_receipts', 'refund_receipt', 'RefundReceipt') }}
