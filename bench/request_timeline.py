"""Run tap-quickbooks with every HTTP request timed, for `realistic_probe.py --timeline`.

    python bench/request_timeline.py OUT.jsonl -- <tap arguments>

Each request the tap sends (token refreshes included) is written to OUT.jsonl as it ends:
`start` and `end` in seconds from the tap's start, the endpoint and what was asked (a
query's entity, COUNT or page; a `/batch` call's statements). :func:`render` prints them
as a timeline with the requests in flight, so that idle slots and serial steps show.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import typing as t
from pathlib import Path

_QUERY = re.compile(
    r"SELECT (?P<what>COUNT\(\*\)|\*) FROM (?P<entity>\w+)(?:.*?STARTPOSITION (?P<start>\d+))?",
    re.IGNORECASE | re.DOTALL,
)


def describe_query(text: str) -> str:
    """`Invoice p3` (the page from position 2001), `Invoice #` (a count), `Preferences *`."""
    found = _QUERY.search(text)
    if not found:
        return text[:40]
    entity = found["entity"]
    if found["what"] != "*":
        return f"{entity} #"
    if found["start"] is None:
        return f"{entity} *"
    return f"{entity} p{(int(found['start']) - 1) // 1000 + 1}"


def describe(method: str, url: str, params: t.Any, data: t.Any) -> str:
    path = url.split("?", 1)[0]
    if path.endswith("/tokens/bearer"):
        return "token refresh"
    endpoint = path.rsplit("/", 1)[-1]
    if endpoint == "query" and isinstance(params, dict):
        return f"query {describe_query(str(params.get('query', '')))}"
    if endpoint == "batch" and data:
        items = json.loads(data).get("BatchItemRequest", [])
        kinds = [describe_query(item.get("Query", "")) for item in items]
        return f"batch[{len(kinds)}] " + ", ".join(kinds)
    if endpoint == "cdc" and isinstance(params, dict):
        return f"cdc {params.get('entities', '')}"
    return f"{method} {endpoint}"


def install(out: Path) -> None:
    """Time every `requests.Session.request` of this process into `out`."""
    import requests

    t0 = time.monotonic()
    lock = threading.Lock()
    sink = out.open("w", buffering=1)
    original = requests.Session.request

    def timed(self: t.Any, method: str, url: str, *args: t.Any, **kwargs: t.Any) -> t.Any:
        start = time.monotonic() - t0
        status = None
        try:
            response = original(self, method, url, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            line = {
                "start": round(start, 3),
                "end": round(time.monotonic() - t0, 3),
                "status": status,
                "what": describe(method, url, kwargs.get("params"), kwargs.get("data")),
            }
            with lock:
                sink.write(json.dumps(line) + "\n")

    requests.Session.request = timed  # type: ignore[method-assign, assignment]


def render(path: Path, slots: int = 10) -> str:
    """The timeline: one line a request, by start, with the requests in flight at its start."""
    events = sorted(
        (json.loads(line) for line in path.read_text().splitlines() if line.strip()),
        key=lambda e: e["start"],
    )
    lines = []
    for event in events:
        busy = sum(1 for e in events if e["start"] <= event["start"] < e["end"])
        lines.append(
            f"{event['start']:7.2f} -> {event['end']:7.2f}  [{busy:2d}/{slots}]  "
            f"{event['status']}  {event['what'][:110]}"
        )
    api = [e for e in events if e["what"] != "token refresh"]
    if api:
        end = max(e["end"] for e in api)
        busy_s = sum(e["end"] - e["start"] for e in api)
        lines.append(
            f"{len(api)} API requests from {min(e['start'] for e in api):.2f} s to {end:.2f} s; "
            f"slots busy {busy_s / (slots * end):.0%} of {slots} x {end:.2f} s"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        sys.exit("usage: python bench/request_timeline.py OUT.jsonl -- <tap arguments>")
    install(Path(sys.argv[1]))
    from tap_quickbooks import cli

    sys.argv = ["tap-quickbooks", *sys.argv[3:]]
    cli.main()


if __name__ == "__main__":
    main()
