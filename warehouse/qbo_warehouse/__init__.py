"""Checks on the raw QuickBooks tables loaded into Postgres by the Meltano pipeline.

The tables, one per tap stream, are listed in `qbo_warehouse.streams` (read from the tap).
"""
