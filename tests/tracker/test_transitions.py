"""The tracker's decisions, as tables (h11's ``SIMPLE_CASES`` style): status → action, and
what to do with a key an earlier run journaled.

:func:`decide` is pure, so every case is plain data: the task as it was, the answer, the
tracker's rules, and the action expected. The property tests cover the rest of the space.
"""

from __future__ import annotations

from typing import Any, Final

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.journal._record import JournalRecord
from seedance_async.policy._failover import is_retryable_failure
from seedance_async.spec._codec import dump_result, load_result
from seedance_async.spec._handle import Attempt, Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import (
    FAILURE_CATEGORIES,
    FailureCategory,
    TaskState,
    TaskStatus,
)
from seedance_async.spec._task import VideoTask
from seedance_async.tracker._transitions import (
    Action,
    EndAttempt,
    Finish,
    KeepPolling,
    Reattach,
    Refetch,
    Refuse,
    Replay,
    RerunAction,
    Rules,
    SubmitNew,
    Succeed,
    decide,
    decide_rerun,
)


@attrs.frozen
class View:
    """A task as :func:`decide` sees it."""

    status: TaskStatus | None
    attempts: tuple[Attempt, ...]
    order: tuple[str, ...]


def status(
    state: TaskState,
    code: str | None = None,
    message: str | None = None,
    failure: FailureCategory | None = None,
) -> TaskStatus:
    return TaskStatus(
        provider="ark",
        task_id="t",
        state=state,
        error_code=code,
        error_message=message,
        failure=failure,
    )


def failed(
    code: str | None = "InternalServiceError",
    message: str | None = None,
    failure: FailureCategory | None = "internal",
) -> TaskStatus:
    """A failed answer, classified by the adapter (``failure``) as the built-in ones do."""
    return status(TaskState.FAILED, code, message, failure)


def attempt(alias: str, outcome: str = "submitted") -> Attempt:
    return Attempt(provider=alias, task_id=f"id-{alias}", outcome=outcome)


def view(
    previous: TaskState | None = None,
    attempts: tuple[Attempt, ...] = (attempt("a"),),
    order: tuple[str, ...] = ("a", "b"),
) -> View:
    return View(
        status=None if previous is None else status(previous), attempts=attempts, order=order
    )


Q, R = TaskState.QUEUED, TaskState.RUNNING
NO_DOWNLOAD, DOWNLOAD = Rules(downloads=False), Rules(downloads=True)
FAILED: Final = Outcome.FAILED
EXPIRED: Final = Outcome.EXPIRED

# (name, task before the answer, answer, rules, expected action)
SIMPLE_CASES: list[tuple[str, View, TaskStatus, Rules, Action]] = [
    # Not finished: keep polling; entering RUNNING is worth an event, once.
    ("first answer queued", view(), status(Q), NO_DOWNLOAD, KeepPolling(now_running=False)),
    ("first answer running", view(), status(R), NO_DOWNLOAD, KeepPolling(now_running=True)),
    ("queued to running", view(Q), status(R), NO_DOWNLOAD, KeepPolling(now_running=True)),
    ("still running", view(R), status(R), NO_DOWNLOAD, KeepPolling(now_running=False)),
    ("still queued", view(Q), status(Q), NO_DOWNLOAD, KeepPolling(now_running=False)),
    ("back to queued", view(R), status(Q), NO_DOWNLOAD, KeepPolling(now_running=False)),
    # Succeeded: download first when a folder is set.
    ("succeeded", view(R), status(TaskState.SUCCEEDED), NO_DOWNLOAD, Succeed(download=False)),
    (
        "succeeded, downloads on",
        view(R),
        status(TaskState.SUCCEEDED),
        DOWNLOAD,
        Succeed(download=True),
    ),
    (
        "cancelled remotely",
        view(R),
        status(TaskState.CANCELLED),
        NO_DOWNLOAD,
        Finish(outcome=Outcome.CANCELLED, reason="cancelled at the provider"),
    ),
    # The provider's own trouble moves the task to a provider not tried yet.
    (
        "internal error, another provider left",
        view(R),
        failed("InternalServiceError", "try again"),
        NO_DOWNLOAD,
        EndAttempt(outcome=FAILED, reason="InternalServiceError: try again", fail_over=True),
    ),
    (
        "generation timeout, code without message",
        view(R),
        failed("Timeout", None, "timeout"),
        NO_DOWNLOAD,
        EndAttempt(outcome=FAILED, reason="Timeout", fail_over=True),
    ),
    (
        "expired in the queue, another provider left",
        view(Q),
        status(TaskState.EXPIRED),
        NO_DOWNLOAD,
        EndAttempt(outcome=EXPIRED, reason="expired", fail_over=True),
    ),
    # Anything else would fail again, or is not worth paying twice on a guess.
    (
        "moderation",
        view(R),
        failed("OutputVideoSensitiveContentDetected", "blocked", "moderation"),
        NO_DOWNLOAD,
        EndAttempt(
            outcome=FAILED,
            reason="OutputVideoSensitiveContentDetected: blocked",
            fail_over=False,
        ),
    ),
    (
        "invalid parameter",
        view(R),
        failed("InvalidParameter", "ratio", "bad_input"),
        NO_DOWNLOAD,
        EndAttempt(outcome=FAILED, reason="InvalidParameter: ratio", fail_over=False),
    ),
    (
        "unclassified, without code or message",
        view(R),
        failed(None, None, None),
        NO_DOWNLOAD,
        EndAttempt(outcome=FAILED, reason="failed", fail_over=False),
    ),
    # Nowhere else to go.
    (
        "only provider",
        view(R, order=("a",)),
        failed(),
        NO_DOWNLOAD,
        EndAttempt(outcome=FAILED, reason="InternalServiceError", fail_over=False),
    ),
    (
        "every provider tried (refusals count as tried)",
        view(R, attempts=(attempt("b", "refused"), attempt("a"))),
        failed(),
        NO_DOWNLOAD,
        EndAttempt(outcome=FAILED, reason="InternalServiceError", fail_over=False),
    ),
    # The extra attempts are counted from earlier failures and expiries only.
    (
        "extra attempt used up",
        view(R, attempts=(attempt("a", "failed"), attempt("b")), order=("a", "b", "c")),
        failed(),
        NO_DOWNLOAD,
        EndAttempt(outcome=FAILED, reason="InternalServiceError", fail_over=False),
    ),
    (
        "an earlier expiry counts too",
        view(R, attempts=(attempt("a", "expired"), attempt("b")), order=("a", "b", "c")),
        status(TaskState.EXPIRED),
        NO_DOWNLOAD,
        EndAttempt(outcome=EXPIRED, reason="expired", fail_over=False),
    ),
    (
        "earlier refusals do not count",
        view(R, attempts=(attempt("a", "refused"), attempt("b")), order=("a", "b", "c")),
        failed(),
        NO_DOWNLOAD,
        EndAttempt(outcome=FAILED, reason="InternalServiceError", fail_over=True),
    ),
    (
        "more extra attempts allowed",
        view(R, attempts=(attempt("a", "failed"), attempt("b")), order=("a", "b", "c")),
        failed(),
        Rules(max_extra_attempts=2),
        EndAttempt(outcome=FAILED, reason="InternalServiceError", fail_over=True),
    ),
    (
        "no extra attempts at all",
        view(R),
        failed(),
        Rules(max_extra_attempts=0),
        EndAttempt(outcome=FAILED, reason="InternalServiceError", fail_over=False),
    ),
]


@pytest.mark.parametrize(
    ("before", "answer", "rules", "expected"),
    [case[1:] for case in SIMPLE_CASES],
    ids=[case[0] for case in SIMPLE_CASES],
)
def test_simple_cases(before: View, answer: TaskStatus, rules: Rules, expected: Action) -> None:
    assert decide(before, answer, rules) == expected


ALIASES = ("a", "b", "c")
OUTCOMES = ("submitted", "failed", "expired", "refused", "rejected", "unknown")


@st.composite
def views(draw: st.DrawFn) -> View:
    order = tuple(draw(st.permutations(ALIASES))[: draw(st.integers(1, len(ALIASES)))])
    earlier = draw(
        st.lists(
            st.builds(attempt, st.sampled_from(ALIASES), st.sampled_from(OUTCOMES)), max_size=4
        )
    )
    last = attempt(draw(st.sampled_from(order)))
    previous = draw(st.none() | st.sampled_from([Q, R]))
    return view(previous, attempts=(*earlier, last), order=order)


answers = st.builds(
    status,
    st.sampled_from(list(TaskState)),
    st.none() | st.sampled_from(["InternalServiceError", "InputTextRiskDetection", "E1"]),
    st.none() | st.text(max_size=8),
    st.none() | st.sampled_from(sorted(FAILURE_CATEGORIES)),
)
rules = st.builds(Rules, downloads=st.booleans(), max_extra_attempts=st.integers(0, 3))


@given(views(), answers, rules)
def test_unfinished_answers_keep_polling_and_finished_ones_never_do(
    before: View, answer: TaskStatus, rules: Rules
) -> None:
    action = decide(before, answer, rules)
    assert isinstance(action, KeepPolling) is (not answer.is_terminal)
    if isinstance(action, KeepPolling):
        previous = before.status.state if before.status else None
        assert action.now_running is (answer.state is R and previous is not R)
    if isinstance(action, EndAttempt):
        assert action.outcome.value == answer.state.value


@given(views(), answers, rules)
def test_failover_only_to_an_untried_provider_within_the_extra_attempts(
    before: View, answer: TaskStatus, rules: Rules
) -> None:
    action = decide(before, answer, rules)
    if isinstance(action, EndAttempt) and action.fail_over:
        tried = {a.provider for a in before.attempts}
        assert set(before.order) - tried
        earlier_failures = [a for a in before.attempts[:-1] if a.outcome in ("failed", "expired")]
        assert len(earlier_failures) < rules.max_extra_attempts
        assert answer.state in (TaskState.FAILED, TaskState.EXPIRED)
        assert is_retryable_failure(answer)  # the failover policy's call, not decide's


# -- a key the journal already holds (decide_rerun) ---------------------------------------------

MODEL = "doubao-seedance-1-0-pro-250528"
SPEC = VideoTask(model=MODEL, prompt="a heron", metadata={"row": 1})
NONCED = attrs.evolve(SPEC, execution_expires_after=172_000)  # as the intent records it
HANDLE = TaskHandle(
    provider="a", adapter="ark", model=MODEL, task_id="cgt-1", created_at=1.0, spec_hash="h"
)
CONFIGURED = ("a", "b")


def journaled(**changes: Any) -> JournalRecord:
    """A journal's record of one key, as SqliteJournal.get returns it."""
    base = JournalRecord(
        key="k", task=NONCED, state="intent", provider="a", intent_at=5.0, sent_at=5.1
    )
    return attrs.evolve(base, **changes)


DONE = status(TaskState.SUCCEEDED)
RESULT = TaskResult(
    key="k",
    task=SPEC,
    outcome=Outcome.SUCCEEDED,
    status=DONE,
    handle=HANDLE,
    attempts=(
        Attempt(provider="b", task_id=None, outcome="refused", reason="429"),
        Attempt(provider="a", task_id="cgt-1", outcome="submitted"),
    ),
    video_path="videos/k.mp4",
    submitted_at=1.0,
    finished_at=9.0,
)
FINAL = journaled(
    state="final",
    handle=HANDLE,
    last_status=DONE,
    result=load_result(dump_result(RESULT), NONCED, status=DONE, handle=HANDLE),
)
OTHER_SPEC = attrs.evolve(SPEC, prompt="a stork")
WITH_EXPIRY = attrs.evolve(SPEC, execution_expires_after=3600)

# (name, journal's record, spec submitted now, expected action)
RERUN_CASES: list[tuple[str, JournalRecord | None, VideoTask, RerunAction]] = [
    ("unknown key", None, SPEC, SubmitNew()),
    ("pending: never sent or not created", journaled(state="pending"), SPEC, SubmitNew()),
    ("pending under another spec", journaled(state="pending", task=OTHER_SPEC), SPEC, SubmitNew()),
    ("intent without answer", journaled(), SPEC, Reattach(entry=journaled().entry())),
    ("intent never sent (no stamp)", journaled(sent_at=None), SPEC, SubmitNew()),
    (
        "submitted",
        journaled(state="submitted", handle=HANDLE),
        SPEC,
        Reattach(entry=journaled(state="submitted", handle=HANDLE).entry()),
    ),
    (
        "running",
        journaled(state="running", handle=HANDLE, last_status=status(TaskState.RUNNING)),
        SPEC,
        Reattach(
            entry=journaled(
                state="running", handle=HANDLE, last_status=status(TaskState.RUNNING)
            ).entry()
        ),
    ),
    (
        "the caller's own expiry, journaled as is",
        journaled(task=WITH_EXPIRY),
        WITH_EXPIRY,
        Reattach(entry=journaled(task=WITH_EXPIRY).entry()),
    ),
    ("finished", FINAL, SPEC, Replay(result=RESULT)),
    (
        "finished without a result",
        journaled(state="final", handle=HANDLE, last_status=DONE),
        SPEC,
        Replay(
            result=TaskResult(
                key="k",
                task=SPEC,
                outcome=Outcome.UNKNOWN,
                status=DONE,
                handle=HANDLE,
                reason="journaled as finished without a result",
            )
        ),
    ),
    (
        "another spec under the key",
        journaled(task=OTHER_SPEC),
        SPEC,
        Refuse(
            outcome=Outcome.REJECTED,
            reason="the journal holds another spec under key 'k'; give this task a key of its own",
        ),
    ),
    (
        "another spec, finished",
        attrs.evolve(FINAL, task=OTHER_SPEC),
        SPEC,
        Refuse(
            outcome=Outcome.REJECTED,
            reason="the journal holds another spec under key 'k'; give this task a key of its own",
        ),
    ),
    (
        "another expiry the caller set (no nonce is drawn then)",
        journaled(task=attrs.evolve(SPEC, execution_expires_after=7200)),
        WITH_EXPIRY,
        Refuse(
            outcome=Outcome.REJECTED,
            reason="the journal holds another spec under key 'k'; give this task a key of its own",
        ),
    ),
    (
        "sent to a provider not configured",
        journaled(state="submitted", provider="gone", handle=attrs.evolve(HANDLE, provider="gone")),
        SPEC,
        Refuse(
            outcome=Outcome.UNKNOWN,
            reason="sent in an earlier run to provider 'gone', which is not configured; "
            "configure it to follow the task",
        ),
    ),
]


@pytest.mark.parametrize(
    ("record", "spec", "expected"),
    [case[1:] for case in RERUN_CASES],
    ids=[case[0] for case in RERUN_CASES],
)
def test_rerun_cases(record: JournalRecord | None, spec: VideoTask, expected: RerunAction) -> None:
    assert decide_rerun(record, spec, CONFIGURED) == expected


URL = attrs.evolve(DONE, video_url="https://cdn.example/v.mp4?sig=1")
NO_VIDEO = attrs.evolve(
    RESULT, status=URL, video_path=None, download_failed="video", reason="video download failed"
)
NO_FRAME = attrs.evolve(RESULT, status=URL, download_failed="last_frame", reason="frame failed")
NO_FOLDER = attrs.evolve(RESULT, status=URL, video_path=None)
SAVED = attrs.evolve(RESULT, status=URL)
NOT_A_SUCCESS = attrs.evolve(RESULT, outcome=Outcome.FAILED, status=URL, video_path=None)

# (name, journaled result, download folder set now, configured aliases, refetch?)
REFETCH_CASES: list[tuple[str, TaskResult, bool, tuple[str, ...], bool]] = [
    ("the video download failed", NO_VIDEO, True, CONFIGURED, True),
    ("only the last frame failed", NO_FRAME, True, CONFIGURED, True),
    ("that run had no download folder", NO_FOLDER, True, CONFIGURED, True),
    ("every file was saved", SAVED, True, CONFIGURED, False),
    ("no download folder now", NO_VIDEO, False, CONFIGURED, False),
    ("its provider is not configured now", NO_VIDEO, True, ("b",), False),
    ("no URL journaled", attrs.evolve(NO_VIDEO, status=DONE), True, CONFIGURED, False),
    ("not a success", NOT_A_SUCCESS, True, CONFIGURED, False),
]


@pytest.mark.parametrize(
    ("result", "downloads", "configured", "refetch"),
    [case[1:] for case in REFETCH_CASES],
    ids=[case[0] for case in REFETCH_CASES],
)
def test_a_success_without_its_files_is_refetched_not_resubmitted(
    result: TaskResult, downloads: bool, configured: tuple[str, ...], refetch: bool
) -> None:
    """Files only, never a submit: Refetch when a folder is set and the URL can be followed."""
    record = journaled(
        state="final",
        handle=HANDLE,
        last_status=result.status,
        result=load_result(dump_result(result), NONCED, status=result.status, handle=HANDLE),
    )
    action = decide_rerun(record, SPEC, configured, downloads=downloads)
    assert action == (Refetch(result=result) if refetch else Replay(result=result))


def test_a_replayed_result_reads_back_as_it_was_journaled() -> None:
    """Round trip: dump_result() in the journal, the same TaskResult out (the caller's spec)."""
    action = decide_rerun(FINAL, SPEC, CONFIGURED)
    assert isinstance(action, Replay)
    assert action.result == RESULT
