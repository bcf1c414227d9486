"""A faster sink for MeltanoLabs target-postgres 0.8.1."""

from target_postgres_fast.sinks import FastPostgresSink
from target_postgres_fast.target import TargetPostgresFast

__all__ = ["FastPostgresSink", "TargetPostgresFast"]
