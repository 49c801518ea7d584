"""Benchmarks: what the library costs users in CPU, memory, requests and latency.

Every figure is measured side by side with a baseline in the same run, on the same machine,
against the provider simulator running in its own process on loopback. Run the whole set
with ``make bench`` (``python -m benchmarks``); ``benchmarks/README.md`` has the latest table
and a reading of it. Timings are never asserted in tests: ``tests/test_benchmarks_smoke.py``
only proves that each benchmark runs and produces numbers.

Modules, one per question of the benchmarks issue:

* :mod:`benchmarks.bench_poll_cpu`: client CPU per poll, library vs a bare aiohttp loop;
* :mod:`benchmarks.bench_scale`: memory and scheduler cost with 10k and 100k tracked tasks;
* :mod:`benchmarks.bench_budget`: how much of a known (and an unknown) rate limit is used;
* :mod:`benchmarks.bench_lag`: detection lag and polls per task vs a fixed 5 s poller;
* :mod:`benchmarks.bench_submit`: client CPU per submit, with and without the SQLite journal;
* :mod:`benchmarks.bench_paths`: client CPU per request of every request path vs bare aiohttp;
* :mod:`benchmarks.bench_peers`: the same job through bare aiohttp, this library, the official
  Ark SDK and litellm (the last two optional, the ``bench`` extra).
"""
