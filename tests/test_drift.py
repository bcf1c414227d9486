"""The drift test: every list of streams in the project agrees with the tap's `STREAM_TYPES`.

The tap's stream list is the one source. `meltano.yml` must select every stream and name its
table `qb_<stream>` (checked with Meltano's own select rules and the SDK's own stream maps);
README.md's table of streams must be the generated one; every `qb_*` table a document, the
project file or `.env.example` names must be a stream's; and the warehouse, the demo, the
pipeline tests and the bench must cover exactly the tap's streams. No run is needed.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _pipeline
import conftest as pipeline_conftest
import pytest
import yaml
from meltano.core.plugin.singer.catalog import (
    ListSelectedExecutor,
    MetadataExecutor,
    select_metadata_rules,
)
from qbo_warehouse import reconcile, summary
from qbo_warehouse.streams import ENTITY_KINDS, KINDS, STREAMS, TABLES
from singer_sdk.mapper import PluginMapper
from tap_quickbooks.streams import STREAM_TYPES
from tap_quickbooks.tap import TapQuickBooks

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
NAMES = [s.name for s in STREAMS]
# Files whose `qb_*` names must all be tables of the tap's streams.
DOCUMENTS = ("README.md", "meltano.yml", ".env.example", "docker-compose.yml")
TABLE_NAME = re.compile(r"\bqb_([a-z0-9_]+)\b")


def _load_script(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tap_plugin() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    found: dict[str, Any] = next(
        p for p in project["plugins"]["extractors"] if p["name"] == "tap-quickbooks"
    )
    return found


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    """The tap's discovered catalog (no credentials needed to build it)."""
    tap = TapQuickBooks(config={}, validate_config=False, setup_mapper=False)
    data: dict[str, Any] = tap.catalog_dict
    return data


def test_the_stream_list_keeps_its_contract() -> None:
    assert len(STREAM_TYPES) == len(STREAMS) >= 3
    assert len(set(NAMES)) == len(NAMES), "two streams share a name"
    for stream in STREAMS:
        assert re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*", stream.name), stream.name
        assert len(stream.table) <= 63, f"{stream.table}: longer than a Postgres identifier"
        assert stream.kind in KINDS, stream
        if stream.kind in ENTITY_KINDS:
            assert re.fullmatch(r"[A-Z][A-Za-z]+", stream.entity), stream
            assert stream.key == ("realm_id", "id"), stream
        if stream.tombstones:
            assert stream.kind == "transaction", stream


def test_meltano_selects_every_stream_of_the_tap(tap_plugin, catalog) -> None:
    # As Meltano applies `select` (singer/tap.py): deselect everything, then the rules.
    rules = select_metadata_rules(["!*.*"]) + select_metadata_rules(tap_plugin["select"])
    MetadataExecutor(rules).visit(catalog)  # type: ignore[attr-defined]  # added by a decorator
    listed = ListSelectedExecutor()
    listed.visit(catalog)  # type: ignore[attr-defined]
    selected = {node.key for node in listed.streams if node.selection}
    assert sorted(s["tap_stream_id"] for s in catalog["streams"]) == sorted(NAMES)
    assert sorted(selected) == sorted(NAMES), "meltano.yml's select leaves streams out"
    for stream in NAMES:
        assert "payload" in listed.selected_properties[stream], stream


def test_meltano_stream_maps_name_every_table_qb_stream(tap_plugin, catalog) -> None:
    maps = tap_plugin["config"]["stream_maps"]
    mapper = PluginMapper(plugin_config={"stream_maps": maps}, logger=logging.getLogger("test"))
    for entry in catalog["streams"]:
        mapper.register_raw_stream_schema(
            entry["tap_stream_id"], entry["schema"], entry["key_properties"]
        )
    for stream in STREAMS:
        aliases = [m.stream_alias for m in mapper.stream_maps[stream.name]]
        assert aliases == [stream.table], (stream.name, aliases)


def test_readme_table_of_streams_is_the_generated_one() -> None:
    script = _load_script(ROOT / "scripts" / "readme-streams.py", "readme_streams")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.render(text) == text, (
        "README.md's table of streams is out of date: run "
        "`.venv/bin/python scripts/readme-streams.py`"
    )
    for table in TABLES:
        assert f"`raw.{table}`" in text, table


def test_every_table_a_document_names_is_a_stream_table() -> None:
    files = [ROOT / name for name in DOCUMENTS]
    files += sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "warehouse").glob("*.md"))
    known = {t.removeprefix("qb_") for t in TABLES}
    unknown: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        # `qb_<name>` as a pattern, and `qb_*`, are not table names.
        found = {m for m in TABLE_NAME.findall(text) if m not in {"name", "stream"}} - known
        if found:
            unknown[str(path.relative_to(ROOT))] = found
    assert not unknown, f"tables that are no stream's: {unknown}"


def test_warehouse_covers_every_stream() -> None:
    assert [s.name for s in reconcile.RECONCILED] == [s.name for s in STREAMS if s.is_entity]
    default = summary.summarize.__defaults__
    assert default is not None
    assert [s.table for s in default[-1]] == list(TABLES)


def test_the_demo_and_the_pipeline_tests_cover_every_stream() -> None:
    demo = _load_script(ROOT / "scripts" / "demo.py", "qbo_demo")
    entities = {s.entity: s.table for s in STREAMS if s.is_entity}
    assert entities == demo.TABLE_OF_ENTITY
    assert entities == pipeline_conftest.TABLES
    assert {s.entity: s.name for s in STREAMS if s.is_entity} == pipeline_conftest.STREAMS
    assert {s.name: s.entity for s in STREAMS if s.is_entity} == _pipeline.STREAMS
    assert {s.name: s.table for s in STREAMS if s.is_entity} == _pipeline.TABLES


def test_bench_reads_every_stream_into_its_table() -> None:
    bench = _load_script(ROOT / "bench" / "run.py", "qbo_bench_run")
    assert {s.name: s.entity for s in STREAMS if s.is_entity} == bench.STREAM_ENTITY
    assert {s.entity: s.table for s in STREAMS if s.is_entity} == bench.TABLES
    assert {s.name: {"__alias__": s.table} for s in STREAMS} == bench.STREAM_MAPS


def test_the_dbt_sources_are_the_stream_tables() -> None:
    path = ROOT / "transform" / "models" / "staging" / "_qbo__sources.yml"
    if not path.exists():
        pytest.skip("no dbt project in this checkout")
    sources = yaml.safe_load(path.read_text())["sources"]
    qbo = next(s for s in sources if s["name"] == "qbo")
    tables = {t["name"] for t in qbo["tables"]}
    entity_tables = {s.table for s in STREAMS if s.is_entity}
    assert entity_tables <= tables, sorted(entity_tables - tables)
    # Other sources (report lines) come from report streams, never from a stream that is gone.
    stray = {t for t in tables - entity_tables if not t.startswith("qb_report_")}
    assert not stray, sorted(stray)
