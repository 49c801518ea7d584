"""Lifecycle events turned into measurements: the one list of metrics every sink exports.

Rule: *labels name a provider alias, a model and an outcome, nothing else.* Never a key, a
task id, an API key or a URL: those are unbounded (a time series per task) or secret.
Both sinks (the Prometheus text of :mod:`._prometheus` and the OpenTelemetry instruments of
:mod:`._otel`) read :data:`METRICS` and :meth:`EventMeter.measure`, so they always agree.
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

from seedance_async.core._events import FINAL_KINDS, Event, EventKind

__all__ = ["METRICS", "EventMeter", "Measurement", "MetricSpec"]

Kind = Literal["counter", "histogram"]


@attrs.frozen
class MetricSpec:
    """One metric: its name (without prefix or suffix), kind, unit, labels and meaning."""

    name: str
    kind: Kind
    unit: str
    labels: tuple[str, ...]
    description: str


METRICS: Final = (
    MetricSpec(
        "submits", "counter", "1", ("provider", "model"), "Submits that created a remote task."
    ),
    MetricSpec(
        "polls", "counter", "1", ("provider",), "Status and list calls answered by a provider."
    ),
    MetricSpec(
        "rate_limited", "counter", "1", ("provider",), "Answers 429 (rate limited) from a provider."
    ),
    MetricSpec("retries", "counter", "1", ("provider",), "Requests retried after an error."),
    MetricSpec(
        "failovers",
        "counter",
        "1",
        ("provider", "model"),
        "Tasks that moved on from a provider (refused, or failed remotely).",
    ),
    MetricSpec(
        "outcomes",
        "counter",
        "1",
        ("provider", "model", "outcome"),
        "Tasks that ended, by outcome.",
    ),
    MetricSpec("downloads", "counter", "1", ("provider",), "Videos of succeeded tasks downloaded."),
    MetricSpec("download_bytes", "counter", "By", ("provider",), "Bytes of video downloaded."),
    MetricSpec(
        "queue_time",
        "histogram",
        "s",
        ("provider", "model"),
        "Seconds from the submit to the first poll that saw the task running.",
    ),
    MetricSpec(
        "generation_time",
        "histogram",
        "s",
        ("provider", "model"),
        "Seconds from the submit to the end of a succeeded task.",
    ),
    MetricSpec(
        "detection_lag",
        "histogram",
        "s",
        ("provider", "model"),
        "Seconds from the end a provider reported to the poll here that saw it.",
    ),
    MetricSpec(
        "cost",
        "counter",
        "1",
        ("provider", "model", "currency"),
        "What succeeded tasks cost by the usage they reported, per currency (tasks whose"
        " cost is unknown add nothing).",
    ),
)


@attrs.frozen
class Measurement:
    """One value for one metric of :data:`METRICS`, with its label values in order."""

    name: str
    value: float
    labels: tuple[str, ...]


class EventMeter:
    """Turns events into measurements; remembers when each in-flight task was submitted.

    The memory is one float per task between its submit and its end.
    """

    def __init__(self) -> None:
        self._submitted: dict[str, float] = {}
        self._running_seen: set[str] = set()

    def measure(self, event: Event) -> list[Measurement]:
        """The measurements ``event`` makes (none for most)."""
        kind, alias, model = event.kind, event.provider, event.model or ""
        if kind is EventKind.POLLED:
            return [Measurement("polls", 1.0, (alias,))]
        if kind is EventKind.RATE_LIMITED:
            return [Measurement("rate_limited", 1.0, (alias,))]
        if kind is EventKind.RETRIED:
            return [Measurement("retries", 1.0, (alias,))]
        if kind is EventKind.DOWNLOADED:
            out = [Measurement("downloads", 1.0, (alias,))]
            if event.size is not None:
                out.append(Measurement("download_bytes", float(event.size), (alias,)))
            return out
        if kind is EventKind.SUBMITTED:
            self._submitted[event.key] = event.at
            self._running_seen.discard(event.key)
            return [Measurement("submits", 1.0, (alias, model))]
        if kind is EventKind.RUNNING:
            since = self._submitted.get(event.key)
            if since is None or event.key in self._running_seen:
                return []
            self._running_seen.add(event.key)
            return [Measurement("queue_time", max(0.0, event.at - since), (alias, model))]
        if kind is EventKind.FAILED_OVER:
            self._submitted.pop(event.key, None)
            return [Measurement("failovers", 1.0, (alias, model))] if event.key else []
        if kind in FINAL_KINDS:
            return self._ended(event, alias, model)
        return []

    def _ended(self, event: Event, alias: str, model: str) -> list[Measurement]:
        since = self._submitted.pop(event.key, None)
        self._running_seen.discard(event.key)
        out = [Measurement("outcomes", 1.0, (alias, model, event.kind.value))]
        if event.lag is not None:
            out.append(Measurement("detection_lag", event.lag, (alias, model)))
        if event.kind is EventKind.SUCCEEDED:
            if since is not None:
                out.append(
                    Measurement("generation_time", max(0.0, event.at - since), (alias, model))
                )
            if event.cost is not None:
                amount, currency = event.cost
                out.append(Measurement("cost", amount, (alias, model, currency)))
        return out
