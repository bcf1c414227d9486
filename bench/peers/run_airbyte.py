"""Run Airbyte's source-quickbooks 4.0.4 against another QuickBooks Online API host.

The connector is a declarative (manifest-only) source whose ``url_base`` and
``token_refresh_endpoint`` name Intuit's hosts. This wrapper loads the installed package's
``manifest.yaml``, replaces those two values in memory (the file on disk is untouched) and
launches the manifest with the Airbyte CDK. Arguments are the connector's own
(``spec``, ``check``, ``discover``, ``read --config C --catalog K [--state S]``). Environment:

- ``QBO_PEER_API_URL``   API base, e.g. ``http://127.0.0.1:43211`` (required)
- ``QBO_PEER_TOKEN_URL`` token endpoint (default: API base + ``/oauth2/v1/tokens/bearer``)

On a token refresh the connector prints the whole updated config (rotated refresh token
included) as an Airbyte CONTROL message on stdout; it does not write the config file.
"""

from __future__ import annotations

import os
import pkgutil
import sys


def main() -> None:
    api_url = os.environ.get("QBO_PEER_API_URL", "").rstrip("/")
    if not api_url:
        sys.exit("run_airbyte: QBO_PEER_API_URL is not set")
    token_url = os.environ.get("QBO_PEER_TOKEN_URL") or api_url + "/oauth2/v1/tokens/bearer"

    import yaml
    from airbyte_cdk.entrypoint import launch
    from airbyte_cdk.sources.declarative.manifest_declarative_source import (
        ManifestDeclarativeSource,
    )

    raw = pkgutil.get_data("source_quickbooks", "manifest.yaml")
    if raw is None:
        sys.exit("run_airbyte: source_quickbooks/manifest.yaml not found")
    manifest = yaml.safe_load(raw.decode())
    requester = manifest["definitions"]["base_requester"]
    requester["url_base"] = api_url
    requester["authenticator"]["token_refresh_endpoint"] = token_url
    launch(ManifestDeclarativeSource(manifest), sys.argv[1:])


if __name__ == "__main__":
    main()
