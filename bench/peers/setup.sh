#!/usr/bin/env bash
# Set up the two peer taps, each in its own virtualenv beside this script:
#   singer-io/  singer-io's tap-quickbooks==2.5.0   (singer-io-requirements.txt)
#   airbyte/    Airbyte's airbyte-source-quickbooks==4.0.4 (airbyte-requirements.txt)
# Both pin old dependencies, so they never share an environment with the project.
# Idempotent: a venv whose installed pins match its requirements file is left alone.
# PEER_PYTHON picks the interpreter (default python3.11; Airbyte's package requires < 3.12).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PEER_PYTHON:-python3.11}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup.sh: $python not found (set PEER_PYTHON to a Python 3.11 interpreter)" >&2
    exit 2
fi

setup_peer() {
    local name="$1" requirements="$2" probe="$3"
    local venv="$here/$name"
    local stamp="$venv/.requirements"
    if [[ -x "$venv/bin/python" ]] && cmp -s "$requirements" "$stamp" \
        && "$venv/bin/python" -c "$probe" >/dev/null 2>&1; then
        echo "peer $name: up to date ($venv)"
        return
    fi
    echo "peer $name: creating $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    "$venv/bin/python" -c "$probe"
    cp "$requirements" "$stamp"
    echo "peer $name: ready"
}

setup_peer singer-io "$here/singer-io-requirements.txt" \
    "import tap_quickbooks.client, requests_oauthlib"
setup_peer airbyte "$here/airbyte-requirements.txt" \
    "import source_quickbooks, airbyte_cdk.entrypoint"
