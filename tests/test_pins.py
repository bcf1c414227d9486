"""The pins a fresh machine installs are the versions installed here (see README, `plugins/`)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("freeze", ROOT / "scripts" / "freeze_constraints.py")
assert _spec is not None
assert _spec.loader is not None
freeze = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(freeze)


def pins(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[name] = version
    return out


def test_constraints_pin_the_project_pins() -> None:
    venv = pins(ROOT / "constraints.txt")
    plugins = pins(ROOT / "plugins" / "constraints.txt")
    assert venv["meltano"] == "4.4.1"
    assert venv["singer-sdk"] == plugins["singer-sdk"] == "0.54.9"
    assert plugins["meltanolabs-target-postgres"] == "0.8.1"
    utilities = pins(ROOT / "plugins" / "utilities" / "constraints.txt")
    assert utilities["dbt-core"] == "1.11.16"
    assert utilities["dbt-postgres"] == "1.11.0"
    assert not set(venv) & freeze.LOCAL
    assert not set(plugins) & freeze.LOCAL
    assert "jsonschema" in venv
    assert int(venv["jsonschema"].split(".")[0]) >= 4  # never singer-io's 2.6.0 pin


def test_this_environment_is_what_the_constraints_pin() -> None:
    installed = freeze.installed(Path(sys.executable))
    pinned = pins(ROOT / "constraints.txt")
    differ = {n: (v, pinned.get(n)) for n, v in installed.items() if pinned.get(n) != v}
    assert not differ, f"regenerate with scripts/freeze_constraints.py: {differ}"


def test_the_plugin_environments_are_what_the_constraints_pin() -> None:
    for python in sorted((ROOT / ".meltano").glob("*/*/venv/bin/python")):
        pinned = pins(freeze.constraints_of(python))
        installed = freeze.installed(python)
        differ = {n: (v, pinned.get(n)) for n, v in installed.items() if pinned.get(n) != v}
        assert not differ, f"{python}: regenerate with scripts/freeze_constraints.py: {differ}"


def test_make_and_the_image_install_with_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile
    assert "UV_CONSTRAINT=$(abspath plugins/constraints.txt)" in makefile
    script = (ROOT / "scripts" / "install-image").read_text()
    assert "--constraint constraints.txt" in script
    assert "UV_CONSTRAINT=" in script
    assert "UV_CONSTRAINT=$(abspath plugins/utilities/constraints.txt)" in makefile
    out = subprocess.run(
        ["git", "ls-files", "constraints.txt", "plugins/constraints.txt", "plugins/utilities"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == [
        "constraints.txt",
        "plugins/constraints.txt",
        "plugins/utilities/constraints.txt",
    ]
