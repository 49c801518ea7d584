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

ResolutionName = Literal["480p", "720p", "1080p"]
"""The values of :class:`Resolution`, for annotations: a typo is a type error."""

RatioName = Literal["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21", "keep_ratio", "adaptive"]
"""The values of :class:`Ratio`, for annotations: a typo is a type error."""

ServiceTierName = Literal["default", "flex"]
"""The values of :class:`ServiceTier`, for annotations: a typo is a type error."""

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
        url: an ``https://`` URL or a ``data:image/<format>;base64,...`` URL.
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


def to_images(value: Iterable[Image]) -> tuple[Image, ...]:
    return tuple(value)


_NO_METADATA: Mapping[str, Any] = MappingProxyType({})


def freeze_metadata(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    # A read-only copy: the caller's dict may change later, the spec must not. Specs without
    # metadata share one empty mapping (112 bytes less per spec; 100,000 may be tracked).
    if not value:
        return _NO_METADATA
    return MappingProxyType(dict(value))


def encode_data_url(data: bytes, image_format: str) -> str:
    """``data:image/<format>;base64,...`` as Ark and the gateways expect it."""
    return f"data:image/{image_format.lower()};base64,{base64.b64encode(data).decode()}"


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
    def images_with(self, role: ImageRole) -> tuple[Image, ...]: ...
