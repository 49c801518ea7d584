"""The provider-neutral task spec: what to generate, not how any provider spells it.

A :class:`VideoTask` is validated when it is built, so an invalid one cannot exist: every
universal and per-model rule is checked and all violations are reported together. Rules
that depend on a provider, or that need to read local files, are checked by
:func:`seedance_async.validate` before a request is made. JSON forms and the spec hash
belong to the codec (:mod:`seedance_async.spec`), not to the class.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import attrs

from seedance_async.core._errors import InvalidTaskSpec, Violation
from seedance_async.spec._image_rules import check_local_images
from seedance_async.spec._media_files import check_local_media
from seedance_async.spec._rules import check_task, scenario_of
from seedance_async.spec._vocab import (
    Audio,
    Image,
    ImageRole,
    OutputFormatName,
    Ratio,
    Resolution,
    ServiceTier,
    TaskTypeName,
    ToolName,
    Video,
    freeze_mapping,
    to_audios,
    to_images,
    to_ratio,
    to_resolution,
    to_service_tier,
    to_tools,
    to_videos,
)

__all__ = ["ProviderChecker", "VideoTask", "trusted_specs", "validate"]

# Set while the codec rebuilds specs this library validated and stored itself (journal rows,
# Redis records): their rules held when they were written, so checking them again on every
# read only costs time. User input never takes this path.
_TRUSTED: ContextVar[bool] = ContextVar("seedance_async_trusted_specs", default=False)


@contextmanager
def trusted_specs() -> Iterator[None]:
    """Within the block, building a VideoTask skips the rules (types are still checked)."""
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


@attrs.frozen(kw_only=True)
class VideoTask:
    """One video generation, independent of the provider that will run it.

    Build it with keyword arguments or from a JSONL line with :func:`load_task`. Unset
    options are None and are not sent, so each provider applies its own default.

    Seedance 2.x adds reference ``videos`` and ``audios`` (with reference ``images`` they make
    the multimodal reference scenario), ``tools`` (``web_search``), ``priority`` (0-9, queue
    order within one endpoint), ``safety_identifier`` (a stable hash of your end user, at
    most 64 characters), ``draft`` (a cheap 480p preview on models that have drafts) and, on
    2.5, ``omni_reference_task_type`` and ``output_format``. ``from_draft`` (a succeeded
    draft's task id) makes the final video of that draft: the provider reuses the draft's
    prompt, media, seed, ratio, duration and audio, so a final sets none of them, only its
    own options (resolution, watermark, ...); :meth:`Client.finalize` builds one from a
    draft's handle and sends it where the draft ran. ``extra`` passes fields this
    library does not model yet into the request body; it may not name a field the library
    sends itself.

    Raises:
        InvalidTaskSpec: on construction, listing every universal and per-model rule broken.
    """

    model: str
    prompt: str = ""
    images: tuple[Image, ...] = attrs.field(default=(), converter=to_images)
    resolution: Resolution | None = attrs.field(default=None, converter=to_resolution)
    ratio: Ratio | None = attrs.field(default=None, converter=to_ratio)
    duration: int | None = None
    frames: int | None = None
    seed: int | None = None
    camera_fixed: bool | None = None
    watermark: bool | None = None
    return_last_frame: bool | None = None
    generate_audio: bool | None = None
    service_tier: ServiceTier | None = attrs.field(default=None, converter=to_service_tier)
    execution_expires_after: int | None = None
    callback_url: str | None = None
    videos: tuple[Video, ...] = attrs.field(default=(), converter=to_videos)
    audios: tuple[Audio, ...] = attrs.field(default=(), converter=to_audios)
    tools: tuple[ToolName, ...] = attrs.field(default=(), converter=to_tools)
    priority: int | None = None
    safety_identifier: str | None = None
    draft: bool | None = None
    omni_reference_task_type: TaskTypeName | None = None
    output_format: OutputFormatName | None = None
    from_draft: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze_mapping, hash=False)
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze_mapping, hash=False)
    # The spec hash, computed once per value by the codec: a task's key is needed by the
    # journal, the handle and the results line, and each would otherwise re-serialise it.
    _hash: str | None = attrs.field(
        init=False, default=None, eq=False, hash=False, repr=False, alias="_hash"
    )

    def __attrs_post_init__(self) -> None:
        if not _TRUSTED.get():
            check_task(self)

    # -- derived views -------------------------------------------------------------------

    def images_with(self, role: ImageRole) -> tuple[Image, ...]:
        """The images that have the given role, in order."""
        return tuple(i for i in self.images if i.role is role)

    @property
    def scenario(self) -> str:
        """``text``, ``first_frame``, ``first_last_frame``, ``reference_images`` (reference images
        only) or ``multimodal_reference`` (reference videos or audios, images optional)."""
        return scenario_of(self)

    @property
    def has_local_files(self) -> bool:
        """True when an image, video or audio clip is a local path (read before submit)."""
        return (
            any(i.is_local for i in self.images)
            or any(v.is_local for v in self.videos)
            or any(a.is_local for a in self.audios)
        )

    @property
    def has_video_input(self) -> bool:
        """True with reference videos: providers price such tasks differently."""
        return bool(self.videos)


class ProviderChecker(Protocol):
    """Anything that can list the provider-specific violations of a task (an adapter)."""

    def check(self, task: VideoTask) -> list[Violation]:
        """Violations of this provider's rules."""
        ...


def validate(
    task: VideoTask, *, provider: ProviderChecker | None = None, check_files: bool = True
) -> None:
    """Check the rules a :class:`~seedance_async.VideoTask` could not check on construction.

    Args:
        task: the spec (already valid against universal and per-model rules).
        provider: an adapter whose own rules apply (seed range, fields it can express...).
        check_files: read the headers of local image, video and audio files (blocking
            disk reads).

    Raises:
        InvalidTaskSpec: listing every provider and file violation at once.
    """
    out: list[Violation] = []
    if provider is not None:
        out += provider.check(task)
    if check_files:
        out += check_local_images(task)
        out += check_local_media(task)
    if out:
        raise InvalidTaskSpec(out)
