"""The SDK's standard tap tests, against the emulator on loopback."""

from __future__ import annotations

import atexit
import tempfile
from pathlib import Path

from qbo_emulator.testing import EmulatorServer
from singer_sdk.testing import get_tap_test_class

from tap_quickbooks.tap import TapQuickBooks
from tests.conftest import tap_config

# The standard test class needs its config when the module is collected, so this small
# company is started at import and stopped when the test session ends.
_EMULATOR = EmulatorServer(seed=3, customers=30, items=12, invoices=120).start()
atexit.register(_EMULATOR.stop)
_STORE = Path(tempfile.mkdtemp(prefix="tap-qbo-core-"))

# Every stream is selected below: the reports cover the last half year only, so the report
# throttle (200 a minute) does not set the pace of the standard tests.
_CONFIG = tap_config(_EMULATOR, _STORE, page_size=25, report_start_date="2025-07-01")
# Report streams are read only when selected: select every stream, so each one is tested.
_CATALOG = TapQuickBooks(config=_CONFIG).catalog_dict
for _entry in _CATALOG["streams"]:
    for _meta in _entry["metadata"]:
        if not _meta["breadcrumb"]:
            _meta["metadata"]["selected"] = True

TestTapQuickBooks = get_tap_test_class(
    tap_class=TapQuickBooks,
    config=_CONFIG,
    catalog=_CATALOG,
)
