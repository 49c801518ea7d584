"""The provider-neutral task spec: what to generate, not how any provider spells it.

A :class:`VideoTask` is validated when it is built, so an invalid one cannot exist: every
universal and per-model rule is checked and all violations are reported together. Rules
that depend on a provider, or that need to read local files, are checked by
:func:`seedance_async.validate` before a request is made.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Self, TypeVar

import attrs

from seedance_async.core._errors import InvalidTaskSpec, Violation

__all__ = [
    "OPTIONAL_FIELDS",
    "Image",
    "ImageRole",
    "Ratio",
    "Resolution",
    "ServiceTier",
    "VideoTask",
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


def _to_role(value: ImageRole | str) -> ImageRole:
    return _coerce(ImageRole, "role", value)


def _to_resolution(value: Resolution | str | None) -> Resolution | None:
    return None if value is None else _coerce(Resolution, "resolution", value)


def _to_ratio(value: Ratio | str | None) -> Ratio | None:
    return None if value is None else _coerce(Ratio, "ratio", value)


def _to_service_tier(value: ServiceTier | str | None) -> ServiceTier | None:
    return None if value is None else _coerce(ServiceTier, "service_tier", value)


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
    path: str | None = None
    data: bytes | None = attrs.field(default=None, repr=_bytes_repr)
    role: ImageRole = attrs.field(default=ImageRole.FIRST_FRAME, converter=_to_role)

    @classmethod
    def from_url(cls, url: str, role: ImageRole | str = ImageRole.FIRST_FRAME) -> Self:
        """An image given by an https or data URL."""
        return cls(url=url, role=ImageRole(role))

    @classmethod
    def from_path(cls, path: str, role: ImageRole | str = ImageRole.FIRST_FRAME) -> Self:
        """An image read from a local file when the task is submitted."""
        return cls(path=str(path), role=ImageRole(role))

    @classmethod
    def from_bytes(cls, data: bytes, role: ImageRole | str = ImageRole.FIRST_FRAME) -> Self:
        """An image given as raw bytes (PNG, JPEG, WebP, BMP, TIFF, GIF, HEIC)."""
        return cls(data=bytes(data), role=ImageRole(role))

    @property
    def source_count(self) -> int:
        """How many of url/path/data are set (valid images have exactly one)."""
        return sum(x is not None for x in (self.url, self.path, self.data))

    @property
    def is_local(self) -> bool:
        """True when the image must be read from disk before it can be sent."""
        return self.path is not None and self.url is None and self.data is None


def _to_images(value: Iterable[Image]) -> tuple[Image, ...]:
    return tuple(value)


_NO_METADATA: Mapping[str, Any] = MappingProxyType({})


def _freeze_metadata(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    # A read-only copy: the caller's dict may change later, the spec must not. Specs without
    # metadata share one empty mapping (112 bytes less per spec; 100,000 may be tracked).
    if not value:
        return _NO_METADATA
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class VideoTask:
    """One video generation, independent of the provider that will run it.

    Build it with keyword arguments or from a JSONL line with :meth:`from_dict`. Unset
    options are None and are not sent, so each provider applies its own default.

    Raises:
        InvalidTaskSpec: on construction, listing every universal and per-model rule broken.
    """

    model: str
    prompt: str = ""
    images: tuple[Image, ...] = attrs.field(default=(), converter=_to_images)
    resolution: Resolution | None = attrs.field(default=None, converter=_to_resolution)
    ratio: Ratio | None = attrs.field(default=None, converter=_to_ratio)
    duration: int | None = None
    frames: int | None = None
    seed: int | None = None
    camera_fixed: bool | None = None
    watermark: bool | None = None
    return_last_frame: bool | None = None
    generate_audio: bool | None = None
    service_tier: ServiceTier | None = attrs.field(default=None, converter=_to_service_tier)
    execution_expires_after: int | None = None
    callback_url: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze_metadata, hash=False)

    def __attrs_post_init__(self) -> None:
        from seedance_async.spec._rules import check_task

        check_task(self)

    # -- derived views -------------------------------------------------------------------

    def images_with(self, role: ImageRole) -> tuple[Image, ...]:
        """The images that have the given role, in order."""
        return tuple(i for i in self.images if i.role is role)

    @property
    def scenario(self) -> str:
        """``text``, ``first_frame``, ``first_last_frame`` or ``reference_images``."""
        from seedance_async.spec._rules import scenario_of

        return scenario_of(self)

    # -- JSON ----------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VideoTask:
        """Load one task from a plain JSON object (one JSONL batch line).

        Raises:
            InvalidTaskSpec: wrong types, unknown keys or broken rules; each violation
                names the JSON path (``images[1].role``).
        """
        from seedance_async.spec._codec import structure_task

        return structure_task(data)

    def to_dict(self) -> dict[str, Any]:
        """Dump to a plain JSON object that :meth:`from_dict` reads back unchanged."""
        from seedance_async.spec._codec import unstructure_task

        return unstructure_task(self)

    def spec_hash(self) -> str:
        """A stable hash of the spec (metadata included) for journals and dedup.

        Equal for two tasks that dump to the same JSON, across processes and versions of
        Python; local images are hashed by path, not by content.
        """
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def encode_data_url(data: bytes, image_format: str) -> str:
    """``data:image/<format>;base64,...`` as Ark and the gateways expect it."""
    return f"data:image/{image_format.lower()};base64,{base64.b64encode(data).decode()}"


def base64_size(raw_size: int) -> int:
    """Bytes a payload of ``raw_size`` bytes occupies once base64-encoded."""
    return 4 * ((raw_size + 2) // 3)
