"""The adapter protocol: pure translation between the neutral model and one provider's wire.

An adapter never performs I/O and never reads a clock. The client calls it like this::

    request = adapter.build_submit(task)          # HttpRequest (no auth header)
    response = await transport.send(request)      # HttpResponse
    accepted = adapter.parse_submit(response)     # SubmitAccepted, or raises a ProviderError

and the same for status, cancel and list. ``parse_*`` methods raise the typed errors of
:mod:`seedance_async.core._errors` for error answers (``classify_error``) and
:class:`~seedance_async.MalformedResponse` for answers that do not fit, never KeyError or
TypeError. A status word outside the provider's vocabulary is
:class:`~seedance_async.core._errors.UnknownStatus` (with the word and the task id), never a
guessed state; a failed or expired status carries its neutral ``failure`` category, and
values the provider chose (duration, ratio, seed...) go in ``effective``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import attrs

from seedance_async.config._catalog import wire_facts
from seedance_async.core._errors import ConfigurationError, ProviderError, Violation
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import OPTIONAL_FIELDS, Ratio

__all__ = [
    "AdapterFactory",
    "ListQuery",
    "ProviderAdapter",
    "ProviderCapabilities",
    "SubmitAccepted",
    "TaskPage",
    "WithoutCancelOrList",
    "bearer",
]


def _ark(name: str) -> Any:
    # Unset facts default to Ark's (catalog/ark.toml): the format most providers pass through.
    return attrs.Factory(lambda: getattr(wire_facts("ark"), name))


@attrs.frozen(kw_only=True)
class ProviderCapabilities:
    """What a provider's wire format can express, and what its API offers.

    The seed range and ratios default to Ark's (``catalog/ark.toml``).

    Attributes:
        reference_images: the reference-image scenario can be expressed.
        first_last_frame: a last frame can be sent.
        image_roles_on_wire: images carry explicit roles (False: a bare list, order decides).
        inline_images: base64 data URLs are accepted (else only https URLs).
        seed_min / seed_max: the seed range the provider accepts.
        frames: ``frames`` can be sent.
        durations: the allowed durations, or None for the model's own range.
        ratios: the ratio values the wire format knows.
        max_prompt_chars: a hard prompt limit in characters, or None.
        models: the model families offered (None: any model id is passed through).
        fields: optional spec fields the wire format can carry (others must stay unset).
        can_cancel / can_list: the API has cancel / list endpoints.
        cancel_states: states in which a remote cancel is allowed.
        callbacks: the provider POSTs status changes to a task's ``callback_url``, with the
            task object a status GET answers as the body (so ``parse_status`` reads it).
        reference_videos / reference_audios: reference videos / audio clips can be sent
            (Seedance 2.x); videos always as URLs or asset ids.
        inline_audios: audio may go inline as a base64 data URL (else URLs and asset ids).
        tools: ``tools`` (web search) can be sent.
        body_fields: the body keys the adapter writes itself, which ``extra`` may not name.
    """

    reference_images: bool = True
    first_last_frame: bool = True
    image_roles_on_wire: bool = True
    inline_images: bool = True
    seed_min: int = _ark("seed_min")
    seed_max: int = _ark("seed_max")
    frames: bool = True
    durations: frozenset[int] | None = None
    ratios: frozenset[Ratio] = _ark("ratios")
    max_prompt_chars: int | None = None
    models: frozenset[str] | None = None
    fields: frozenset[str] = frozenset(OPTIONAL_FIELDS)
    can_cancel: bool = False
    can_list: bool = False
    cancel_states: frozenset[TaskState] = frozenset()
    callbacks: bool = False
    reference_videos: bool = False
    reference_audios: bool = False
    inline_audios: bool = False
    tools: bool = False
    body_fields: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class SubmitAccepted:
    """The provider accepted a submit: its task id and, when it said, the first status."""

    task_id: str
    status: TaskStatus | None = None


@attrs.frozen(kw_only=True)
class ListQuery:
    """A list request (Ark-style); unset filters are not sent.

    Attributes:
        task_ids: only these ids (``filter.task_ids``, repeated).
        status / model / service_tier: filters.
        page_num / page_size: 1-based page, 1..500 per page.
    """

    task_ids: tuple[str, ...] = ()
    status: TaskState | None = None
    model: str | None = None
    service_tier: str | None = None
    page_num: int = 1
    page_size: int = 100


@attrs.frozen(kw_only=True)
class TaskPage:
    """One page of a list answer."""

    total: int
    items: tuple[TaskStatus, ...]


@runtime_checkable
class ProviderAdapter(Protocol):
    """A provider's wire format as pure functions. Implement this to add a provider."""

    name: str
    capabilities: ProviderCapabilities

    def check(self, task: VideoTask) -> list[Violation]:
        """Violations of this provider's rules (beyond the universal and per-model ones)."""
        ...

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The headers that carry the key; the transport sends them to the API host only."""
        ...

    def build_submit(self, task: VideoTask) -> HttpRequest:
        """The create-task request; local images must already be loaded as bytes."""
        ...

    def parse_submit(self, response: HttpResponse) -> SubmitAccepted:
        """The task id from a create answer; raises ProviderError subclasses on errors."""
        ...

    def build_status(self, task_id: str) -> HttpRequest:
        """The request that fetches one task."""
        ...

    def parse_status(self, response: HttpResponse, task_id: str) -> TaskStatus:
        """A neutral status from a get-task answer."""
        ...

    def build_cancel(self, task_id: str) -> HttpRequest | None:
        """The cancel request, or None when the provider has no cancel."""
        ...

    def parse_cancel(self, response: HttpResponse, task_id: str) -> None:
        """Check a cancel answer; raises ProviderError subclasses on errors."""
        ...

    def build_list(self, query: ListQuery) -> HttpRequest | None:
        """The list request, or None when the provider has no list endpoint."""
        ...

    def parse_list(self, response: HttpResponse) -> TaskPage:
        """A page of neutral statuses from a list answer."""
        ...

    def classify_error(self, response: HttpResponse) -> ProviderError:
        """The typed error for a non-2xx answer (never raises it)."""
        ...


class AdapterFactory(Protocol):
    """Builds an adapter from its options (``tasks_path=...``); adapter classes qualify."""

    def __call__(self, **options: Any) -> ProviderAdapter: ...


def bearer(api_key: str) -> dict[str, str]:
    """``Authorization: Bearer <key>``, the form every documented provider uses."""
    return {"Authorization": f"Bearer {api_key}"}


class WithoutCancelOrList:
    """For adapters of providers that document neither a cancel nor a list endpoint.

    ``build_*`` return None, which tells the client there is nothing to send;
    ``parse_*`` are never reached and say so if they are.
    """

    name: str

    def build_cancel(self, task_id: str) -> HttpRequest | None:
        """None: no cancel endpoint is documented."""
        return None

    def parse_cancel(self, response: HttpResponse, task_id: str) -> None:
        """Never called, since :meth:`build_cancel` returns None.

        Raises:
            ConfigurationError: always; this provider has no cancel endpoint.
        """
        raise ConfigurationError(f"provider {self.name} has no cancel endpoint")

    def build_list(self, query: ListQuery) -> HttpRequest | None:
        """None: no list endpoint is documented."""
        return None

    def parse_list(self, response: HttpResponse) -> TaskPage:
        """Never called, since :meth:`build_list` returns None.

        Raises:
            ConfigurationError: always; this provider has no list endpoint.
        """
        raise ConfigurationError(f"provider {self.name} has no list endpoint")
