"""Run-time switches (limits, latency, faults, churn, OAuth policy) with validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from qbo_emulator.entities import REGISTRY

FAULT_KINDS = ("429", "500", "502", "503", "slow", "reset", "truncate")
ROTATIONS = ("every", "daily", "never")
INVALID_GRANT_BODIES = ("short", "described", "token_invalid")
CHURN_OPS = ("update", "deactivate", "delete", "create")
CDC_UNSUPPORTED = ("fault", "ignore")
CONSENTS = ("allow", "deny")


class ConfigError(ValueError):
    """A switch has a bad value; the message names the switch."""


@dataclass
class Config:
    client_id: str = "qbo-emulator-client"
    client_secret: str = "qbo-emulator-secret"
    rotation: str = "every"
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 8726400
    invalid_grant_body: str = "short"
    # The consent screen of /connect/oauth2: `allow` (auto-consent) or `deny` (access_denied).
    consent: str = "allow"
    # The company the consent screen picks ("" = the first realm).
    consent_realm: str = ""
    rate_limit: int = 500
    concurrency_limit: int = 10
    throttle_format: str = "xml"
    retry_after: int | None = None
    latency_ms: float = 0.0
    latency_per_row_ms: float = 0.0
    fault_rate: dict[str, float] = field(default_factory=dict)
    fault_at: dict[str, list[int]] = field(default_factory=dict)
    fault_seed: int = 0
    slow_seconds: float = 30.0
    churn_every: int = 0
    churn_ops: list[str] = field(default_factory=lambda: ["update", "deactivate", "delete"])
    # Entities whose queries churn (and count towards churn_every); empty: every entity.
    churn_entities: list[str] = field(default_factory=list)
    batch_max_items: int = 30
    cdc_max_objects: int = 1000
    # > 0: /cdc reports only changes of the last N days (Intuit guarantees 30); 0: everything.
    cdc_horizon_days: float = 0.0
    # Reports: cells (rows x columns) past which a report is cut short with QuickBooks' notice
    # "Unable to display more data. Please reduce the date range." (Intuit: 400,000); 0: no cap.
    report_max_cells: int = 400_000
    # Report requests per 60 s per realm, then 429, on top of rate_limit; 0: off.
    report_rate_limit: int = 0
    # batch requests per 60 s per realm (Intuit: 40 per realm and app); 0 = off. Also off while
    # rate_limit is 0, so a test that turns throttling off turns it all off.
    batch_rate_limit: int = 40
    # /cdc asked for an entity CDC does not serve (TaxAgency, TaxCode, TaxRate, TimeActivity,
    # CompanyInfo, Preferences): "fault" answers 400, "ignore" answers an empty group for it.
    cdc_unsupported: str = "fault"
    # > 0: /cdc answers a changedSince older than N days with a 400 fault, as some companies do
    # ("... older than fixed days is not supported"); 0: it answers (see cdc_horizon_days).
    cdc_reject_older_days: float = 0.0
    # 1: every invoice's CustomerMemo in a query answer carries a NUL character (JSON \u0000).
    nul_in_memo: int = 0

    def update(self, **switches: Any) -> None:
        """Validate and apply switches; nothing changes when one is bad."""
        known = {f.name for f in fields(self)}
        candidate = Config(**asdict(self))
        for name, value in switches.items():
            if name not in known:
                raise ConfigError(f"unknown switch {name!r}")
            setattr(candidate, name, _coerce(name, value))
        candidate.validate()
        for name in switches:
            setattr(self, name, getattr(candidate, name))

    def validate(self) -> None:
        if self.rotation not in ROTATIONS:
            raise ConfigError(f"rotation must be one of {', '.join(ROTATIONS)}")
        if self.invalid_grant_body not in INVALID_GRANT_BODIES:
            raise ConfigError(
                f"invalid_grant_body must be one of {', '.join(INVALID_GRANT_BODIES)}"
            )
        if self.cdc_unsupported not in CDC_UNSUPPORTED:
            raise ConfigError(f"cdc_unsupported must be one of {', '.join(CDC_UNSUPPORTED)}")
        if self.consent not in CONSENTS:
            raise ConfigError(f"consent must be one of {', '.join(CONSENTS)}")
        if self.throttle_format not in ("xml", "json"):
            raise ConfigError("throttle_format must be xml or json")
        for name in ("access_token_ttl", "refresh_token_ttl"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0")
        for name in (
            "rate_limit",
            "concurrency_limit",
            "churn_every",
            "fault_seed",
            "report_max_cells",
            "report_rate_limit",
            "batch_rate_limit",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
        for name in (
            "latency_ms",
            "latency_per_row_ms",
            "slow_seconds",
            "cdc_horizon_days",
            "cdc_reject_older_days",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
        if self.retry_after is not None and self.retry_after < 0:
            raise ConfigError("retry_after must be >= 0")
        if self.nul_in_memo not in (0, 1):
            raise ConfigError("nul_in_memo must be 0 or 1")
        if not self.batch_max_items >= 1:
            raise ConfigError("batch_max_items must be >= 1")
        if not self.cdc_max_objects >= 1:
            raise ConfigError("cdc_max_objects must be >= 1")
        for kind, rate in self.fault_rate.items():
            if kind not in FAULT_KINDS:
                raise ConfigError(f"fault_rate: unknown fault {kind!r} ({', '.join(FAULT_KINDS)})")
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"fault_rate: rate for {kind} must be within 0..1")
        for kind, numbers in self.fault_at.items():
            if kind not in FAULT_KINDS:
                raise ConfigError(f"fault_at: unknown fault {kind!r} ({', '.join(FAULT_KINDS)})")
            if any(n < 1 for n in numbers):
                raise ConfigError(f"fault_at: request numbers for {kind} must be >= 1")
        for op in self.churn_ops:
            if op not in CHURN_OPS:
                raise ConfigError(f"churn_ops: unknown op {op!r} ({', '.join(CHURN_OPS)})")
        if self.churn_every and not self.churn_ops:
            raise ConfigError("churn_ops must not be empty when churn_every is set")
        for entity in self.churn_entities:
            if entity not in REGISTRY or REGISTRY[entity].kind == "singleton":
                raise ConfigError(f"churn_entities: {entity!r} is not an entity that can churn")

    def public(self) -> dict[str, Any]:
        """The switches without the client secret."""
        out = asdict(self)
        out["client_secret"] = "***"
        return out


def _coerce(name: str, value: Any) -> Any:
    """Accept CLI/HTTP-friendly spellings: `500=0.1,reset=0.02`, `429=3,7;truncate=5`, `a,b`."""
    if name == "fault_rate" and isinstance(value, str):
        return parse_fault_rate(
            [p for p in value.split(";") if p]
            if ";" in value
            else [p for p in value.split(",") if p]
        )
    if name == "fault_at" and isinstance(value, str):
        return parse_fault_at([p for p in value.split(";") if p])
    if name == "fault_rate" and isinstance(value, dict):
        try:
            return {str(k): float(v) for k, v in value.items()}
        except (TypeError, ValueError):
            raise ConfigError("fault_rate values must be numbers") from None
    if name == "fault_at" and isinstance(value, dict):
        try:
            return {str(k): sorted(int(n) for n in v) for k, v in value.items()}
        except (TypeError, ValueError):
            raise ConfigError("fault_at values must be lists of request numbers") from None
    if name in ("churn_ops", "churn_entities"):
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return [str(v) for v in value]
    kinds: dict[str, type] = {
        "access_token_ttl": int,
        "refresh_token_ttl": int,
        "rate_limit": int,
        "concurrency_limit": int,
        "fault_seed": int,
        "churn_every": int,
        "batch_max_items": int,
        "cdc_max_objects": int,
        "report_max_cells": int,
        "report_rate_limit": int,
        "batch_rate_limit": int,
        "latency_ms": float,
        "latency_per_row_ms": float,
        "slow_seconds": float,
        "cdc_horizon_days": float,
        "cdc_reject_older_days": float,
        "nul_in_memo": int,
    }
    if name == "retry_after":
        if value is None or value == "":
            return None
        return _number(name, value, int)
    if name in kinds:
        return _number(name, value, kinds[name])
    if isinstance(value, bool) or value is None:
        raise ConfigError(f"{name} must be a string")
    return str(value)


def _number(name: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None


def parse_fault_rate(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        kind, sep, rate = item.partition("=")
        if not sep:
            raise ConfigError(f"fault_rate: expected KIND=RATE, got {item!r}")
        try:
            out[kind.strip()] = float(rate)
        except ValueError:
            raise ConfigError(f"fault_rate: rate for {kind} must be a number") from None
    return out


def parse_fault_at(items: list[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for item in items:
        kind, sep, numbers = item.partition("=")
        if not sep:
            raise ConfigError(f"fault_at: expected KIND=N[,N...], got {item!r}")
        try:
            out.setdefault(kind.strip(), []).extend(int(n) for n in numbers.split(",") if n)
        except ValueError:
            raise ConfigError(f"fault_at: request numbers for {kind} must be integers") from None
    return {k: sorted(v) for k, v in out.items()}
