"""Run the target: ``python -m target_postgres_fast``."""

from target_postgres_fast.target import TargetPostgresFast

TargetPostgresFast.cli()
