"""Observability: metrics, traces and structured logs from the tracker's lifecycle events.

Every part is an event callback (``client.events.add_callback(...)``), so nothing in the
tracker is instrumented by hand and a program pays only for what it registers:

* :class:`PrometheusMetrics` counts and times what happens, and :class:`MetricsServer`
  serves it as Prometheus text (``seedance-async run --metrics-port``); no extra needed.
* :class:`OpenTelemetryObserver` records the same metrics as OpenTelemetry instruments, and
  one span per task attempt (the ``otel`` extra; a no-op without it).
* :class:`EventLogger` logs every state change, and :class:`JsonFormatter` writes records as
  JSON lines with secrets redacted (``seedance-async run --log-json``).

Labels and attributes name provider aliases, models and outcomes, never keys or tokens.
"""

from __future__ import annotations

from seedance_async.telemetry._logs import EventLogger, JsonFormatter, redact
from seedance_async.telemetry._measure import METRICS, MetricSpec
from seedance_async.telemetry._otel import OpenTelemetryObserver, otel_available
from seedance_async.telemetry._prometheus import MetricsServer, PrometheusMetrics

__all__ = [
    "METRICS",
    "EventLogger",
    "JsonFormatter",
    "MetricSpec",
    "MetricsServer",
    "OpenTelemetryObserver",
    "PrometheusMetrics",
    "otel_available",
    "redact",
]
