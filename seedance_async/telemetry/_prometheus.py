"""Metrics in the Prometheus text format, and a small HTTP endpoint that serves them.

Hand-written exposition (format 0.0.4) rather than ``prometheus_client``: the metric set is
small and fixed (:data:`~._measure.METRICS`), the endpoint then needs no extra dependency
(aiohttp serves it, as it serves the callbacks receiver), and the text is what any
Prometheus client parses: the tests read it back with ``prometheus_client``'s own parser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from aiohttp import web

from seedance_async.core._errors import ConfigurationError
from seedance_async.core._events import Event
from seedance_async.telemetry._measure import METRICS, EventMeter, MetricSpec

__all__ = ["DEFAULT_BUCKETS", "MetricsServer", "PrometheusMetrics"]

PREFIX = "seedance_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: queue times are seconds to minutes, generations tens of seconds to an hour.
DEFAULT_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Histogram:
    __slots__ = ("count", "counts", "sum")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets
        self.count = 0
        self.sum = 0.0


class PrometheusMetrics:
    """Counters and histograms fed by lifecycle events; :meth:`render` gives the text.

    Register it as an event callback: ``client.events.add_callback(metrics)``.

    Args:
        buckets: upper bounds (seconds) of the histogram buckets.
    """

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self._meter = EventMeter()
        self._specs = {spec.name: spec for spec in METRICS}
        self._counters: dict[str, dict[tuple[str, ...], float]] = {}
        self._histograms: dict[str, dict[tuple[str, ...], _Histogram]] = {}
        for spec in METRICS:
            if spec.kind == "counter":
                self._counters[spec.name] = {}
            else:
                self._histograms[spec.name] = {}

    def __call__(self, event: Event) -> None:
        for m in self._meter.measure(event):
            if m.name in self._counters:
                series = self._counters[m.name]
                series[m.labels] = series.get(m.labels, 0.0) + m.value
                continue
            hist = self._histograms[m.name].get(m.labels)
            if hist is None:
                hist = self._histograms[m.name][m.labels] = _Histogram(len(self.buckets))
            hist.count += 1
            hist.sum += m.value
            for i, bound in enumerate(self.buckets):
                if m.value <= bound:
                    hist.counts[i] += 1

    def value(self, name: str, *labels: str) -> float:
        """A counter's current value (0 when never counted), e.g. ``value("submits", "ark", m)``."""
        return self._counters[name].get(tuple(labels), 0.0)

    def render(self) -> str:
        """Every metric in the Prometheus text exposition format (version 0.0.4)."""
        out: list[str] = []
        for spec in METRICS:
            if spec.kind == "counter":
                self._render_counter(spec, out)
            else:
                self._render_histogram(spec, out)
        return "\n".join(out) + "\n"

    def _render_counter(self, spec: MetricSpec, out: list[str]) -> None:
        name = f"{PREFIX}{spec.name}_total"
        out.append(f"# HELP {name} {spec.description}")
        out.append(f"# TYPE {name} counter")
        for labels, value in sorted(self._counters[spec.name].items()):
            out.append(f"{name}{_labels(spec.labels, labels)} {_number(value)}")

    def _render_histogram(self, spec: MetricSpec, out: list[str]) -> None:
        name = f"{PREFIX}{spec.name}_seconds"
        out.append(f"# HELP {name} {spec.description}")
        out.append(f"# TYPE {name} histogram")
        for labels, hist in sorted(self._histograms[spec.name].items()):
            for bound, n in zip(self.buckets, hist.counts, strict=True):
                le = f'le="{_number(bound)}"'
                out.append(f"{name}_bucket{_labels(spec.labels, labels, le)} {n}")
            inf = 'le="+Inf"'
            out.append(f"{name}_bucket{_labels(spec.labels, labels, inf)} {hist.count}")
            out.append(f"{name}_sum{_labels(spec.labels, labels)} {_number(hist.sum)}")
            out.append(f"{name}_count{_labels(spec.labels, labels)} {hist.count}")


class MetricsServer:
    """Serves ``GET /metrics`` from :class:`PrometheusMetrics`; use as ``async with``.

    Args:
        metrics: what to serve.
        port: the TCP port (0: any free one; see :attr:`port` once open).
        host: the address to listen on (loopback by default: open it wider on purpose).

    Raises:
        ConfigurationError: on entry, when the port cannot be listened on (in use, no rights).
    """

    def __init__(self, metrics: PrometheusMetrics, port: int, host: str = "127.0.0.1") -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def _serve(self, _: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE}
        )

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigurationError(
                f"metrics port {self.port} on {self.host}: cannot listen ({exc.strerror or exc})"
            ) from None
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or ()
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
