"""``python -m qbo_warehouse``."""

from qbo_warehouse.cli import main

raise SystemExit(main())
