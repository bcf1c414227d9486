import json
import subprocess
import sys

import pytest

from tap_quickbooks.errors import SettingError
from tap_quickbooks.settings import load_settings
from tap_quickbooks.tap import TapQuickBooks

SECRET = "very-secret-client-secret"
TOKEN = "very-secret-refresh-token"


def good_config(tmp_path, **overrides):
    config = {
        "client_id": "client",
        "client_secret": SECRET,
        "refresh_token": TOKEN,
        "realm_id": "9341450000000001",
        "start_date": "2022-01-01",
        "api_url": "http://127.0.0.1:9",
        "auth_url": "http://127.0.0.1:9/oauth2/v1/tokens/bearer",
        "token_store_path": str(tmp_path / "tokens.json"),
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


BAD = [
    ("client_id", {"client_id": None}),
    ("client_secret", {"client_secret": ""}),
    ("client_secret", {"client_secret": "   "}),
    ("refresh_token", {"refresh_token": " "}),
    ("realm_id", {"realm_id": None}),
    ("realm_id", {"realm_id": "93414'50"}),
    ("realm_id", {"realm_id": "9341 450"}),
    ("realm_id", {"realm_id": "abc"}),
    ("realm_id", {"realm_id": "1' OR '1'='1"}),
    ("refresh_token", {"realm_id": "1,2,3", "refresh_token": "a,b"}),
    ("start_date", {"start_date": None}),
    ("start_date", {"start_date": "2022-13-45"}),
    ("start_date", {"start_date": "yesterday"}),
    ("start_date", {"start_date": "2999-01-01"}),
    ("end_date", {"end_date": "2021-01-01"}),
    ("end_date", {"end_date": "2022-01-01"}),
    ("end_date", {"end_date": "not a date"}),
    ("page_size", {"page_size": 0}),
    ("page_size", {"page_size": 5000}),
    ("window_days", {"window_days": 0}),
    ("environment", {"environment": "staging"}),
    ("max_concurrent_requests", {"max_concurrent_requests": 11}),
    ("api_url", {"api_url": "ftp://example"}),
    ("auth_url", {"auth_url": "not a url"}),
    ("request_timeout", {"request_timeout": 0}),
    ("max_retries", {"max_retries": -1}),
]


@pytest.mark.parametrize(("setting", "overrides"), BAD)
def test_bad_setting_names_the_setting(tmp_path, setting, overrides):
    with pytest.raises(SettingError) as info:
        TapQuickBooks(config=good_config(tmp_path, **overrides))
    assert info.value.setting == setting
    message = str(info.value)
    assert "\n" not in message
    assert SECRET not in message
    assert TOKEN not in message
    assert not (tmp_path / "tokens.json").exists()


def test_good_settings_and_defaults(tmp_path):
    tap = TapQuickBooks(config=good_config(tmp_path, realm_id="1, 2", refresh_token="a,b"))
    settings = tap.settings
    assert settings.realm_ids == ("1", "2")
    assert settings.refresh_tokens == {"1": "a", "2": "b"}
    assert settings.page_size == 1000
    assert settings.minor_version == 75
    assert settings.max_concurrent_requests == 10
    assert settings.max_requests_per_minute == 450
    assert settings.include_deletes is True
    assert SECRET not in repr(settings)


def test_realm_list_is_accepted(tmp_path):
    tap = TapQuickBooks(config=good_config(tmp_path, realm_id=["11", "22"]))
    assert tap.settings.realm_ids == ("11", "22")


def test_environment_picks_intuit_urls(tmp_path):
    config = good_config(tmp_path, environment="sandbox")
    del config["api_url"], config["auth_url"]
    settings = TapQuickBooks(config=config).settings
    assert settings.api_url == "https://sandbox-quickbooks.api.intuit.com"
    assert settings.auth_url == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"page_size": 5000}, "page_size"),
        ({"realm_id": "12 34"}, "realm_id"),
        ({"minor_version": 74}, "minor_version"),
    ],
)
def test_cli_prints_one_line_and_exits_non_zero(tmp_path, overrides, setting):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(good_config(tmp_path, **overrides)))
    proc = subprocess.run(
        [sys.executable, "-m", "tap_quickbooks.cli", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(lines) == 1, proc.stderr
    assert setting in lines[0]
    assert "Traceback" not in proc.stderr
    assert SECRET not in proc.stderr
    assert TOKEN not in proc.stderr


def test_a_non_numeric_environment_variable_is_a_one_line_setting_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(good_config(tmp_path)))
    proc = subprocess.run(
        [sys.executable, "-m", "tap_quickbooks.cli", "--config", str(path), "--config", "ENV"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TAP_QUICKBOOKS_PAGE_SIZE": "abc"},
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert lines == [
        "tap-quickbooks: error: setting 'page_size': must be an integer; "
        "environment variable TAP_QUICKBOOKS_PAGE_SIZE is 'abc'"
    ], proc.stderr
    assert "Traceback" not in proc.stderr
    assert SECRET not in proc.stderr


@pytest.mark.parametrize("value", [1, 65, 74, "70"])
def test_minor_version_below_75_is_rejected_naming_the_setting(tmp_path, value):
    with pytest.raises(SettingError) as caught:
        load_settings(good_config(tmp_path, minor_version=value))
    message = str(caught.value)
    assert message.startswith("setting 'minor_version': must be 75 or more")
    assert "\n" not in message
    assert load_settings(good_config(tmp_path, minor_version=75)).minor_version == 75


def test_without_a_refresh_token_the_store_supplies_it(tmp_path):
    """A company connected with `tap-quickbooks authorize` needs no refresh_token setting."""
    config = good_config(tmp_path, realm_id="1,2")
    config.pop("refresh_token")
    assert TapQuickBooks(config=config).settings.refresh_tokens == {"1": "", "2": ""}
