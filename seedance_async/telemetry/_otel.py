"""OpenTelemetry metrics and traces from lifecycle events (the optional ``otel`` extra).

Without ``opentelemetry-api`` installed the observer is a no-op that costs one attribute
check per event, so libraries and programs may register it unconditionally. With the API
but no SDK configured, OpenTelemetry itself makes every call a no-op.

Traces: one span per attempt that created a remote task, named ``seedance.task``, from the
submit to the attempt's end (the task's outcome, or its failover to another provider).
Attributes name the provider alias, adapter-independent model id, remote task id and
tracking key; state changes, polls, retries and rate limits are span events. No secret,
token or URL is ever an attribute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seedance_async.core._events import FINAL_KINDS, Event, EventKind
from seedance_async.telemetry._measure import METRICS, EventMeter

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
except ImportError:  # the extra is not installed: a no-op observer
    _metrics = None  # type: ignore[assignment]
    _trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["OpenTelemetryObserver", "otel_available"]

_SCOPE = "seedance_async"
_SPAN_EVENTS = frozenset(
    {
        EventKind.QUEUED,
        EventKind.RUNNING,
        EventKind.POLLED,
        EventKind.RETRIED,
        EventKind.RATE_LIMITED,
        EventKind.DOWNLOADED,
        EventKind.RECONCILED,
    }
)


def otel_available() -> bool:
    """True when ``opentelemetry-api`` is installed (``pip install 'seedance-async[otel]'``)."""
    return _metrics is not None


def _ns(at: float) -> int:
    return int(at * 1_000_000_000)


class OpenTelemetryObserver:
    """Records lifecycle events as OpenTelemetry metrics and spans.

    Register it as an event callback: ``client.events.add_callback(OpenTelemetryObserver())``.

    Args:
        meter_provider / tracer_provider: where to record (the global providers by default).
        traces: record spans (metrics only when False).
    """

    def __init__(
        self,
        *,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
        traces: bool = True,
    ) -> None:
        self.enabled = otel_available()
        self._meter_state = EventMeter()
        self._instruments: dict[str, Any] = {}
        self._spans: dict[str, Span] = {}
        self._tracer: Any = None
        if not self.enabled:
            return
        meter = (meter_provider or _metrics.get_meter_provider()).get_meter(_SCOPE)
        for spec in METRICS:
            name = f"seedance.{spec.name}"
            if spec.kind == "counter":
                self._instruments[spec.name] = meter.create_counter(
                    name, unit=spec.unit, description=spec.description
                )
            else:
                self._instruments[spec.name] = meter.create_histogram(
                    name, unit=spec.unit, description=spec.description
                )
        if traces:
            self._tracer = (tracer_provider or _trace.get_tracer_provider()).get_tracer(_SCOPE)
        self._labels = {spec.name: spec.labels for spec in METRICS}

    def __call__(self, event: Event) -> None:
        if not self.enabled:
            return
        for m in self._meter_state.measure(event):
            attributes = dict(zip(self._labels[m.name], m.labels, strict=True))
            instrument = self._instruments[m.name]
            if hasattr(instrument, "add"):
                instrument.add(m.value, attributes=attributes)
            else:
                instrument.record(m.value, attributes=attributes)
        if self._tracer is not None and event.key:
            self._trace(event)

    def _trace(self, event: Event) -> None:
        kind = event.kind
        if kind is EventKind.SUBMITTED:
            self._end(event.key, event, None)  # a span still open belongs to an earlier attempt
            attributes = {
                "seedance.provider": event.provider,
                "seedance.model": event.model or "",
                "seedance.key": event.key,
            }
            if event.task_id:
                attributes["seedance.task_id"] = event.task_id
            self._spans[event.key] = self._tracer.start_span(
                "seedance.task", start_time=_ns(event.at), attributes=attributes
            )
        elif kind in _SPAN_EVENTS:
            span = self._spans.get(event.key)
            if span is not None:
                span.add_event(kind.value, timestamp=_ns(event.at))
        elif kind is EventKind.FAILED_OVER:
            self._end(event.key, event, "failed_over")
        elif kind in FINAL_KINDS:
            self._end(event.key, event, kind.value)

    def _end(self, key: str, event: Event, outcome: str | None) -> None:
        span = self._spans.pop(key, None)
        if span is None:
            return
        assert _trace is not None
        if outcome is not None:
            span.set_attribute("seedance.outcome", outcome)
        if outcome == EventKind.SUCCEEDED.value:
            span.set_status(_trace.Status(_trace.StatusCode.OK))
        elif outcome is not None:
            span.set_status(_trace.Status(_trace.StatusCode.ERROR, outcome))
        span.end(end_time=_ns(event.at))
