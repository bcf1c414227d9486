"""Checks on the raw QuickBooks tables loaded into Postgres by the Meltano pipeline."""

TABLES = ("qb_invoices", "qb_customers", "qb_items")
"""The raw tables, one per tap stream, in the order the tap syncs them."""
