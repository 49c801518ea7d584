"""The spec's vocabulary: roles, resolutions, ratios, tiers, input images and their encoding.

A leaf of ``spec/``: the rules, the model catalog and the task itself all name these values,
and this module names none of them, so the spec has no import cycle.
"""

from __future__ import annotations

import base64
import enum
import os
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal, Protocol, Self, TypeVar

import attrs

from seedance_async.core._errors import InvalidTaskSpec, Violation

__all__ = [
    "OPTIONAL_FIELDS",
    "Audio",
    "AudioRoleName",
    "Image",
    "ImageRole",
    "Ratio",
    "RatioName",
    "Resolution",
    "ResolutionName",
    "RoleName",
    "ServiceTier",
    "ServiceTierName",
    "TaskFields",
    "TaskTypeName",
    "ToolName",
    "Video",
    "VideoRoleName",
    "base64_size",
    "encode_data_url",
]


OPTIONAL_FIELDS: tuple[str, ...] = (
    "resolution",
    "ratio",
    "duration",
    "frames",
    "seed",
    "camera_fixed",
    "watermark",
    "return_last_frame",
    "generate_audio",
    "service_tier",
    "execution_expires_after",
    "callback_url",
    "priority",
    "safety_identifier",
    "draft",
    "omni_reference_task_type",
    "output_format",
    "from_draft",
)
"""The optional generation settings of a :class:`VideoTask`, in wire order (None = unset)."""


class ImageRole(enum.StrEnum):
    """What an input image is for; the roles decide the generation scenario."""

    FIRST_FRAME = "first_frame"
    LAST_FRAME = "last_frame"
    REFERENCE_IMAGE = "reference_image"


class Resolution(enum.StrEnum):
    """Output resolution, named by the short side."""

    P480 = "480p"
    P720 = "720p"
    P1080 = "1080p"
    P4K = "4k"


class Ratio(enum.StrEnum):
    """Output aspect ratio. ``9:21`` and ``keep_ratio`` exist only on some gateways."""

    R16_9 = "16:9"
    R4_3 = "4:3"
    R1_1 = "1:1"
    R3_4 = "3:4"
    R9_16 = "9:16"
    R21_9 = "21:9"
    R9_21 = "9:21"
    KEEP_RATIO = "keep_ratio"
    ADAPTIVE = "adaptive"


class ServiceTier(enum.StrEnum):
    """Ark service tier: ``default`` (online) or ``flex`` (offline, cheaper, slower)."""

    DEFAULT = "default"
    FLEX = "flex"


RoleName = Literal["first_frame", "last_frame", "reference_image"]
"""The values of :class:`ImageRole`, for annotations: a typo is a type error."""

ResolutionName = Literal["480p", "720p", "1080p", "4k"]
"""The values of :class:`Resolution`, for annotations: a typo is a type error."""

RatioName = Literal["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21", "keep_ratio", "adaptive"]
"""The values of :class:`Ratio`, for annotations: a typo is a type error."""

ServiceTierName = Literal["default", "flex"]
"""The values of :class:`ServiceTier`, for annotations: a typo is a type error."""

VideoRoleName = Literal["reference_video"]
"""The one role of a :class:`Video` (a video is only ever a reference)."""

AudioRoleName = Literal["reference_audio"]
"""The one role of an :class:`Audio` (audio is only ever a reference)."""

ToolName = Literal["web_search"]
"""A tool the model may use while generating (Seedance 2.x): ``web_search``."""

TaskTypeName = Literal["auto", "reference", "edit", "extend"]
"""What a Seedance 2.5 reference task does with its reference video (``omni_reference_task_type``).

The neutral names; each adapter maps them to its provider's spelling (the spellings are disputed).
"""

OutputFormatName = Literal["mp4", "mov"]
"""The output container of Seedance 2.5 (``output_format``)."""

TOOL_NAMES: tuple[ToolName, ...] = ("web_search",)
TASK_TYPE_NAMES: tuple[TaskTypeName, ...] = ("auto", "reference", "edit", "extend")
OUTPUT_FORMAT_NAMES: tuple[OutputFormatName, ...] = ("mp4", "mov")

E = TypeVar("E", bound=enum.Enum)


def _coerce(cls: type[E], name: str, value: object) -> E:
    """An enum member from a member or its value; anything else is a violation of ``name``.

    Without this ``VideoTask(resolution="1080p")`` kept a plain string, which slipped past
    the identity checks of the rules and crashed adapters that read ``.value``.
    """
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in cls)
        raise InvalidTaskSpec(
            [Violation(field=name, rule=f"expected one of {allowed}", value=value)]
        ) from None


def _to_role(value: ImageRole | RoleName) -> ImageRole:
    return _coerce(ImageRole, "role", value)


def to_resolution(value: Resolution | ResolutionName | None) -> Resolution | None:
    return None if value is None else _coerce(Resolution, "resolution", value)


def to_ratio(value: Ratio | RatioName | None) -> Ratio | None:
    return None if value is None else _coerce(Ratio, "ratio", value)


def to_service_tier(value: ServiceTier | ServiceTierName | None) -> ServiceTier | None:
    return None if value is None else _coerce(ServiceTier, "service_tier", value)


def _to_path(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


def _bytes_repr(data: bytes | None) -> str:
    return "None" if data is None else f"<{len(data)} bytes>"


@attrs.frozen(kw_only=True)
class Image:
    """An input image: exactly one source (``url``, ``path`` or ``data``) and a role.

    Attributes:
        url: an ``https://`` URL, a ``data:image/<format>;base64,...`` URL or a provider
            asset id ``asset://<ASSET_ID>`` (Seedance 2.x).
        path: a local file, read and sent inline as a data URL at submit time.
        data: raw image bytes, sent inline as a data URL.
        role: first frame (the default), last frame or reference image.
    """

    url: str | None = None
    path: str | None = attrs.field(default=None, converter=_to_path)
    data: bytes | None = attrs.field(default=None, repr=_bytes_repr)
    role: ImageRole = attrs.field(default=ImageRole.FIRST_FRAME, converter=_to_role)

    @classmethod
    def from_url(cls, url: str, role: ImageRole | RoleName = ImageRole.FIRST_FRAME) -> Self:
        """An image given by an https or data URL."""
        return cls(url=url, role=role)

    @classmethod
    def from_path(
        cls, path: str | os.PathLike[str], role: ImageRole | RoleName = ImageRole.FIRST_FRAME
    ) -> Self:
        """An image read from a local file when the task is submitted."""
        return cls(path=path, role=role)

    @classmethod
    def from_bytes(cls, data: bytes, role: ImageRole | RoleName = ImageRole.FIRST_FRAME) -> Self:
        """An image given as raw bytes (PNG, JPEG, WebP, BMP, TIFF, GIF, HEIC)."""
        return cls(data=bytes(data), role=role)

    @property
    def source_count(self) -> int:
        """How many of url/path/data are set (valid images have exactly one)."""
        return sum(x is not None for x in (self.url, self.path, self.data))

    @property
    def is_local(self) -> bool:
        """True when the image must be read from disk before it can be sent."""
        return self.path is not None and self.url is None and self.data is None


def _to_video_role(value: object) -> VideoRoleName:
    if value != "reference_video":
        raise InvalidTaskSpec(
            [Violation(field="role", rule="expected reference_video", value=value)]
        )
    return "reference_video"


def _to_audio_role(value: object) -> AudioRoleName:
    if value != "reference_audio":
        raise InvalidTaskSpec(
            [Violation(field="role", rule="expected reference_audio", value=value)]
        )
    return "reference_audio"


ASSET_SCHEME = "asset://"
"""How a provider-side asset is named in a reference URL (``asset://<ASSET_ID>``)."""


@attrs.frozen(kw_only=True)
class Video:
    """A reference video (Seedance 2.x): exactly one source (``url``, ``path`` or ``data``).

    Providers take reference videos only as URLs or provider asset ids; a local file or bytes
    must first be uploaded somewhere the provider can fetch them (an uploader does that).

    Attributes:
        url: an ``https://`` URL or a provider asset id ``asset://<ASSET_ID>``.
        path: a local MP4 or MOV file (checked from its header before submit).
        data: raw MP4 or MOV bytes.
        role: always ``reference_video``.
    """

    url: str | None = None
    path: str | None = attrs.field(default=None, converter=_to_path)
    data: bytes | None = attrs.field(default=None, repr=_bytes_repr)
    role: VideoRoleName = attrs.field(default="reference_video", converter=_to_video_role)

    @classmethod
    def from_url(cls, url: str) -> Self:
        """A video given by an https URL or an ``asset://`` id."""
        return cls(url=url)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Self:
        """A local video file (it needs an uploader before a provider can use it)."""
        return cls(path=path)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """A video as raw bytes (it needs an uploader before a provider can use it)."""
        return cls(data=bytes(data))

    @property
    def source_count(self) -> int:
        """How many of url/path/data are set (valid videos have exactly one)."""
        return sum(x is not None for x in (self.url, self.path, self.data))

    @property
    def is_local(self) -> bool:
        """True when the video must be read from disk before it can be sent."""
        return self.path is not None and self.url is None and self.data is None


@attrs.frozen(kw_only=True)
class Audio:
    """A reference audio clip (Seedance 2.x): exactly one source (``url``, ``path`` or ``data``).

    Attributes:
        url: an ``https://`` URL, a ``data:audio/<format>;base64,...`` URL or an
            ``asset://<ASSET_ID>``.
        path: a local WAV or MP3 file, sent inline as a data URL where the provider
            takes base64 audio.
        data: raw WAV or MP3 bytes, sent inline the same way.
        role: always ``reference_audio``.
    """

    url: str | None = None
    path: str | None = attrs.field(default=None, converter=_to_path)
    data: bytes | None = attrs.field(default=None, repr=_bytes_repr)
    role: AudioRoleName = attrs.field(default="reference_audio", converter=_to_audio_role)

    @classmethod
    def from_url(cls, url: str) -> Self:
        """Audio given by an https URL, a data URL or an ``asset://`` id."""
        return cls(url=url)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Self:
        """A local WAV or MP3 file, read when the task is submitted."""
        return cls(path=path)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Audio as raw WAV or MP3 bytes."""
        return cls(data=bytes(data))

    @property
    def source_count(self) -> int:
        """How many of url/path/data are set (valid clips have exactly one)."""
        return sum(x is not None for x in (self.url, self.path, self.data))

    @property
    def is_local(self) -> bool:
        """True when the clip must be read from disk before it can be sent."""
        return self.path is not None and self.url is None and self.data is None


def to_images(value: Iterable[Image]) -> tuple[Image, ...]:
    return tuple(value)


def to_videos(value: Iterable[Video]) -> tuple[Video, ...]:
    return tuple(value)


def to_audios(value: Iterable[Audio]) -> tuple[Audio, ...]:
    return tuple(value)


def to_tools(value: Iterable[ToolName]) -> tuple[ToolName, ...]:
    if isinstance(value, str):
        # A bare string would become one tool per character.
        raise InvalidTaskSpec(
            [Violation(field="tools", rule="tools is a list of tool names", value=value)]
        )
    return tuple(value)


_NO_METADATA: Mapping[str, Any] = MappingProxyType({})


def freeze_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    # A read-only copy: the caller's dict may change later, the spec must not. Specs without
    # metadata share one empty mapping (112 bytes less per spec; 100,000 may be tracked).
    if not value:
        return _NO_METADATA
    return MappingProxyType(dict(value))


def encode_data_url(data: bytes, image_format: str, kind: str = "image") -> str:
    """``data:<kind>/<format>;base64,...`` as Ark and the gateways expect it."""
    return f"data:{kind}/{image_format.lower()};base64,{base64.b64encode(data).decode()}"


def base64_size(raw_size: int) -> int:
    """Bytes a payload of ``raw_size`` bytes occupies once base64-encoded."""
    return 4 * ((raw_size + 2) // 3)


class TaskFields(Protocol):
    """What the rules read of a task: :class:`~seedance_async.VideoTask` has all of it.

    The rules run inside ``VideoTask``'s constructor, so they cannot import the class; they
    name this shape instead, which keeps the spec free of import cycles, even type-only ones.
    """

    @property
    def model(self) -> str: ...
    @property
    def prompt(self) -> str: ...
    @property
    def images(self) -> tuple[Image, ...]: ...
    @property
    def resolution(self) -> Resolution | None: ...
    @property
    def ratio(self) -> Ratio | None: ...
    @property
    def duration(self) -> int | None: ...
    @property
    def frames(self) -> int | None: ...
    @property
    def seed(self) -> int | None: ...
    @property
    def camera_fixed(self) -> bool | None: ...
    @property
    def watermark(self) -> bool | None: ...
    @property
    def return_last_frame(self) -> bool | None: ...
    @property
    def generate_audio(self) -> bool | None: ...
    @property
    def service_tier(self) -> ServiceTier | None: ...
    @property
    def execution_expires_after(self) -> int | None: ...
    @property
    def callback_url(self) -> str | None: ...
    @property
    def metadata(self) -> Mapping[str, Any]: ...
    @property
    def videos(self) -> tuple[Video, ...]: ...
    @property
    def audios(self) -> tuple[Audio, ...]: ...
    @property
    def tools(self) -> tuple[ToolName, ...]: ...
    @property
    def priority(self) -> int | None: ...
    @property
    def safety_identifier(self) -> str | None: ...
    @property
    def draft(self) -> bool | None: ...
    @property
    def from_draft(self) -> str | None: ...
    @property
    def omni_reference_task_type(self) -> TaskTypeName | None: ...
    @property
    def output_format(self) -> OutputFormatName | None: ...
    @property
    def extra(self) -> Mapping[str, Any]: ...
    def images_with(self, role: ImageRole) -> tuple[Image, ...]: ...
