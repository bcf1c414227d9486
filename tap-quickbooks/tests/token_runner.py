"""One runner of the shared-store test: `python token_runner.py CONFIG_JSON`.

Does `runs` runs, each as a fresh run would (a new authenticator: refresh, then one API
call with the access token), and prints a JSON summary. Runs in its own process and
working directory; the token store is the Postgres one (`token_store_url`) or, for the
control, a file in that directory.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import requests

from tap_quickbooks.auth import RealmAuthenticator, open_store
from tap_quickbooks.errors import AuthError


def main() -> None:
    config = json.loads(sys.argv[1])
    store = open_store(Path("tokens.json"), config.get("token_store_url"))
    rng = random.Random(config["seed"])
    session = requests.Session()
    summary = {"ok": 0, "invalid_grant": 0, "errors": []}
    for _ in range(config["runs"]):
        auth = RealmAuthenticator(
            client_id=config["client_id"],
            client_secret=config["client_secret"],
            realm_id=config["realm_id"],
            refresh_token=config["refresh_token"],
            auth_url=config["auth_url"],
            store=store,
            session=session,
            timeout=10,
            max_retries=0,
            user_agent="token-runner",
        )
        try:
            access, _ = auth.token()
        except AuthError as exc:
            key = "invalid_grant" if "invalid_grant" in str(exc) else "errors"
            if key == "errors":
                summary["errors"].append(str(exc))
            else:
                summary["invalid_grant"] += 1
            continue
        realm = config["realm_id"]
        answer = session.get(
            f"{config['api_url']}/v3/company/{realm}/companyinfo/{realm}",
            headers={"Authorization": f"Bearer {access}", "Accept": "application/json"},
            timeout=10,
        )
        if answer.status_code == 200:
            summary["ok"] += 1
        else:
            summary["errors"].append(f"HTTP {answer.status_code}")
        time.sleep(rng.uniform(0, 0.02))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
