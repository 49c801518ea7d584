"""Metrics, traces and logs of a simulated batch: what a collector or a log reader receives."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import aiohttp
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from seedance_async import Client, Outcome, PollSchedule, ProviderConfig, Tracker, VideoTask
from seedance_async.cli import main
from seedance_async.config import parse_provider_config
from seedance_async.core._errors import ConfigurationError
from seedance_async.core._events import Event, EventKind
from seedance_async.simulator import DEFAULT_KEY, KEY_ENV, Limits, Simulator
from seedance_async.telemetry import (
    EventLogger,
    JsonFormatter,
    MetricsServer,
    OpenTelemetryObserver,
    PrometheusMetrics,
    redact,
)

TIME_SCALE = 0.001
PRO = "doubao-seedance-1-0-pro-250528"
TASKS = 6


def _configs(sim: Simulator) -> list[ProviderConfig]:
    parsed = parse_provider_config(sim.provider_config(), where="simulator")
    return [
        attrs.evolve(c, submit_rpm=60_000.0, poll_rps=1000.0, max_running=50)
        for c in parsed.values()
        if c.alias == "ark"
    ]


async def _batch(*callbacks: object, download_dir: Path | None = None) -> list[Outcome]:
    """Six tasks on the simulator's ark alias, every callback registered on the client."""
    async with Simulator(seed=5, time_scale=TIME_SCALE, limits=Limits.unlimited()) as sim:
        client = Client(_configs(sim), env={KEY_ENV: DEFAULT_KEY}, seed=5)
        async with client:
            for callback in callbacks:
                client.events.add_callback(callback)  # type: ignore[arg-type]
            async with Tracker(
                client,
                schedule=PollSchedule().scaled(TIME_SCALE),
                seed=5,
                download_dir=download_dir,
            ) as tracker:
                handles = [
                    await tracker.submit(VideoTask(model=PRO, prompt=f"telemetry {n}"))
                    for n in range(TASKS)
                ]
            return [(await h.result()).outcome for h in handles]


def _bytes_in(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.mp4"))


async def test_the_prometheus_endpoint_serves_what_a_prometheus_client_parses(
    tmp_path: Path,
) -> None:
    metrics = PrometheusMetrics()
    async with MetricsServer(metrics, port=0) as server:
        outcomes = await _batch(metrics, download_dir=tmp_path)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{server.port}/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
    assert outcomes == [Outcome.SUCCEEDED] * TASKS
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }

    def at(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert at("seedance_submits_total", provider="ark", model=PRO) == TASKS
    assert at("seedance_outcomes_total", provider="ark", model=PRO, outcome="succeeded") == TASKS
    assert at("seedance_polls_total", provider="ark") > 0
    assert families["seedance_generation_time_seconds"].type == "histogram"
    assert at("seedance_generation_time_seconds_count", provider="ark", model=PRO) == TASKS
    bucket = "seedance_generation_time_seconds_bucket"
    assert at(bucket, provider="ark", model=PRO, le="+Inf") == TASKS
    assert at("seedance_detection_lag_seconds_count", provider="ark", model=PRO) == TASKS
    assert at("seedance_downloads_total", provider="ark") == TASKS
    written = _bytes_in(tmp_path)
    assert written > 0
    assert at("seedance_download_bytes_total", provider="ark") == written
    # The simulator's ark alias has no price in the shipped table: no cost, not 0 cost.
    assert not [k for k in samples if k[0] == "seedance_cost_total"]
    assert DEFAULT_KEY not in text


async def test_the_opentelemetry_readers_receive_metrics_and_one_span_per_task() -> None:
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    observer = OpenTelemetryObserver(
        meter_provider=MeterProvider(metric_readers=[reader]), tracer_provider=tracer_provider
    )
    assert observer.enabled
    outcomes = await _batch(observer)
    assert outcomes == [Outcome.SUCCEEDED] * TASKS

    spans = exporter.get_finished_spans()
    assert len(spans) == TASKS
    for span in spans:
        attributes = dict(span.attributes or {})
        assert span.name == "seedance.task"
        assert attributes["seedance.provider"] == "ark"
        assert attributes["seedance.model"] == PRO
        assert attributes["seedance.outcome"] == "succeeded"
        assert str(attributes["seedance.task_id"])
        assert DEFAULT_KEY not in json.dumps(attributes)
        assert attributes["seedance.key"]
        assert span.end_time is not None
        assert span.start_time is not None
        assert span.end_time >= span.start_time
    assert len({dict(s.attributes or {})["seedance.task_id"] for s in spans}) == TASKS

    data = reader.get_metrics_data()
    assert data is not None
    points: dict[str, list[object]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points[metric.name] = list(metric.data.data_points)
    (submits,) = points["seedance.submits"]
    assert submits.value == TASKS  # type: ignore[attr-defined]
    assert dict(submits.attributes) == {"provider": "ark", "model": PRO}  # type: ignore[attr-defined]
    (generation,) = points["seedance.generation_time"]
    assert generation.count == TASKS  # type: ignore[attr-defined]
    assert "seedance.polls" in points


def test_without_the_extra_the_observer_is_a_no_op() -> None:
    """A program that registers the observer keeps working where OpenTelemetry is absent."""
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from seedance_async.telemetry import OpenTelemetryObserver, otel_available\n"
        "from seedance_async.core._events import Event, EventKind\n"
        "o = OpenTelemetryObserver()\n"
        "o(Event(kind=EventKind.SUBMITTED, key='k', provider='ark', at=1.0, model='m'))\n"
        "print(otel_available(), o.enabled)\n"
    )
    done = subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


async def test_a_metrics_port_in_use_is_a_clear_startup_error(busy_port: int) -> None:
    with pytest.raises(ConfigurationError, match=f"metrics port {busy_port} on 127.0.0.1"):
        async with MetricsServer(PrometheusMetrics(), port=busy_port):
            pass


_LABEL_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)


@given(provider=_LABEL_TEXT, model=_LABEL_TEXT)
def test_any_label_value_survives_the_exposition(provider: str, model: str) -> None:
    """Quotes, backslashes and newlines in an alias or model id are escaped, not broken."""
    metrics = PrometheusMetrics()
    metrics(Event(kind=EventKind.SUBMITTED, key="k", provider=provider, at=1.0, model=model))
    families = {f.name: f for f in text_string_to_metric_families(metrics.render())}
    (sample,) = families["seedance_submits"].samples
    assert sample.labels == {"provider": provider, "model": model}
    assert sample.value == 1


def _log(formatter: logging.Formatter) -> tuple[logging.Logger, StringIO]:
    out = StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.telemetry.{id(out)}")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, out


def test_json_lines_never_carry_a_secret() -> None:
    """The key is redacted from the message, the extra fields and the traceback."""
    secret = "sk-live-0123456789abcdef"
    formatter = JsonFormatter(secrets=[secret])
    logger, out = _log(formatter)
    logger.info("sending with %s", secret, extra={"header": f"Bearer {secret}"})
    try:
        raise RuntimeError(f"refused key {secret}")
    except RuntimeError:
        logger.exception("request failed")
    logger.warning("config api_key=abc123xyz and Authorization: Bearer other-token-9")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 3
    assert secret not in out.getvalue()
    assert lines[0]["message"] == "sending with [redacted]"
    assert lines[0]["header"] == "Bearer [redacted]"
    assert "refused key [redacted]" in lines[1]["exception"]
    assert "abc123xyz" not in out.getvalue()
    assert "other-token-9" not in out.getvalue()
    assert secret not in repr(formatter)


def test_redact_leaves_ordinary_text_alone() -> None:
    assert redact("task cgt-123 succeeded on ark") == "task cgt-123 succeeded on ark"


def test_every_state_change_is_one_info_record_with_its_fields() -> None:
    logger, out = _log(JsonFormatter())
    events = EventLogger(logger)
    events(Event(kind=EventKind.SUBMITTED, key="k1", provider="ark", at=1.0, model=PRO))
    events(Event(kind=EventKind.POLLED, key="", provider="ark", at=2.0))
    logger.setLevel(logging.INFO)
    events(Event(kind=EventKind.POLLED, key="", provider="ark", at=3.0))  # DEBUG: dropped
    events(
        Event(kind=EventKind.FAILED, key="k1", provider="ark", at=4.0, detail="policy", model=PRO)
    )
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["level"], x["event"]) for x in lines] == [
        ("info", "submitted"),
        ("debug", "polled"),
        ("info", "failed"),
    ]
    assert lines[2]["message"] == "failed k1 on ark: policy"
    assert (lines[2]["key"], lines[2]["provider"], lines[2]["model"]) == ("k1", "ark", PRO)


def test_a_failover_ends_one_span_and_the_next_attempt_opens_another() -> None:
    """Spans follow attempts; the meter times queue and generation from the events."""
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    observer = OpenTelemetryObserver(
        meter_provider=MeterProvider(metric_readers=[reader]), tracer_provider=tracer_provider
    )

    def event(kind: EventKind, provider: str, at: float, **kw: object) -> None:
        observer(Event(kind=kind, key="k", provider=provider, at=at, model=PRO, **kw))  # type: ignore[arg-type]

    event(EventKind.SUBMITTED, "a", 10.0, task_id="t-a")
    event(EventKind.RUNNING, "a", 15.0, task_id="t-a")
    event(EventKind.FAILED_OVER, "a", 20.0, detail="InternalServiceError")
    event(EventKind.SUBMITTED, "b", 21.0, task_id="t-b")
    event(EventKind.SUCCEEDED, "b", 50.0, task_id="t-b", cost=(0.5, "USD"))

    first, second = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert dict(first.attributes or {})["seedance.provider"] == "a"
    assert dict(first.attributes or {})["seedance.outcome"] == "failed_over"
    assert not first.status.is_ok
    assert [e.name for e in first.events] == ["running"]
    assert (first.start_time, first.end_time) == (10 * 10**9, 20 * 10**9)
    assert dict(second.attributes or {})["seedance.task_id"] == "t-b"
    assert second.status.is_ok

    data = reader.get_metrics_data()
    assert data is not None
    points = {
        m.name: list(m.data.data_points)
        for r in data.resource_metrics
        for s in r.scope_metrics
        for m in s.metrics
    }
    (queue,) = points["seedance.queue_time"]
    assert (queue.count, queue.sum) == (1, 5.0)  # type: ignore[attr-defined]
    (generation,) = points["seedance.generation_time"]
    assert (generation.count, generation.sum) == (1, 29.0)  # type: ignore[attr-defined]
    (cost,) = points["seedance.cost"]
    assert cost.value == 0.5  # type: ignore[attr-defined]
    assert dict(cost.attributes) == {"provider": "b", "model": PRO, "currency": "USD"}  # type: ignore[attr-defined]
    (failover,) = points["seedance.failovers"]
    assert dict(failover.attributes) == {"provider": "a", "model": PRO}  # type: ignore[attr-defined]


def test_a_worker_metrics_port_in_use_exits_2_before_any_work(
    busy_port: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`worker --metrics-port` listens first: a busy port is a usage error, no Redis touched."""
    monkeypatch.setenv("ARK_API_KEY", "sk-worker-test")
    argv = ["worker", "--redis", "redis://127.0.0.1:9/0", "--batch", "b", "--provider", "ark"]
    assert main([*argv, "--metrics-port", str(busy_port)]) == 2
    assert f"metrics port {busy_port} on 127.0.0.1: cannot listen" in capsys.readouterr().err
