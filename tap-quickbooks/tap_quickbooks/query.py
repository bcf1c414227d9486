r"""QuickBooks query text: quoting, timestamp literals and bound inclusivity (pure).

Every value that reaches a query passes through this module, so no setting can change
the meaning of a query: entity names come from an allow-list pattern, timestamps are
formatted here from aware datetimes, and string literals are escaped the way QBO's
parser expects (backslash before ``'`` and ``\\``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_ENTITY_RE = re.compile(r"^[A-Z][A-Za-z]{0,63}$")
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_REALM_RE = re.compile(r"^\d{1,32}$")

MAX_PAGE_SIZE = 1000
UPDATED_FIELD = "MetaData.LastUpdatedTime"


def validate_entity(entity: str) -> str:
    """Return `entity` if it is a plain QBO entity name, else raise ValueError."""
    if not _ENTITY_RE.match(entity):
        msg = f"not a QuickBooks entity name: {entity!r}"
        raise ValueError(msg)
    return entity


def validate_realm_id(realm_id: str) -> str:
    """Return `realm_id` if it is digits only (as Intuit issues them), else raise ValueError."""
    if not isinstance(realm_id, str) or not _REALM_RE.match(realm_id):
        msg = "a realm id (company id) is digits only, e.g. 9341450000000001"
        raise ValueError(msg)
    return realm_id


def quote_literal(value: str) -> str:
    """Quote a string literal for the QBO query language."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def format_timestamp(value: dt.datetime) -> str:
    """Format an aware, whole-second datetime as a UTC literal body (`...Z`)."""
    if value.tzinfo is None or value.utcoffset() is None:
        msg = "query timestamps must be timezone-aware"
        raise ValueError(msg)
    if value.microsecond:
        msg = "query timestamps must be whole seconds (QBO stores seconds)"
        raise ValueError(msg)
    text = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not _TIMESTAMP_RE.match(text):  # e.g. years before 1000
        msg = f"timestamp out of range: {value!r}"
        raise ValueError(msg)
    return text


@dataclass(frozen=True)
class Range:
    """A half-open `[start, end)` range on MetaData.LastUpdatedTime."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        """Reject empty or reversed ranges."""
        if not self.start < self.end:
            msg = f"empty or reversed range: {self.start.isoformat()} .. {self.end.isoformat()}"
            raise ValueError(msg)


def where_clause(rng: Range, *, include_inactive: bool) -> str:
    """Build the WHERE clause: `>=` start, `<` end, and all Active states when asked."""
    clause = (
        f"WHERE {UPDATED_FIELD} >= {quote_literal(format_timestamp(rng.start))}"
        f" AND {UPDATED_FIELD} < {quote_literal(format_timestamp(rng.end))}"
    )
    if include_inactive:
        clause += " AND Active IN (true, false)"
    return clause


def select_query(
    entity: str,
    rng: Range,
    *,
    start_position: int,
    max_results: int,
    include_inactive: bool,
) -> str:
    """Build one page's `SELECT *` ordered by MetaData.LastUpdatedTime."""
    if start_position < 1:
        msg = "STARTPOSITION is 1-based"
        raise ValueError(msg)
    if not 1 <= max_results <= MAX_PAGE_SIZE:
        msg = f"MAXRESULTS must be 1..{MAX_PAGE_SIZE}"
        raise ValueError(msg)
    return (
        f"SELECT * FROM {validate_entity(entity)} "
        f"{where_clause(rng, include_inactive=include_inactive)} "
        f"ORDERBY {UPDATED_FIELD} STARTPOSITION {int(start_position)} MAXRESULTS {int(max_results)}"
    )


def count_query(entity: str, rng: Range, *, include_inactive: bool) -> str:
    """Build the `SELECT COUNT(*)` over the same WHERE clause as the pages."""
    return (
        f"SELECT COUNT(*) FROM {validate_entity(entity)} "
        f"{where_clause(rng, include_inactive=include_inactive)}"
    )


def select_all(entity: str) -> str:
    """`SELECT *` of an entity with one object per company (CompanyInfo, Preferences)."""
    return f"SELECT * FROM {validate_entity(entity)}"
