-- One row per line of every PurchaseOrder (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('purchase_orders', 'purchase_order', 'PurchaseOrder') }}
