"""The stream-list contract, the generated README tables, settings from one declaration, and
every private singer-sdk name the tap touches (pure: no server)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
import singer_sdk

from tap_quickbooks import docs, sdk_internals, settings
from tap_quickbooks.client import QuickBooksStream
from tap_quickbooks.errors import SettingError
from tap_quickbooks.streams import STREAM_TYPES
from tap_quickbooks.tap import TapQuickBooks

PACKAGE = Path(__file__).resolve().parents[1]


def _name(stream: type[QuickBooksStream]) -> str:
    return str(getattr(stream, "name"))  # noqa: B009 - the SDK types `name` per instance


def test_every_stream_declares_the_contract():
    names = [_name(s) for s in STREAM_TYPES]
    assert len(set(names)) == len(names) == 33
    assert len({s.entity for s in STREAM_TYPES}) == 33
    for stream in STREAM_TYPES:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", _name(stream)), stream
        assert stream.kind in ("name_list", "transaction", "singleton")
        assert isinstance(stream.cdc, bool)
        assert isinstance(stream.tombstones, bool)
        assert stream.primary_keys == ["realm_id", "id"]
    kinds = [s.kind for s in STREAM_TYPES]
    assert (kinds.count("name_list"), kinds.count("transaction"), kinds.count("singleton")) == (
        14,
        17,
        2,
    )


def test_cdc_is_never_asked_for_what_it_does_not_serve():
    no_cdc = {s.entity for s in STREAM_TYPES if not s.cdc}
    assert no_cdc == {
        "TaxAgency",
        "TaxCode",
        "TaxRate",
        "TimeActivity",
        "CompanyInfo",
        "Preferences",
    }
    for stream in STREAM_TYPES:
        # Tombstones come from CDC: only transactions CDC serves have them.
        assert stream.tombstones == (stream.kind == "transaction" and stream.cdc), stream
        assert (
            stream.include_inactive == (stream.kind == "name_list" and stream.entity != "TaxAgency")
            or stream.entity == "Budget"
        ), stream


def test_class_keywords_set_behaviour_and_reject_unknown_kinds():
    class Notes(QuickBooksStream, kind="transaction", cdc=False):
        entity = "Note"

    assert (Notes.kind, Notes.cdc, Notes.tombstones, Notes.include_inactive) == (
        "transaction",
        False,
        False,
        False,
    )
    with pytest.raises(TypeError, match="kind must be one of"):

        class Bad(QuickBooksStream, kind="report_of_sorts"):
            entity = "Bad"


def test_the_readme_tables_are_generated_from_the_code():
    readme = (PACKAGE / "README.md").read_text()
    assert docs.render(readme) == readme, "run: python -m tap_quickbooks.docs README.md"
    for stream in STREAM_TYPES:
        assert f"| `{_name(stream)}` |" in readme


def test_the_readme_check_fails_when_a_table_is_stale(tmp_path):
    stale = (PACKAGE / "README.md").read_text().replace("| `invoices` |", "| `bills2` |", 1)
    path = tmp_path / "README.md"
    path.write_text(stale)
    assert docs.main([str(path), "--check"]) == 1
    assert docs.main([str(path)]) == 0
    assert docs.main([str(path), "--check"]) == 0


def test_each_setting_is_declared_once():
    schema = TapQuickBooks.config_jsonschema["properties"]
    assert [s.name for s in settings.SPECS] == [n for n in schema if n in settings.SPEC]
    for spec in settings.SPECS:
        prop = schema[spec.name]
        if spec.minimum is not None:
            assert prop["minimum"] == spec.minimum
            assert prop["maximum"] == spec.maximum
        assert prop.get("default") == spec.default
        assert bool(prop.get("secret")) == spec.secret
    fields = set(settings.Settings.__dataclass_fields__)
    assert {s.name for s in settings.SPECS} - fields == {
        "refresh_token",
        "realm_id",
        "environment",
    }  # parsed into refresh_tokens / realm_ids / api_url


def test_bounds_come_from_the_declaration(monkeypatch):
    base = {
        "client_id": "a",
        "client_secret": "b",
        "refresh_token": "c",
        "realm_id": "1",
        "start_date": "2020-01-01",
    }
    with pytest.raises(SettingError, match="from 1 to 1000"):
        settings.load_settings({**base, "page_size": 1001})
    monkeypatch.setitem(
        settings.SPEC,
        "page_size",
        settings.Spec("page_size", "integer", "", 1000, minimum=1, maximum=5),
    )
    with pytest.raises(SettingError, match="from 1 to 5"):
        settings.load_settings({**base, "page_size": 6})


def test_entity_overrides_are_validated_and_applied(tmp_path):
    base = {
        "client_id": "a",
        "client_secret": "b",
        "refresh_token": "c",
        "realm_id": "1",
        "start_date": "2020-01-01",
        "token_store_path": str(tmp_path / "t.json"),
    }
    tap = TapQuickBooks(
        config={**base, "entity_overrides": {"CustomerType": {"include_inactive": False}}}
    )
    assert tap.streams["customer_types"].include_inactive is False
    assert tap.streams["customers"].include_inactive is True
    with pytest.raises(SettingError, match="unknown flag"):
        TapQuickBooks(config={**base, "entity_overrides": {"Customer": {"active": True}}})
    with pytest.raises(SettingError, match="unknown entities"):
        TapQuickBooks(config={**base, "entity_overrides": {"Widget": {"cdc": False}}})


# Every private singer-sdk name the tap uses, named one by one: an SDK upgrade that removes
# or renames one fails here first.
TOUCHED = [
    ("singer_sdk.Stream", "_increment_stream_state"),
    ("singer_sdk.Stream", "_generate_record_messages"),
    ("singer_sdk.Stream", "_write_record_message"),
    ("singer_sdk.Stream", "_write_state_message"),
    ("singer_sdk.Stream", "_stream_version"),
    ("singer_sdk.Stream", "_tap"),
    ("singer_sdk.Stream", "state_manager"),
    ("singer_sdk.Tap", "_env_var_config"),
    ("singer_sdk.Tap", "_env_var_prefix"),
    ("singer_sdk.Tap", "_validate_config"),
    ("singer_sdk.Tap", "_config"),
    ("singer_sdk.helpers._state", "get_state_if_exists"),
    ("singer_sdk.helpers._util", "utc_now"),
    ("singer_sdk.helpers._classproperty", "classproperty"),
    ("singer_sdk.singerlib.encoding.simple", "RecordMessage"),
    ("singer_sdk.singerlib.encoding.simple", "Message"),
    ("singer_sdk.singerlib.json", "serialize_json"),
    ("singer_sdk.io_base", "SingerWriter"),
    ("singer_sdk.Tap", "_get_about_info"),
    ("singer_sdk.about", "MarkdownFormatter"),
    ("singer_sdk.Tap", "_catalog"),
    ("singer_sdk.helpers._state", "StateWriter"),
    ("singer_sdk.Tap", "_state_writer"),
]


def _owner(path: str) -> object:
    if path == "singer_sdk.Stream":
        return singer_sdk.Stream
    if path == "singer_sdk.Tap":
        return singer_sdk.Tap
    return importlib.import_module(path)


def test_the_touch_points_are_listed_in_one_module():
    assert [(owner, name) for owner, name, _ in sdk_internals.TOUCH_POINTS] == TOUCHED


@pytest.mark.parametrize(("owner", "name"), TOUCHED)
def test_each_sdk_touch_point_still_exists(owner, name, tmp_path):
    target = _owner(owner)
    if name in {"_stream_version", "_tap", "state_manager", "_config", "_catalog", "_state_writer"}:
        # Instance attributes: look at a live stream of a configured tap.
        tap = TapQuickBooks(
            config={
                "client_id": "a",
                "client_secret": "b",
                "refresh_token": "c",
                "realm_id": "1",
                "start_date": "2020-01-01",
                "token_store_path": str(tmp_path / "t.json"),
            }
        )
        instance = tap if owner == "singer_sdk.Tap" else tap.streams["invoices"]
        assert hasattr(instance, name)
    elif isinstance(target, type):
        assert any(name in vars(klass) for klass in target.__mro__), name
    else:
        assert hasattr(target, name)


def test_no_other_module_reaches_below_the_sdk_surface():
    private = {name for owner, name in TOUCHED if name.startswith("_")}
    for path in sorted((PACKAGE / "tap_quickbooks").glob("*.py")):
        if path.name == "sdk_internals.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "._" not in node.module, (path.name, node.module)
                assert node.module.split(".")[0] != "singer_sdk" or not any(
                    a.name in {"get_state_if_exists", "utc_now", "classproperty"}
                    for a in node.names
                ), path.name
            if isinstance(node, ast.Attribute) and node.attr in private:
                pytest.fail(f"{path.name} uses {node.attr}; move it to sdk_internals.py")


def test_a_map_over_every_stream_leaves_unselected_streams_alone(tmp_path):
    """meltano.yml's `'*'` alias with a stream deselected (as `'!report_*.*'` does)."""
    config = {
        "client_id": "a",
        "client_secret": "b",
        "refresh_token": "c",
        "realm_id": "1",
        "start_date": "2020-01-01",
        "token_store_path": str(tmp_path / "t.json"),
        "stream_maps": {"*": {"__alias__": "'qb_' + __stream_name__"}},
    }
    catalog = TapQuickBooks(config=config).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] != "items"
    tap = TapQuickBooks(config=config, catalog=catalog)
    assert not tap.streams["items"].selected
    assert tap.streams["invoices"].selected
    aliases = {m.stream_alias for maps in tap.mapper.stream_maps.values() for m in maps}
    assert {"qb_invoices", "qb_items"} <= aliases  # items keeps its map if selected later
