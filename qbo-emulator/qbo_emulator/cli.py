"""`qbo-emulator serve` and `qbo-emulator truth`."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from qbo_emulator.config import ConfigError, parse_fault_at, parse_fault_rate


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qbo-emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def company(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
        p.add_argument("--customers", type=int, default=60, help="customers per realm (60)")
        p.add_argument("--items", type=int, default=20, help="items per realm (20)")
        p.add_argument("--invoices", type=int, default=400, help="invoices per realm (400)")
        p.add_argument("--realms", type=int, default=1, help="number of companies (1)")
        p.add_argument(
            "--size",
            action="append",
            metavar="ENTITY=N",
            help="rows of one entity per realm, e.g. --size Payment=500 (repeatable)",
        )
        p.add_argument(
            "--multicurrency",
            action="store_true",
            help="every third vendor bills in a foreign currency (ExchangeRate, A/P per currency)",
        )

    serve = sub.add_parser("serve", help="run the emulator; prints READY <base url>")
    company(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--token-state", help="JSON file persisting issued tokens")
    serve.add_argument("--clock", help="start the emulator clock at this ISO datetime")
    serve.add_argument(
        "--cache-rows",
        type=int,
        default=250_000,
        help="max pre-serialised rows kept per entity (250000)",
    )
    serve.add_argument("--client-id")
    serve.add_argument("--client-secret")
    serve.add_argument("--rotation", choices=("every", "daily", "never"))
    serve.add_argument("--access-token-ttl", type=int)
    serve.add_argument("--refresh-token-ttl", type=int)
    serve.add_argument("--invalid-grant-body", choices=("short", "described", "token_invalid"))
    serve.add_argument(
        "--consent", choices=("allow", "deny"), help="the consent screen's answer (allow)"
    )
    serve.add_argument("--consent-realm", help="the company the consent screen picks (first)")
    serve.add_argument("--rate-limit", type=int, help="requests/minute/realm (500; 0 = off)")
    serve.add_argument("--concurrency-limit", type=int, help="in flight per realm (10; 0 = off)")
    serve.add_argument("--throttle-format", choices=("xml", "json"))
    serve.add_argument("--retry-after", type=int, help="send Retry-After: N on 429")
    serve.add_argument("--latency-ms", type=float)
    serve.add_argument("--latency-per-row-ms", type=float)
    serve.add_argument(
        "--fault-rate",
        action="append",
        metavar="KIND=RATE",
        help="inject a fault at a rate; KIND: 429 500 502 503 slow reset truncate",
    )
    serve.add_argument(
        "--fault-at",
        action="append",
        metavar="KIND=N[,N...]",
        help="inject a fault at these API request numbers (1-based)",
    )
    serve.add_argument("--fault-seed", type=int)
    serve.add_argument("--slow-seconds", type=float)
    serve.add_argument("--churn-every", type=int, help="churn one row every N queries (0 = off)")
    serve.add_argument("--churn-ops", help="comma list of update,deactivate,delete,create")
    serve.add_argument(
        "--churn-entities", help="comma list of entities whose queries churn (default: every one)"
    )
    serve.add_argument("--batch-max-items", type=int)
    serve.add_argument("--cdc-max-objects", type=int)
    serve.add_argument(
        "--batch-rate-limit", type=int, help="batch requests/minute/realm (40; 0 = off)"
    )
    serve.add_argument(
        "--cdc-unsupported",
        choices=("fault", "ignore"),
        help="/cdc asked for TaxAgency, TaxCode, TaxRate or TimeActivity: 400 fault or ignore",
    )
    serve.add_argument(
        "--cdc-horizon-days",
        type=float,
        help="CDC reports only changes of the last N days (0 = all)",
    )
    serve.add_argument(
        "--report-max-cells",
        type=int,
        help="cut reports past this many cells with QuickBooks' notice (0 = no cap)",
    )
    serve.add_argument("--report-rate-limit", type=int, help="report requests per minute (0 = off)")
    serve.add_argument(
        "--cdc-reject-older-days",
        type=float,
        help="CDC answers a changedSince older than N days with a 400 fault (0 = never)",
    )
    serve.add_argument(
        "--nul-in-memo",
        type=int,
        choices=(0, 1),
        help="1: every invoice's CustomerMemo carries a NUL character",
    )

    truth = sub.add_parser("truth", help="print the ids/SyncTokens the company starts with")
    company(truth)
    return parser


SWITCHES = (
    "client_id",
    "client_secret",
    "rotation",
    "access_token_ttl",
    "refresh_token_ttl",
    "invalid_grant_body",
    "consent",
    "consent_realm",
    "rate_limit",
    "concurrency_limit",
    "throttle_format",
    "retry_after",
    "latency_ms",
    "latency_per_row_ms",
    "fault_seed",
    "slow_seconds",
    "churn_every",
    "churn_ops",
    "churn_entities",
    "batch_max_items",
    "cdc_max_objects",
    "cdc_horizon_days",
    "report_max_cells",
    "report_rate_limit",
    "batch_rate_limit",
    "cdc_unsupported",
    "cdc_reject_older_days",
    "nul_in_memo",
)


def _switches(args: argparse.Namespace) -> dict[str, Any]:
    out = {k: getattr(args, k) for k in SWITCHES if getattr(args, k) is not None}
    if args.fault_rate:
        out["fault_rate"] = parse_fault_rate(args.fault_rate)
    if args.fault_at:
        out["fault_at"] = parse_fault_at(args.fault_at)
    return out


def parse_sizes(items: list[str] | None) -> dict[str, int]:
    """`Entity=N` pairs; a bad pair raises ConfigError naming it."""
    out: dict[str, int] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--size: expected ENTITY=N, got {item!r}")
        try:
            out[name.strip()] = int(value)
        except ValueError:
            raise ConfigError(f"--size: {name.strip()} must be an integer, got {value!r}") from None
    return out


def _sizes(args: argparse.Namespace) -> dict[str, int]:
    from qbo_emulator.entities import resolve_sizes

    sizes = parse_sizes(args.size)
    try:
        resolve_sizes(args.customers, args.items, args.invoices, sizes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return sizes


def _check_company(args: argparse.Namespace) -> None:
    for name in ("customers", "items", "invoices"):
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name} must be >= 0")
    if args.realms < 1:
        raise ConfigError("--realms must be >= 1")
    if args.invoices and (args.customers < 1 or args.items < 3):
        raise ConfigError("--invoices needs --customers >= 1 and --items >= 3")


async def _serve(args: argparse.Namespace) -> None:
    from qbo_emulator.server import Emulator, HTTPServer

    emulator = Emulator(
        seed=args.seed,
        customers=args.customers,
        items=args.items,
        invoices=args.invoices,
        realms=args.realms,
        token_state=args.token_state,
        clock=args.clock,
        cache_rows=args.cache_rows,
        sizes=_sizes(args),
        multicurrency=args.multicurrency,
        **_switches(args),
    )
    http = HTTPServer(emulator, args.host, args.port)
    url = await http.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {url}", flush=True)
    await stop.wait()
    await http.close()


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        _check_company(args)
        if args.command == "truth":
            from qbo_emulator.data import build_companies

            companies = build_companies(
                args.seed,
                args.customers,
                args.items,
                args.invoices,
                args.realms,
                sizes=_sizes(args),
                multicurrency=args.multicurrency,
            )
            json.dump({r: c.truth() for r, c in companies.items()}, sys.stdout)
            sys.stdout.write("\n")
            return 0
        asyncio.run(_serve(args))
    except ConfigError as exc:
        print(f"qbo-emulator: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
