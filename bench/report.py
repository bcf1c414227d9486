"""Write the benchmark results as a Markdown table and a PNG chart (used by bench/run.py).

``python bench/report.py bench/out/full/results.json`` re-renders a saved run.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

SCENARIOS = {
    "1 no latency": "1. Tap alone, no latency (service limits off)",
    "2 realistic": "2. Realistic: 250 ms/request + 1 ms/row, 500 requests/min and 10 in flight",
    "2 flat": "2f. Flat: every request 1 s, 10 in flight (requests are time as well as money)",
    "3 end to end": "3. End to end into Postgres (no latency, limits off)",
    "4 company x10": "4. Tap alone on a company ten times larger (memory)",
}
OURS = "tap-quickbooks (ours)"


def _all_rows(results: Any) -> int:
    """Rows of every entity of the company (the three sized ones when not recorded)."""
    return int(getattr(results, "rows_every_entity", 0) or 0) or _rows(results.company)


def _rows(company: Any) -> int:
    return int(company.invoices + company.customers + company.items)


def _runs(results: Any, scenario: str) -> list[Any]:
    return [run for run in results.runs if run.scenario == scenario]


def _rate(run: Any) -> float:
    return run.rows / run.seconds if run.seconds else 0.0


def _seconds(run: Any) -> str:
    if run.timed_out:
        return f"> {run.timeout_s:.0f} (cap)"
    return f"{run.seconds:,.1f}"


def _rate_cell(run: Any) -> str:
    if run.ok:
        return f"{_rate(run):,.0f}"
    if run.timed_out and run.rows:
        return f"{_rate(run):,.0f} (until the cap)"
    return ""


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _ours(results: Any, scenario: str, client: str = OURS) -> Any | None:
    return next((run for run in _runs(results, scenario) if run.client == client), None)


def _pages(run: Any) -> int:
    """The pages the rows of the client's streams need (0: not recorded)."""
    return int(getattr(run, "pages", 0) or 0)


def _bound(run: Any, default: float | None) -> float | None:
    """The lower bound of the run's own streams, else the scenario's."""
    return float(getattr(run, "bound_s", 0) or 0) or default


def _versus_pages(run: Any) -> str:
    """API requests against the pages the rows need: `-8 %`, `+7 %` (a capped run: `-`)."""
    pages = _pages(run)
    if not pages or not run.requests or run.timed_out or not run.ok:
        return ""
    return f"{run.requests / pages - 1:+.0%}".replace("%", " %")


def _table(results: Any, scenario: str, lower_bound: float | None = None) -> list[str]:
    runs = _runs(results, scenario)
    if not runs:
        return ["Not run."]
    with_pages = any(_pages(run) for run in runs)
    header = "| client | rows | seconds | rows/s | client CPU s | API requests |"
    rule = "|---|---:|---:|---:|---:|---:|"
    if with_pages:
        header += " pages the rows need | requests vs pages |"
        rule += "---:|---:|"
    header += " 429s | peak RSS MB |"
    rule += "---:|---:|"
    if scenario == "3 end to end":
        header += " target RSS MB |"
        rule += "---:|"
    if lower_bound:
        header += " x lower bound |"
        rule += "---:|"
    header += " complete | note |"
    rule += "---|---|"
    lines = [header, rule]
    for run in runs:
        cells = [
            run.client,
            f"{run.rows:,}",
            _seconds(run),
            _rate_cell(run),
            f"{run.cpu_s:,.1f}",
            f"{run.requests:,}" + (" (until the cap)" if run.timed_out else ""),
        ]
        if with_pages:
            cells += [f"{_pages(run):,}" if _pages(run) else "", _versus_pages(run)]
        cells += [f"{run.throttled:,}", _mb(run.maxrss_mb) if run.maxrss_mb else ""]
        if scenario == "3 end to end":
            cells.append(_mb(run.target_maxrss_mb))
        bound = _bound(run, lower_bound) if lower_bound else None
        if bound:
            ratio = run.seconds / bound
            cells.append(f"> {ratio:.1f}" if run.timed_out else f"{ratio:.2f}")
        cells += [run.complete, run.note]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _targets(results: Any) -> list[str]:
    lines = ["| target (issue) | measured | met |", "|---|---|---|"]

    def row(name: str, measured: str, met: bool | None) -> None:
        lines.append(
            f"| {name} | {measured} | {'n/a' if met is None else ('yes' if met else 'no')} |"
        )

    ours1 = _ours(results, "1 no latency")
    singer1 = next(
        (r for r in _runs(results, "1 no latency") if r.client.startswith("singer-io")), None
    )
    if ours1 and ours1.ok:
        row("(1) >= 20,000 rows/s, tap alone", f"{_rate(ours1):,.0f} rows/s", _rate(ours1) >= 20000)
        if singer1 and (singer1.ok or singer1.timed_out) and _rate(singer1):
            factor = _rate(ours1) / _rate(singer1)
            row("(1) >= 10x singer-io's rows/s", f"{factor:.1f}x", factor >= 10)
    ours2 = _ours(results, "2 realistic")
    bound = _bound(ours2, results.lower_bound.seconds) or results.lower_bound.seconds
    if ours2 and ours2.timed_out:
        row(
            "(2) within 1.2x of the lower bound",
            f"> {ours2.seconds / bound:.1f}x (stopped at the {ours2.timeout_s:.0f} s cap)",
            False,
        )
    if ours2 and ours2.ok:
        ratio = ours2.seconds / bound
        row(
            "(2) within 1.2x of the lower bound",
            f"{ratio:.2f}x ({ours2.seconds:.1f} s vs {bound:.1f} s)",
            ratio <= 1.2,
        )
        for peer in _runs(results, "2 realistic"):
            if peer.client == OURS:
                continue
            factor = peer.seconds / ours2.seconds
            name = f"(2) >= 5x faster than {peer.client}"
            if peer.ok:
                row(name, f"{factor:.1f}x", factor >= 5)
            elif peer.timed_out and factor >= 5:
                row(name, f"> {factor:.1f}x (peer stopped at its cap)", True)
            elif peer.timed_out and peer.rows:
                estimate = ours2.rows / _rate(peer) / ours2.seconds
                row(
                    name,
                    f"> {factor:.1f}x (peer stopped at its {peer.timeout_s:.0f} s cap; about "
                    f"{estimate:.1f}x at its rate until then)",
                    None,
                )
    flat_bound = getattr(results, "flat_bound", None)
    three = getattr(results, "flat_bound_peer_streams", None)
    for client, what, scenario_bound in (
        (OURS, "every stream", flat_bound),
        (OURS + ", 3 streams", "the peers' 3 streams", three),
    ):
        flat = _ours(results, "2 flat", client)
        if flat is None:
            continue
        bound = _bound(flat, scenario_bound.seconds if scenario_bound else None)
        pages = _pages(flat) or (scenario_bound.pages if scenario_bound else 0)
        if flat.timed_out and bound:
            row(
                f"(2f) within 1.5x of the flat lower bound, {what}",
                f"> {flat.seconds / bound:.1f}x (stopped at the {flat.timeout_s:.0f} s cap)",
                False,
            )
        if not flat.ok:
            continue
        if bound:
            ratio = flat.seconds / bound
            row(
                f"(2f) within 1.5x of the flat lower bound, {what}",
                f"{ratio:.2f}x ({flat.seconds:.1f} s vs {bound:.1f} s)",
                ratio <= 1.5,
            )
        if pages:
            extra = flat.requests / pages - 1
            row(
                f"(2f) backfill requests <= pages + 10 %, {what}",
                f"{flat.requests} requests for {pages} pages ({extra:+.0%})",
                extra <= 0.10,
            )
    e2e = [r for r in _runs(results, "3 end to end") if r.ok]
    melt = next((r for r in e2e if r.client.startswith("meltano")), None)
    for run in [melt] if melt else e2e:
        row(
            f"(3) >= 8,000 rows/s end to end ({run.client})",
            f"{_rate(run):,.0f} rows/s",
            _rate(run) >= 8000,
        )
    big = _ours(results, "4 company x10")
    if ours1 and big and big.ok:
        row(
            "(4) tap peak RSS <= 200 MB",
            f"{ours1.maxrss_mb:.0f} MB; {big.maxrss_mb:.0f} MB at 10x",
            max(ours1.maxrss_mb, big.maxrss_mb) <= 200,
        )
        growth = big.maxrss_mb / ours1.maxrss_mb if ours1.maxrss_mb else 0
        row("(4) tap RSS flat as the company grows 10x", f"x{growth:.2f}", growth <= 1.25)
    return lines


def _api_cost(results: Any) -> list[str]:
    """Each client's API requests for a whole backfill, beside the pages its rows need.

    From its flat run (scenario 2f) when that one finished, else from its run without
    latency (scenario 1): the requests a client makes do not depend on the latency, and a
    peer that is slow under the flat model may reach its cap there.
    """
    clients = [OURS, OURS + ", 3 streams"]
    for scenario in ("1 no latency", "2 flat"):
        for run in _runs(results, scenario):
            if run.client not in clients:
                clients.append(run.client)
    lines = [
        "| client | streams | rows | pages the rows need | API requests | by endpoint |"
        " requests vs pages | measured in |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    for client in clients:
        found = [
            run
            for scenario in ("2 flat", "1 no latency")
            for run in _runs(results, scenario)
            if run.client == client and run.ok and not run.timed_out and _pages(run)
        ]
        if not found:
            continue
        run = found[0]
        streams = "every stream" if client == OURS else "invoices, customers, items"
        lines.append(
            f"| {client} | {streams} | {run.rows:,} | {_pages(run):,} | {run.requests:,} | "
            f"{run.endpoints} | {_versus_pages(run)} | {SCENARIOS[run.scenario].split('.')[0]} |"
        )
    if len(lines) == 2:
        return []
    return [
        "## API requests for a full backfill",
        "",
        "Intuit meters reads: each client's requests as counted by the emulator (a `/batch` or",
        "`/cdc` call counts once), beside the pages its rows need (ceil(rows / 1,000) per",
        "entity). Taken from the client's flat run (2f) when it finished, else from its run",
        "without latency (1): the requests do not depend on the latency.",
        "",
        *lines,
        "",
    ]


def markdown(results: Any, png_name: str) -> str:
    company = results.company
    bound = results.lower_bound
    flag = " --quick" if results.mode == "quick" else ""
    lines = [
        f"# Benchmark results ({results.mode})",
        "",
        f"Run {results.started} by `python bench/run.py{flag}`"
        f" in {results.elapsed_s / 60:.1f} min. How to run and read it: [README.md](README.md).",
        "",
        f"![chart]({png_name})",
        "",
        "| | |",
        "|---|---|",
        f"| company | {company.invoices:,} invoices, {company.customers:,} customers, "
        f"{company.items:,} items, every other entity in proportion ({_all_rows(results):,} rows"
        f" of every entity); seed {results.seed} |",
        f"| machine | {results.machine['cpu']}, {results.machine['memory']}, "
        f"{results.machine['os']}, Python {results.machine['python']} |",
        f"| load average (1/5/15 min) | {results.machine.get('load average', '?')} |",
    ]
    for name, version in results.versions.items():
        lines.append(f"| {name} | {version} |")
    lines += ["", "## Against the targets", "", *_targets(results), "", *_api_cost(results)]
    for scenario, title in SCENARIOS.items():
        lines += [f"## {title}", ""]
        if scenario == "2 realistic":
            lines += [
                f"Lower bound: **{bound.seconds:.1f} s** for every stream (a peer's *x lower"
                " bound* is against the bound of its three streams). Every row has to come back"
                " in a page",
                f"of at most 1,000 rows, so at least {bound.pages} pages; each costs 250 ms + 1 ms",
                f"a row of service time ({bound.longest_s:.2f} s for the largest page, which",
                f"nothing can beat), {bound.work_s:,.1f} s in all. With at most 10 requests in",
                f"flight that takes at least {bound.work_s:,.1f} / 10 ="
                f" {bound.by_concurrency_s:.1f} s. The 500 requests/min limit would bind only",
                "past 500 pages (the P-th request can't start before 60 s x floor((P-1)/500):",
                f"{bound.by_rate_s:.1f} s here); at 10 in flight and 1.25 s a full page, a client",
                "can't exceed 480 requests/min anyway. The bound is the largest of the three.",
                "Token refreshes, COUNT queries and the partly filled pages of date windows only",
                "add to what a real client needs.",
                "",
            ]
        flat_bound = getattr(results, "flat_bound", None)
        if scenario == "2 flat" and flat_bound:
            three = getattr(results, "flat_bound_peer_streams", None)
            lines += [
                f"Lower bound: **{flat_bound.seconds:.0f} s** for every stream ({flat_bound.pages}"
                " pages, ten at a time, 1 s each)"
                + (
                    f"; {three.seconds:.0f} s ({three.pages} pages) for the three streams the"
                    " peers read."
                    if three
                    else "."
                ),
                "Here wall time counts requests: the *API requests* column is what each client",
                "spends (Intuit meters reads), beside the pages its rows need; each client's",
                "*x lower bound* is against the bound of the streams it reads (every stream, or",
                "the three), in its own realm. A run stopped at its cap counts its requests until",
                "then.",
                "",
            ]
        if scenario == "4 company x10":
            big = results.big_company
            lines += [
                f"{big.invoices:,} invoices, {big.customers:,} customers, {big.items:,} items; "
                "records are counted, not compared with the truth.",
                "",
            ]
        lines += [
            *_table(
                results,
                scenario,
                bound.seconds
                if scenario == "2 realistic"
                else (flat_bound.seconds if scenario == "2 flat" and flat_bound else None),
            ),
            "",
        ]
    if results.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in results.notes], ""]
    lines += [
        "Columns: *rows* emitted (scenarios 1, 2, 4) or loaded (3); *seconds* wall time of the",
        "whole client process, discovery excluded for the peers; *client CPU s* user + system time",
        "of the client process and its children (tap | target: the tap alone; `meltano run`:",
        "meltano, tap and target together);",
        "*API requests* and *429s* as",
        "counted by the emulator for the company's realm (a `/batch` call counts once; a peer's",
        "discovery is included: singer-io's checks `companyinfo` once);",
        "*peak RSS* of the client process (the largest of a peer's processes): its VmHWM polled",
        "from /proc, not wait4's figure, which would include the benchmark's own size (for",
        "`meltano run`: not split, so blank);",
        "*complete*: `yes` when the ids and SyncTokens emitted (or the rows loaded) equal the",
        "emulator's truth.",
        "",
        f"Each measurement of scenarios 1 to 3 that ends within its cap is the median of"
        f" {results.repeat} runs (`--repeat`; the *note* lists every run's seconds), with the"
        " largest peak RSS of the runs; a capped peer in scenario 2 runs once. Scenario 4 runs"
        " once.",
        "",
    ]
    return "\n".join(lines)


def _wrap(label: str) -> str:
    return textwrap.fill(label, width=20, break_on_hyphens=False)


def chart(results: Any, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    colours = {"ours": "#2b7bba", "peer": "#a0a0a0", "target": "#e3a33b"}

    def colour(client: str) -> str:
        if client == OURS or client.startswith(("tap |", "meltano")):
            return colours["ours"]
        return colours["peer"]

    def bars(ax: Any, runs: list[Any], values: list[float], fmt: str) -> None:
        labels = [_wrap(run.client) for run in runs]
        drawn = ax.bar(range(len(runs)), values, color=[colour(run.client) for run in runs])
        ax.set_xticks(range(len(runs)), labels, fontsize=8)
        for rect, run, value in zip(drawn, runs, values, strict=True):
            text = fmt.format(value) + (" (cap)" if run.timed_out else "")
            ax.annotate(
                text,
                (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )

    ax = axes[0][0]
    runs = [r for r in _runs(results, "1 no latency") if r.ok or (r.timed_out and r.rows)]
    bars(ax, runs, [_rate(r) for r in runs], "{:,.0f}")
    ax.axhline(20000, color="green", linestyle=":", linewidth=1, label="target 20,000")
    ax.set_yscale("log")
    ax.set_title("1. Tap alone, no latency: rows/s, log scale (higher is better)", fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[0][1]
    runs = [r for r in _runs(results, "2 realistic") if r.ok or r.timed_out]
    bars(ax, runs, [r.seconds for r in runs], "{:,.1f} s")
    bound = results.lower_bound.seconds
    ax.axhline(bound, color="red", linestyle="--", linewidth=1, label=f"lower bound {bound:.1f} s")
    ax.axhline(bound * 1.2, color="green", linestyle=":", linewidth=1, label="1.2x lower bound")
    ax.set_yscale("log")
    ax.set_title(
        "2. Realistic latency and limits: backfill wall time, s, log scale (lower is better)",
        fontsize=10,
    )
    ax.legend(fontsize=8)

    ax = axes[1][0]
    runs = [r for r in _runs(results, "3 end to end") if r.ok]
    bars(ax, runs, [_rate(r) for r in runs], "{:,.0f}")
    ax.axhline(8000, color="green", linestyle=":", linewidth=1, label="target 8,000")
    ax.set_yscale("log")
    ax.set_title("3. End to end into Postgres: rows/s, log scale (higher is better)", fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[1][1]
    labels, values = [], []
    ours1 = _ours(results, "1 no latency")
    if ours1 and ours1.ok:
        labels.append(f"tap\n{ours1.rows:,} rows")
        values.append(ours1.maxrss_mb)
    big = _ours(results, "4 company x10")
    if big and big.ok:
        labels.append(f"tap\n{big.rows:,} rows")
        values.append(big.maxrss_mb)
    for run in _runs(results, "3 end to end"):
        if run.ok and run.target_maxrss_mb:
            labels.append(_wrap(run.client.replace("tap | ", "") + " (target)"))
            values.append(run.target_maxrss_mb)
    drawn = ax.bar(
        range(len(values)),
        values,
        color=[colours["ours"]] * min(2, len(values))
        + [colours["target"]] * max(0, len(values) - 2),
    )
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    for rect, value in zip(drawn, values, strict=True):
        ax.annotate(
            f"{value:,.0f}",
            (rect.get_x() + rect.get_width() / 2, rect.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.axhline(200, color="green", linestyle=":", linewidth=1, label="tap target 200 MB")
    ax.set_title("4. Peak RSS, MB (lower is better)", fontsize=10)
    ax.legend(fontsize=8)

    fig.suptitle(
        f"tap-quickbooks benchmark ({results.mode}, {_all_rows(results):,} rows, "
        f"{results.started})",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(results: Any, md_path: Path, png_path: Path) -> None:
    if not chart(results, png_path):
        results.notes.append("matplotlib is not installed: no chart.")
    md_path.write_text(markdown(results, png_path.name))


def _namespace(value: Any) -> Any:
    if isinstance(value, dict):
        return SimpleNamespace(**{key: _namespace(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_namespace(item) for item in value]
    return value


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/report.py bench/out/<mode>/results.json")
    data = json.loads(Path(sys.argv[1]).read_text())
    results = _namespace(data)
    results.machine, results.versions = data["machine"], data["versions"]
    bench = Path(__file__).resolve().parent
    stem = "results-quick" if results.mode == "quick" else "results"
    write(results, bench / f"{stem}.md", bench / f"{stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
