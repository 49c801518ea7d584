"""Poll timing: the first poll near the early finishers, then intervals growing with time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async import PollSchedule
from seedance_async.policy._poll_schedule import EtaEstimator


def test_first_poll_without_and_with_an_estimate() -> None:
    """No estimate: the fixed first poll; with one: that fraction of it, never below min."""
    plan = PollSchedule(first_poll=5, min_interval=2, eta_fraction=0.5)
    assert plan.first_delay(None) == 5
    assert plan.first_delay(60) == 30
    assert plan.first_delay(1) == 2


def test_interval_grows_with_elapsed_time_and_stops_at_the_expected_finish() -> None:
    """Interval = growth x elapsed within bounds, but never sleeping past the median ETA."""
    plan = PollSchedule(min_interval=2, max_interval=30, growth=0.2)
    assert plan.next_delay(5) == 2
    assert plan.next_delay(50) == 10
    assert plan.next_delay(1000) == 30
    assert plan.next_delay(50, eta=53) == 3  # three seconds short of the expected finish


def test_scaled_schedule_multiplies_every_duration() -> None:
    """scaled(f) keeps fractions and multiplies seconds (for time-scaled simulators)."""
    plan = PollSchedule().scaled(0.01)
    assert plan.first_poll == PollSchedule().first_poll * 0.01
    assert plan.max_interval == PollSchedule().max_interval * 0.01
    assert plan.growth == PollSchedule().growth


@given(
    elapsed=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    eta=st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_next_delay_stays_within_bounds(elapsed: float, eta: float | None) -> None:
    """Whatever the elapsed time and estimate, the interval stays within [min, max]."""
    plan = PollSchedule()
    assert plan.min_interval <= plan.next_delay(elapsed, eta) <= plan.max_interval


def test_estimator_gives_median_and_an_early_quantile_per_provider_and_model() -> None:
    """The median is the expected finish; the 10th percentile is where the first poll goes."""
    eta = EtaEstimator()
    assert eta.eta("a", "m") is None
    assert eta.early("a", "m") is None
    for seconds in range(40, 121, 10):  # 40, 50, ..., 120
        eta.observe("a", "m", float(seconds))
    eta.observe("a", "m", 0.0)  # ignored: not a duration
    assert eta.eta("a", "m") == 80
    assert eta.early("a", "m") == 40
    assert eta.eta("b", "m") is None


def test_lag_schedule_polls_from_the_shortest_duration_plus_the_lag() -> None:
    """for_lag(5): first poll at shortest + 5 s, then every 5 s; before any sample, every 5 s."""
    plan = PollSchedule.for_lag(5.0)
    assert plan.first_delay(None) == 5.0
    assert plan.first_delay(40.0) == 45.0
    assert plan.next_delay(45.0, eta=80.0, early=40.0) == 5.0
    assert plan.next_delay(1000.0, eta=80.0, early=40.0) == 5.0  # no growth: the lag is kept
    # Polled at 5 s before anything was learned, now the shortest duration is 40 s: skip to 45.
    assert plan.next_delay(5.0, eta=80.0, early=40.0) == 40.0
    assert plan.early_quantile == 0.0
    assert plan.scaled(0.1).target_lag == 0.5


def test_lag_schedule_jitter_only_brings_polls_forward() -> None:
    """With a target lag the spread never delays a poll, so the lag stays a bound."""
    lagged = PollSchedule.for_lag(5.0)
    plain = PollSchedule()
    assert [lagged.jitter_factor(u) for u in (0.0, 0.5, 0.999)] == [1.0, 0.95, 1 - 0.0999]
    assert plain.jitter_factor(0.0) == 0.9
    assert plain.jitter_factor(0.999) > 1.0


@given(
    durations=st.lists(st.floats(min_value=10, max_value=300), min_size=1, max_size=64),
    finish=st.floats(min_value=0, max_value=2000),
    lag=st.floats(min_value=0.5, max_value=60),
    u=st.floats(min_value=0, max_value=0.999),
)
def test_lag_schedule_notices_every_task_no_quicker_than_those_seen_within_the_lag(
    durations: list[float], finish: float, lag: float, u: float
) -> None:
    """Property: a task ending at or after the shortest duration seen is seen within the lag."""
    plan = PollSchedule.for_lag(lag)
    eta = EtaEstimator(early_quantile=plan.early_quantile)
    for d in durations:
        eta.observe("a", "m", d)
    shortest = min(durations)
    finish = max(finish, shortest)
    early, median = eta.early("a", "m"), eta.eta("a", "m")
    t = plan.first_delay(early) * plan.jitter_factor(u)
    while t < finish:
        t += plan.next_delay(t, median, early) * plan.jitter_factor(u)
    assert t - finish <= lag + 1e-9


def test_bad_schedules_are_refused() -> None:
    """A non-positive lag or an early quantile outside [0, 1] is a ValueError."""
    with pytest.raises(ValueError, match="lag"):
        PollSchedule.for_lag(0)
    with pytest.raises(ValueError, match="early_quantile"):
        PollSchedule(early_quantile=1.5)


def test_backstop_polls_after_the_longest_recent_task_then_sparsely() -> None:
    """First at the longest recent duration plus the margin, then every interval; before
    anything was learned, at the first poll and every interval."""
    plan = PollSchedule.backstop(60.0, margin=0.25)
    estimator = EtaEstimator(early_quantile=plan.early_quantile)
    for seconds in (30.0, 75.0, 120.0, 50.0):
        estimator.observe("ark", "m", seconds)
    longest = estimator.early("ark", "m")
    assert longest == 120.0
    assert plan.first_delay(longest) == 150.0
    assert plan.next_delay(150.0, eta=estimator.eta("ark", "m"), early=longest) == 60.0
    assert plan.first_delay(None) == 60.0
    assert plan.next_delay(60.0) == 60.0
    assert PollSchedule.backstop(30.0, first_poll=300.0).first_delay(None) == 300.0
    with pytest.raises(ValueError, match="interval"):
        PollSchedule.backstop(0)
    with pytest.raises(ValueError, match="margin"):
        PollSchedule.backstop(60, margin=-0.1)


def test_longest_is_the_longest_duration_not_a_lower_bound() -> None:
    """A backstop's first poll goes after the longest recent task: whole-second timestamps
    make the lower bounds (what first polls use) a second short, this one must not be."""
    eta = EtaEstimator(window=3)
    assert eta.longest("ark", "m") is None
    for seconds in (40.0, 90.0, 60.0):
        eta.observe("ark", "m", seconds, at_least=seconds - 1.0)
    assert eta.longest("ark", "m") == 90.0
    eta.observe("ark", "m", 50.0)
    assert eta.longest("ark", "m") == 90.0
    eta.observe("ark", "m", 50.0)  # the 90 s sample leaves the window
    assert eta.longest("ark", "m") == 60.0
    assert eta.longest("ark", "other") is None
