"""Tokens, and what a body may change: hints only for news, state only forward."""

from __future__ import annotations

import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.callbacks import (
    CallbackHint,
    CallbackReceiver,
    CallbackStats,
    CallbackToken,
    TokenRegistry,
)
from seedance_async.callbacks._receiver import Answer
from seedance_async.callbacks._registry import Entry, rank
from seedance_async.providers import create_adapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.spec import TaskState
from tests.callbacks._helpers import ark_body, encode, make_receiver

ARK = ArkAdapter()


def post(receiver: CallbackReceiver, token: CallbackToken, body: Any, source: str = "s") -> int:
    """One request through the receiver's checks, without HTTP: the status answered."""
    raw = body if isinstance(body, bytes) else encode(body)
    admitted = receiver.admit(
        token.reveal(), source=source, content_type="application/json", content_length=len(raw)
    )
    if isinstance(admitted, Answer):
        return admitted.status
    assert isinstance(admitted, Entry)  # no relay here
    return receiver.accept(admitted, raw, source=source).status


def registered(remote_id: str | None = "cgt-1") -> tuple[CallbackReceiver, CallbackToken]:
    receiver, _ = make_receiver()
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id=remote_id)
    return receiver, token


# -- tokens ---------------------------------------------------------------------------------


def test_tokens_are_random_masked_and_not_picklable() -> None:
    """256 random bits each; repr and str never show them; pickling is refused."""
    tokens = {CallbackToken.new().reveal() for _ in range(1000)}
    assert len(tokens) == 1000
    token = CallbackToken.new()
    assert len(token.reveal()) == 43
    assert token.reveal() not in repr(token) + str(token) + f"{token}"
    assert CallbackToken(token.reveal()) == token
    assert hash(CallbackToken(token.reveal())) == hash(token)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(token)


@pytest.mark.parametrize("text", ["", "short", "has/slash" * 4, "x" * 129, "é" * 30, "a b" * 10])
def test_a_malformed_token_is_refused_without_repeating_it(text: str) -> None:
    with pytest.raises(ValueError, match="22-128") as info:
        CallbackToken(text)
    assert not text or text not in str(info.value)


def test_registration_replaces_and_forgets() -> None:
    """A key re-registered gets a new token and the old one stops working (404)."""
    receiver, old = registered()
    new = receiver.register("k1", provider="ark-backup", adapter=ARK)
    assert new != old
    assert post(receiver, old, ark_body()) == 404
    assert post(receiver, new, ark_body()) == 200
    receiver.forget("k1")
    assert "k1" not in receiver.registry
    assert post(receiver, new, ark_body()) == 404
    receiver.forget("k1")  # twice: nothing to do
    # Notices for tokens of ended attempts are late, not guesses: no rejection counted.
    assert receiver.stats.late == 2
    assert receiver.stats.rejected == {}
    stranger = CallbackToken.new()
    assert post(receiver, stranger, ark_body()) == 404
    assert receiver.stats.rejected == {"unknown_token": 1}


def test_a_restored_token_keeps_receiving() -> None:
    """A journaled token registered again (a resumed run) is accepted as before."""
    _, token = registered()
    other, _ = make_receiver()
    other.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1", token=token)
    assert post(other, token, ark_body()) == 200
    (hint,) = other.drain()
    assert (hint.key, hint.claimed) == ("k1", TaskState.SUCCEEDED)
    with pytest.raises(ValueError, match="already registered"):
        other.register("k2", provider="ark", token=token)


def test_the_registry_holds_no_token() -> None:
    """Entries are keyed by the token's SHA-256: nothing in the registry reveals it."""
    receiver, token = registered()
    (entry,) = receiver.registry._by_digest.values()
    assert token.reveal() not in repr(entry) + repr(receiver.registry) + repr(receiver)
    assert all(token.reveal().encode() != d for d in receiver.registry._by_digest)


# -- what a body changes --------------------------------------------------------------------


def test_a_final_claim_asks_for_one_confirmation() -> None:
    """succeeded → one hint with the claimed state; the body's URL goes nowhere."""
    receiver, token = registered()
    assert post(receiver, token, ark_body(video_url="https://evil.invalid/x.mp4")) == 200
    (hint,) = receiver.drain()
    assert hint == CallbackHint(key="k1", provider="ark", claimed=TaskState.SUCCEEDED, at=0.0)
    assert {f.name for f in attrs.fields(CallbackHint)} == {"key", "provider", "claimed", "at"}
    assert receiver.stats.hints == 1


def test_queued_and_running_cost_nothing() -> None:
    """Non-final notices are noted, not confirmed: a GET would tell nothing to act on."""
    receiver, token = registered()
    post(receiver, token, ark_body(status="queued"))
    post(receiver, token, ark_body(status="running"))
    post(receiver, token, ark_body(status="running"))
    assert receiver.drain() == []
    stats = receiver.stats
    assert (stats.stale, stats.noted, stats.duplicates, stats.hints) == (1, 1, 1, 0)


def test_duplicates_and_stale_notices_change_nothing() -> None:
    """A repeated claim while one is being confirmed, and anything a GET already showed."""
    receiver, token = registered()
    for _ in range(3):
        post(receiver, token, ark_body())
    assert len(receiver.drain()) == 1
    assert receiver.stats.duplicates == 2
    assert receiver.observe("k1", TaskState.SUCCEEDED) is False
    assert receiver.stats.confirmed == 1
    for status in ("succeeded", "failed", "running", "queued"):
        post(receiver, token, ark_body(status=status))
    assert receiver.drain() == []
    assert receiver.stats.stale == 4


def test_out_of_order_notices_move_state_forward_only() -> None:
    """succeeded first, then the late queued and running: one hint, nothing after."""
    receiver, token = registered()
    for status in ("succeeded", "queued", "running"):
        post(receiver, token, ark_body(status=status))
    assert [h.claimed for h in receiver.drain()] == [TaskState.SUCCEEDED]
    receiver.observe("k1", TaskState.SUCCEEDED)
    post(receiver, token, ark_body(status="running"))
    assert receiver.drain() == []


def test_a_contradicted_claim_does_not_hide_the_true_notice() -> None:
    """A forged success disproved by the GET; the real success later still gets its hint."""
    receiver, token = registered()
    post(receiver, token, ark_body(video_url="https://results.forged.invalid/v.mp4"))
    assert len(receiver.drain()) == 1
    assert receiver.observe("k1", TaskState.QUEUED) is True  # a final claim, unfinished task
    assert receiver.stats.rejected["contradicted"] == 1
    post(receiver, token, ark_body(status="running"))
    post(receiver, token, ark_body())
    assert [h.claimed for h in receiver.drain()] == [TaskState.SUCCEEDED]
    assert receiver.observe("k1", TaskState.SUCCEEDED) is False
    assert receiver.stats.confirmed == 1


def test_a_claimed_success_that_failed_is_contradicted_without_recheck() -> None:
    receiver, token = registered()
    post(receiver, token, ark_body())
    receiver.drain()
    assert receiver.observe("k1", TaskState.FAILED) is False
    assert receiver.stats.rejected["contradicted"] == 1
    assert receiver.stats.confirmed == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b"{}",
        b'{"id": "cgt-1"}',
        b'{"id": "cgt-1", "status": {"a": 1}}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_an_unreadable_body_asks_for_one_confirmation_without_a_claim(body: bytes) -> None:
    """Counted ``malformed``; one claim-less hint until a GET answers; never an exception."""
    receiver, _ = make_receiver(max_body=1_000_000)
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
    assert post(receiver, token, body) == 200
    assert post(receiver, token, body) == 200
    (hint,) = receiver.drain()
    assert hint.claimed is None
    assert receiver.stats.rejected["malformed"] == 2
    receiver.observe("k1", TaskState.RUNNING)
    post(receiver, token, body)
    assert len(receiver.drain()) == 1


def test_a_body_for_another_task_is_not_believed() -> None:
    """A forged success for an id the provider never gave us: no claim, one confirmation."""
    receiver, token = registered()
    post(receiver, token, ark_body(task_id="cgt-forged"))
    (hint,) = receiver.drain()
    assert hint.claimed is None
    assert receiver.stats.rejected["task_id_mismatch"] == 1
    receiver.observe("k1", TaskState.QUEUED)
    assert receiver.stats.rejected["contradicted"] == 0  # nothing was claimed for k1


def test_before_the_submit_answer_any_id_is_taken() -> None:
    """Ark may post ``queued`` before the create answer arrives: the id is not known yet."""
    receiver, token = registered(remote_id=None)
    post(receiver, token, ark_body(task_id="cgt-9", status="succeeded"))
    assert [h.claimed for h in receiver.drain()] == [TaskState.SUCCEEDED]
    receiver.bind("k1", "cgt-9")
    with pytest.raises(KeyError):
        receiver.bind("nope", "cgt-0")


def test_a_body_queued_before_its_task_was_forgotten_is_stale() -> None:
    receiver, token = registered()
    post(receiver, token, ark_body())
    receiver.forget("k1")
    assert receiver.drain() == []
    assert receiver.stats.stale == 1


def test_observing_an_unknown_key_is_harmless() -> None:
    receiver, _ = registered()
    assert receiver.observe("nope", TaskState.SUCCEEDED) is False


def test_confirm_states_can_include_running() -> None:
    """Asked to, running claims are confirmed too, and a final one still follows."""
    stats = CallbackStats()
    registry = TokenRegistry(stats=stats, confirm_states=[TaskState.RUNNING, TaskState.SUCCEEDED])
    token = registry.register("k", provider="ark", adapter=ARK, remote_id="cgt-1")
    entry = registry.lookup(token.digest)
    assert entry is not None
    claims = [
        registry.process(entry, encode(ark_body(status=s)), 0.0)
        for s in ("running", "running", "succeeded")
    ]
    assert [None if c is None else c.claimed for c in claims] == [
        TaskState.RUNNING,
        None,
        TaskState.SUCCEEDED,
    ]


# -- properties -----------------------------------------------------------------------------

_STATUSES = ["queued", "running", "succeeded", "failed", "expired", "cancelled", "submitted"]
_events = st.lists(
    st.one_of(
        st.tuples(st.just("post"), st.sampled_from(_STATUSES), st.sampled_from(["cgt-1", "x"])),
        st.tuples(st.just("junk"), st.binary(max_size=40), st.just("")),
        st.tuples(st.just("observe"), st.sampled_from(list(TaskState)), st.just("")),
    ),
    max_size=40,
)


@given(_events)
def test_hints_only_ever_bring_news(events: list[tuple[str, Any, str]]) -> None:
    """Whatever arrives, in any order: between two GETs the hints' claims strictly rise,
    all above what a GET showed; a claim-less hint comes only when nothing is pending; no
    exception; every request answered 200; the counters add up."""
    receiver, token = registered()
    seen = 0
    claimless = 0
    since_get: list[CallbackHint] = []
    for kind, value, task_id in events:
        if kind == "observe":
            receiver.observe("k1", value)
            seen = max(seen, rank(value))
            since_get = []
            continue
        body = encode(ark_body(task_id, value)) if kind == "post" else value
        assert post(receiver, token, body) == 200
        for hint in receiver.drain():
            if hint.claimed is None:
                assert not since_get
                claimless += 1
            else:
                assert rank(hint.claimed) > seen
                previous = [h for h in since_get if h.claimed is not None]
                assert all(rank(hint.claimed) > rank(h.claimed) for h in previous)  # type: ignore[arg-type]
            since_get.append(hint)
    stats = receiver.stats
    # Each body ends up in exactly one bucket (an unreadable one may also ask for a GET).
    readable = stats.hints - claimless + stats.stale + stats.duplicates + stats.noted
    unread = stats.rejected["malformed"] + stats.rejected["task_id_mismatch"]
    assert stats.acknowledged == stats.received == readable + unread


@given(st.binary(max_size=2000))
def test_any_body_is_acknowledged_and_never_raises(body: bytes) -> None:
    receiver, token = registered()
    assert post(receiver, token, body) == 200
    for hint in receiver.drain():
        assert hint.key == "k1"


def test_which_adapters_say_they_post_callbacks() -> None:
    """Ark and its pass-through gateways do; GPTProto only when asked to send callback_url;
    AI/ML API and the unified gateway document none."""

    def caps(adapter: str, **options: Any) -> bool:
        return create_adapter(adapter, **options).capabilities.callbacks

    assert caps("ark")
    assert caps("ark", tasks_path="/v1/video/generations", name="gateway000")
    assert not caps("ark", callbacks=False)
    assert not caps("gptproto")
    assert caps("gptproto", undocumented_fields=True)
    assert not caps("aimlapi")
    assert not caps("unified")
