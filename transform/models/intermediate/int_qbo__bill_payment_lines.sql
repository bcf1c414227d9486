-- One row per bill or vendor credit a bill payment applies to. Key: (realm_id, transaction_id, line_index).
{{ linked_lines('bill_payments', 'bill_payment', 'BillPayment') }}
