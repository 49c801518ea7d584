"""Poll timing: the first poll near the early finishers, then intervals growing with time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from seedance_async import PollSchedule
from seedance_async._schedule import EtaEstimator


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
