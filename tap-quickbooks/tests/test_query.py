import datetime as dt

import pytest

from tap_quickbooks import query
from tap_quickbooks.query import Range

UTC = dt.UTC
A = dt.datetime(2024, 1, 1, tzinfo=UTC)
B = dt.datetime(2024, 1, 31, 12, 30, 5, tzinfo=UTC)


def test_select_text_for_list_entity_includes_inactive():
    text = query.select_query(
        "Customer", Range(A, B), start_position=1001, max_results=1000, include_inactive=True
    )
    assert text == (
        "SELECT * FROM Customer WHERE MetaData.LastUpdatedTime >= '2024-01-01T00:00:00Z' "
        "AND MetaData.LastUpdatedTime < '2024-01-31T12:30:05Z' AND Active IN (true, false) "
        "ORDERBY MetaData.LastUpdatedTime STARTPOSITION 1001 MAXRESULTS 1000"
    )


def test_select_text_for_transactions_has_no_active_filter():
    text = query.select_query(
        "Invoice", Range(A, B), start_position=1, max_results=50, include_inactive=False
    )
    assert "Active" not in text
    assert text.endswith("ORDERBY MetaData.LastUpdatedTime STARTPOSITION 1 MAXRESULTS 50")


def test_count_text_uses_the_same_where_clause():
    rng = Range(A, B)
    count = query.count_query("Item", rng, include_inactive=True)
    select = query.select_query(
        "Item", rng, start_position=1, max_results=10, include_inactive=True
    )
    assert count.startswith("SELECT COUNT(*) FROM Item WHERE ")
    assert query.where_clause(rng, include_inactive=True) in count
    assert query.where_clause(rng, include_inactive=True) in select


def test_timestamps_are_converted_to_utc():
    pacific = dt.timezone(dt.timedelta(hours=-8))
    start = dt.datetime(2023, 12, 31, 16, 0, tzinfo=pacific)  # == 2024-01-01T00:00Z
    assert query.format_timestamp(start) == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "value",
    [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=UTC)],
)
def test_timestamp_rejects_naive_and_fractional(value):
    with pytest.raises(ValueError, match="timestamps"):
        query.format_timestamp(value)


@pytest.mark.parametrize(
    ("entity", "ok"),
    [
        ("Invoice", True),
        ("Customer", True),
        ("Invoice WHERE 1", False),
        ("invoice;", False),
        ("", False),
        ("Item'", False),
    ],
)
def test_entity_allow_list(entity, ok):
    if ok:
        assert query.validate_entity(entity) == entity
    else:
        with pytest.raises(ValueError, match="entity"):
            query.validate_entity(entity)


@pytest.mark.parametrize(
    ("realm", "ok"),
    [
        ("9341450000000001", True),
        ("123", True),
        ("12 3", False),
        ("123'", False),
        ("abc", False),
        ("", False),
        (" 123", False),
        ("1" * 33, False),
    ],
)
def test_realm_ids_are_digits_only(realm, ok):
    if ok:
        assert query.validate_realm_id(realm) == realm
    else:
        with pytest.raises(ValueError, match="digits"):
            query.validate_realm_id(realm)


def test_quote_literal_escapes_quote_and_backslash():
    assert query.quote_literal("Adam's") == "'Adam\\'s'"
    assert query.quote_literal("a\\'b") == "'a\\\\\\'b'"


@pytest.mark.parametrize(("position", "size"), [(0, 10), (1, 0), (1, 1001)])
def test_paging_bounds_validated(position, size):
    with pytest.raises(ValueError, match=r"STARTPOSITION|MAXRESULTS"):
        query.select_query(
            "Invoice",
            Range(A, B),
            start_position=position,
            max_results=size,
            include_inactive=False,
        )


def test_reversed_range_rejected():
    with pytest.raises(ValueError, match="reversed"):
        Range(B, A)
