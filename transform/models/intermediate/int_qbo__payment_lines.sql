-- One row per invoice or credit memo a payment applies to. Key: (realm_id, transaction_id, line_index).
{{ linked_lines('payments', 'payment', 'Payment') }}
