"""The median time to order, found without sorting every gap, is the exact median."""

from __future__ import annotations

import statistics

from hypothesis import given
from hypothesis import strategies as st

from tracker.reports.queries import _median_seconds

GAP = st.integers(min_value=-1_000, max_value=40_000_000)  # milliseconds
RUN = st.lists(GAP, min_size=1, max_size=300).map(sorted)


@given(st.lists(RUN, min_size=1, max_size=40))
def test_the_median_of_sorted_runs_is_the_median_of_every_gap(runs: list[list[int]]) -> None:
    every = [gap for run in runs for gap in run]
    assert _median_seconds(runs) == statistics.median(every) / 1000


def test_the_median_of_a_few_long_runs_is_exact() -> None:
    runs = [list(range(n, 100_000, 7)) for n in range(3)]  # 3 runs, 42,858 gaps
    every = sorted(gap for run in runs for gap in run)
    assert _median_seconds(runs) == statistics.median(every) / 1000 == 49.9985
