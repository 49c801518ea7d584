"""Every public answer we know of, run through its adapter.

``corpus/<provider>/*.json`` holds one answer per file with where it comes from:

* ``source.kind``: ``doc-example`` (an official or gateway documentation example, quoted),
  ``sdk`` (a shape an SDK's types or code define), ``recorded`` (seen in a run) or
  ``composed`` (a documented envelope holding documented values, where no single example
  shows both); ``source.where`` names the page, file or run.
* ``adapter``, ``options``: the adapter and its options.
* ``call``: ``submit``, ``status``, ``list`` or ``error``; ``http_status``, ``headers``,
  ``body``: the answer.
* ``expect``: what the parsed result must say. Keys left out are not checked; a key set to
  null must parse as None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from seedance_async.core._errors import ProviderError, QuotaExhausted, RateLimited
from seedance_async.core._wire import HttpResponse
from seedance_async.providers import create_adapter
from seedance_async.spec._status import EffectiveParams, TaskStatus, Usage

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*/*.json"))
KINDS = {"doc-example", "sdk", "recorded", "composed"}
CALLS = {"submit", "status", "list", "error"}


def load(path: Path) -> dict[str, Any]:
    """One corpus entry."""
    entry: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return entry


def response_of(entry: Mapping[str, Any]) -> HttpResponse:
    """The answer an entry describes."""
    return HttpResponse.from_json(entry["http_status"], entry["body"], entry.get("headers"))


def check_status(status: TaskStatus, expect: Mapping[str, Any]) -> None:
    """Compare the fields ``expect`` names."""
    for key, want in expect.items():
        got = getattr(status, key)
        if key == "state":
            assert got.value == want, key
        elif key == "effective":
            assert got == (None if want is None else EffectiveParams(**want)), key
        elif key == "usage":
            assert got == (None if want is None else Usage(**want)), key
        else:
            assert got == want, key


def test_the_corpus_covers_every_builtin_adapter() -> None:
    """Each built-in adapter has documented create and status answers in the corpus.

    Error answers too, except for the unified gateways, whose error envelope no public
    page documents (their error parsing has its own table tests).
    """
    covered = {(load(p)["adapter"], load(p)["call"]) for p in FILES}
    for adapter in ("ark", "aimlapi", "unified", "gptproto"):
        assert (adapter, "status") in covered, adapter
        assert (adapter, "submit") in covered, adapter
        if adapter != "unified":
            assert (adapter, "error") in covered, adapter


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_corpus_answer(path: Path) -> None:
    """The answer parses through its adapter to what ``expect`` says."""
    entry = load(path)
    source = entry["source"]
    assert source["kind"] in KINDS
    assert source["where"].strip()
    assert entry["call"] in CALLS
    adapter = create_adapter(entry["adapter"], **entry.get("options", {}))
    response = response_of(entry)
    expect = entry["expect"]
    match entry["call"]:
        case "submit":
            accepted = adapter.parse_submit(response)
            assert accepted.task_id == expect["task_id"]
            if "state" in expect:
                state = None if accepted.status is None else accepted.status.state.value
                assert state == expect["state"]
        case "status":
            status = adapter.parse_status(response, "asked-id")
            assert status.provider == entry["adapter"]
            check_status(status, expect)
        case "list":
            page = adapter.parse_list(response)
            assert page.total == expect["total"]
            assert len(page.items) == len(expect["items"])
            for item, want in zip(page.items, expect["items"], strict=True):
                check_status(item, want)
        case "error":
            error = adapter.classify_error(response)
            assert type(error).__name__ == expect["error"]
            with pytest.raises(ProviderError) as raised:
                adapter.parse_status(response, "asked-id")
            assert type(raised.value) is type(error)
            for key in ("code", "request_id", "retry_after"):
                if key in expect:
                    assert getattr(error, key) == expect[key], key
            if "retryable" in expect:
                assert isinstance(error, RateLimited)
                assert error.retryable is expect["retryable"]
            if isinstance(error, QuotaExhausted):
                assert not error.retryable
