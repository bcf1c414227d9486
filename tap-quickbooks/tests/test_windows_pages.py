import datetime as dt
import itertools

import pytest

from tap_quickbooks.pagination import chunked, plan_pages
from tap_quickbooks.windows import Window, plan_windows

UTC = dt.UTC


def test_windows_cover_range_without_gaps_or_overlap():
    start = dt.datetime(2022, 1, 1, tzinfo=UTC)
    end = dt.datetime(2022, 3, 15, 6, tzinfo=UTC)
    windows = plan_windows(start, end, 30)
    assert [w.start for w in windows] == [
        start,
        start + dt.timedelta(days=30),
        start + dt.timedelta(days=60),
    ]
    assert windows[-1].end == end
    for left, right in itertools.pairwise(windows):
        assert left.end == right.start


def test_windows_floor_to_seconds_and_convert_to_utc():
    tz = dt.timezone(dt.timedelta(hours=-7))
    windows = plan_windows(
        dt.datetime(2022, 1, 1, 0, 0, 0, 900, tzinfo=tz),
        dt.datetime(2022, 1, 2, 0, 0, 1, 999999, tzinfo=tz),
        5,
    )
    assert windows == [
        Window(dt.datetime(2022, 1, 1, 7, tzinfo=UTC), dt.datetime(2022, 1, 2, 7, 0, 1, tzinfo=UTC))
    ]


def test_empty_range_gives_no_window():
    t = dt.datetime(2022, 1, 1, tzinfo=UTC)
    assert plan_windows(t, t, 10) == []
    assert plan_windows(t, t - dt.timedelta(days=1), 10) == []


def test_window_restart_keeps_end_and_never_goes_back():
    w = Window(dt.datetime(2022, 1, 1, tzinfo=UTC), dt.datetime(2022, 2, 1, tzinfo=UTC))
    later = dt.datetime(2022, 1, 10, 3, 4, 5, 600, tzinfo=UTC)
    assert w.starting_at(later) == Window(later.replace(microsecond=0), w.end)
    assert w.starting_at(dt.datetime(2021, 1, 1, tzinfo=UTC)) == w
    assert "2022-01-01T00:00:00+00:00" in w.label


def test_window_rejects_bad_bounds():
    t = dt.datetime(2022, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="reversed"):
        Window(t, t)
    with pytest.raises(ValueError, match="UTC"):
        Window(t.replace(tzinfo=None), t + dt.timedelta(days=1))


@pytest.mark.parametrize(
    ("total", "size", "expected"),
    [
        (0, 1000, []),
        (1, 1000, [(1, 1)]),
        (1000, 1000, [(1, 1)]),
        (1001, 1000, [(1, 1), (2, 1001)]),
        (25, 10, [(1, 1), (2, 11), (3, 21)]),
    ],
)
def test_plan_pages(total, size, expected):
    pages = plan_pages(total, size)
    assert [(p.number, p.start_position) for p in pages] == expected
    assert all(p.max_results == size for p in pages)


def test_chunked():
    pages = plan_pages(55, 1)
    chunks = chunked(pages, 25)
    assert [len(c) for c in chunks] == [25, 25, 5]
    assert [p for c in chunks for p in c] == pages
