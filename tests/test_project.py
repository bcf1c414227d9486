"""The Meltano project's files agree with each other and with the tap: no run needed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRETS = {"client_secret", "refresh_token", "token_store_url"}


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "meltano.yml").read_text())
    return data


def plugin(project: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in project["plugins"][kind] if p["name"] == name)
    return found


def env_config(project: dict[str, Any], env: str, kind: str, name: str) -> dict[str, Any]:
    environment = next(e for e in project["environments"] if e["name"] == env)
    plugins = environment.get("config", {}).get("plugins", {}).get(kind, [])
    return next((p.get("config", {}) for p in plugins if p["name"] == name), {})


def tap_about() -> dict[str, Any]:
    exe = shutil.which("tap-quickbooks", path=str(BIN)) or shutil.which("tap-quickbooks")
    assert exe, "tap-quickbooks is not installed in the test environment"
    cmd = [exe, "--about", "--format=json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def test_tap_is_inline_with_every_setting_of_the_tap(project) -> None:
    tap = plugin(project, "extractors", "tap-quickbooks")
    assert tap["namespace"] == "tap_quickbooks"
    # The postgres extra: the token store in Postgres (token_store_url).
    assert tap["pip_url"] == "-e ./tap-quickbooks[postgres]"
    assert tap["executable"] == "tap-quickbooks"
    declared = {s["name"]: s for s in tap["settings"]}
    about = tap_about()["settings"]["properties"]
    sdk_builtins = {"faker_config"} | {k for k in about if k.startswith("flattening_")}
    assert set(about) - sdk_builtins <= set(declared)
    kinds = {"string": {"string", "date_iso8601", "options"}, "integer": {"integer"}}
    kinds |= {"boolean": {"boolean"}, "object": {"object"}, "number": {"integer", "decimal"}}
    for name, schema in about.items():
        if name in sdk_builtins:
            continue
        json_type = next(t for t in schema["type"] if t != "null")
        assert declared[name]["kind"] in kinds[json_type], name
        assert bool(declared[name].get("sensitive")) == bool(schema.get("secret")), name
    assert {n for n, s in declared.items() if s.get("sensitive")} == SECRETS


def test_tap_keeps_rotated_tokens_under_the_project(project) -> None:
    # Which streams are selected and how their tables are named: tests/test_drift.py.
    tap = plugin(project, "extractors", "tap-quickbooks")
    assert tap["config"]["token_store_path"].startswith("${MELTANO_PROJECT_ROOT}/.meltano/")


def test_loader_is_target_postgres_0_8_1_into_raw(project) -> None:
    target = plugin(project, "loaders", "target-postgres")
    assert target["namespace"] == "target_postgres"
    assert target["pip_url"].split()[0] == "meltanolabs-target-postgres==0.8.1"
    config = target["config"]
    assert config["default_target_schema"] == "raw"
    assert config["add_record_metadata"] is True  # else the tap's _sdc_deleted_at is dropped
    sensitive = {s["name"] for s in target["settings"] if s.get("sensitive")}
    assert {"password", "sqlalchemy_url", "ssl_client_private_key"} <= sensitive


def test_no_secret_is_written_for_dev_or_prod(project) -> None:
    text = (ROOT / "meltano.yml").read_text()
    for env in ("dev", "prod"):
        config = env_config(project, env, "extractors", "tap-quickbooks")
        assert not SECRETS & set(config), env
        assert not {"password", "sqlalchemy_url"} & set(
            env_config(project, env, "loaders", "target-postgres")
        )
    for name in SECRETS:
        assert name not in plugin(project, "extractors", "tap-quickbooks").get("config", {})
    # Only the emulator's public credentials appear, and only in the demo environment.
    assert re.findall(r"client_secret: (\S+)", text) == ["qbo-emulator-secret"]
    demo = env_config(project, "demo", "extractors", "tap-quickbooks")
    assert demo["api_url"].startswith("http://127.0.0.1:")
    assert demo["auth_url"] == demo["api_url"] + "/oauth2/v1/tokens/bearer"
    prod = env_config(project, "prod", "extractors", "tap-quickbooks")
    assert prod["environment"] == "production"


def test_jobs_and_the_one_time_backfill_schedule(project) -> None:
    jobs = {j["name"]: j["tasks"] for j in project["jobs"]}
    assert jobs["incremental"] == ["tap-quickbooks target-postgres"]
    assert jobs["backfill"] == ["tap-quickbooks--backfill target-postgres"]
    backfill = plugin(project, "extractors", "tap-quickbooks--backfill")
    assert backfill["inherit_from"] == "tap-quickbooks"
    assert backfill["config"]["end_date"]
    once = [s for s in project["schedules"] if s["interval"] == "@once"]
    assert [s["job"] for s in once] == ["backfill"]


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def test_env_example_lists_every_setting(project) -> None:
    names = env_example_names()
    for kind, name, prefix in (
        ("extractors", "tap-quickbooks", "TAP_QUICKBOOKS_"),
        ("loaders", "target-postgres", "TARGET_POSTGRES_"),
    ):
        for setting in plugin(project, kind, name)["settings"]:
            assert prefix + setting["name"].upper() in names, setting["name"]
    assert {"QBO_START_DATE", "QBO_BACKFILL_END_DATE", "PG_DSN", "QBO_TEST_PG_DSN"} <= names


def test_env_example_sets_no_value_that_would_override_a_default() -> None:
    # Meltano treats `NAME=` as a value: only the required settings are left uncommented.
    active = re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", (ROOT / ".env.example").read_text(), re.M)
    for name, value in active:
        if name.startswith(("TAP_QUICKBOOKS_", "TARGET_POSTGRES_")):
            assert name.removeprefix("TAP_QUICKBOOKS_") in {
                "CLIENT_ID",
                "CLIENT_SECRET",
                "REFRESH_TOKEN",
                "REALM_ID",
            }, name
            assert value == "", name
