"""Run singer-io's tap-quickbooks 2.5.0 against another QuickBooks Online API host.

The tap hard-codes Intuit's hosts in module constants of ``tap_quickbooks.client``; this
wrapper replaces them before calling ``tap_quickbooks.main()``, so the installed package is
used unchanged. Arguments are the tap's own (``--config``, ``--catalog``, ``--state``,
``--discover``). Environment:

- ``QBO_PEER_API_URL``   API base, e.g. ``http://127.0.0.1:43211`` (required)
- ``QBO_PEER_TOKEN_URL`` token endpoint (default: API base + ``/oauth2/v1/tokens/bearer``)

``OAUTHLIB_INSECURE_TRANSPORT=1`` is set because requests-oauthlib refuses plain HTTP.
The tap refreshes its token on start and writes the rotated refresh token back into the
file given as ``--config``.
"""

from __future__ import annotations

import importlib
import os
import sys


def main() -> None:
    api_url = os.environ.get("QBO_PEER_API_URL", "").rstrip("/")
    if not api_url:
        sys.exit("run_singer_io: QBO_PEER_API_URL is not set")
    token_url = os.environ.get("QBO_PEER_TOKEN_URL") or api_url + "/oauth2/v1/tokens/bearer"
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

    # Imported by name: this is singer-io's package from the peer venv, not the project's tap.
    tap = importlib.import_module("tap_quickbooks")
    client = importlib.import_module("tap_quickbooks.client")
    hosts = {
        "PROD_ENDPOINT_BASE": api_url,
        "SANDBOX_ENDPOINT_BASE": api_url,
        "TOKEN_REFRESH_URL": token_url,
    }
    for constant, value in hosts.items():
        setattr(client, constant, value)
    tap.main()


if __name__ == "__main__":
    main()
