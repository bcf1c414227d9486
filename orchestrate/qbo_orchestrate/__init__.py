"""Dagster orchestration of the QuickBooks pipeline: one partition per connected company."""
