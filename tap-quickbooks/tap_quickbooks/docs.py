"""The README's generated tables: streams (from `STREAM_TYPES`) and settings (from `--about`).

`python -m tap_quickbooks.docs README.md` rewrites the blocks between the markers
`<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; `--check` only reports whether
they are current (a test runs it, so the README cannot go stale).
"""

from __future__ import annotations

import argparse
import re
import sys
import typing as t
from pathlib import Path

from tap_quickbooks.sdk_internals import about_markdown
from tap_quickbooks.streams import STREAM_TYPES

if t.TYPE_CHECKING:
    from tap_quickbooks.client import QuickBooksStream

REFERENCE = "https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/"
KIND_LABEL = {"name_list": "name list", "transaction": "transaction", "singleton": "singleton"}


def delete_behaviour(stream: type[QuickBooksStream]) -> str:
    """What reaches the table when the object is deleted in QuickBooks."""
    if stream.kind == "singleton":
        return "never deleted; read again every run"
    if stream.kind == "name_list":
        return "deactivated, not deleted: the row is updated with `Active: false`"
    if stream.tombstones:
        return "tombstone from CDC (`_sdc_deleted_at` set)"
    return "not reported by QuickBooks: `qbo-warehouse reconcile --mark-deleted`"


def streams_table() -> str:
    """The streams table, one row per stream of `STREAM_TYPES`."""
    lines = [
        "| stream | entity | kind | key | deletes | CDC | inactive rows |",
        "|---|---|---|---|---|---|---|",
    ]
    for stream in STREAM_TYPES:
        name = str(getattr(stream, "name"))  # noqa: B009 - the SDK types `name` per instance
        entity = f"[{stream.entity}]({REFERENCE}{stream.entity.lower()})"
        key = ", ".join(f"`{k}`" for k in stream.primary_keys)
        inactive = "`Active IN (true, false)`" if stream.include_inactive else "-"
        cdc = "yes" if stream.cdc else "no"
        kind = KIND_LABEL[stream.kind]
        lines.append(
            f"| `{name}` | {entity} | {kind} | {key} | {delete_behaviour(stream)} | {cdc} "
            f"| {inactive} |"
        )
    return "\n".join(lines)


def settings_table() -> str:
    """The settings table, as `tap-quickbooks --about --format=markdown` prints it."""
    from tap_quickbooks.tap import TapQuickBooks  # the tap imports the streams this module reads

    markdown = about_markdown(TapQuickBooks)
    found = re.search(r"(\| Setting \|.*?)(?:\n\n|\Z)", markdown, re.S)
    if not found:
        msg = "the --about markdown has no settings table"
        raise RuntimeError(msg)
    return found.group(1).rstrip()


GENERATORS = {"streams": streams_table, "settings": settings_table}


def render(text: str) -> str:
    """`text` with every generated block replaced by its current content."""
    for name, generate in GENERATORS.items():
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n)(.*?)(<!-- /generated:{name} -->)", re.S
        )
        if not pattern.search(text):
            msg = f"no <!-- generated:{name} --> block"
            raise ValueError(msg)
        found = pattern.search(text)
        assert found is not None
        text = text[: found.start(2)] + generate() + "\n" + text[found.end(2) :]
    return text


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, verify) the generated blocks of a README."""
    parser = argparse.ArgumentParser(prog="python -m tap_quickbooks.docs")
    parser.add_argument("readme", type=Path)
    parser.add_argument("--check", action="store_true", help="fail when a block is stale")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    fresh = render(text)
    if args.check:
        if fresh != text:
            print(f"{args.readme}: generated tables are stale; run {parser.prog} {args.readme}")
            return 1
        return 0
    args.readme.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
