"""The image rules of a Seedance task: sources, roles, bytes, files and the body limit.

The limits come from ``catalog/seedance.toml`` (:func:`universal_rules`); the checks are
here. Images are the one part of a task whose checks need its bytes, so they live apart from the field rules in
:mod:`seedance_async.spec._rules`, which calls them:

* :func:`check_images` - sources and roles (no bytes needed);
* :func:`check_inline_images` - in-memory images (``data`` or a ``data:`` URL): format,
  size, dimensions and aspect ratio, checked on construction;
* :func:`check_local_images` - the same rules for local files; they need disk reads, so
  they run not on construction but from :func:`~seedance_async.spec._rules.validate` and
  the batch reader.

Images are also what make a request body large, so the whole-body limit is estimated here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from seedance_async.core._errors import Violation
from seedance_async.spec._catalog import ModelCapabilities, model_capabilities, universal_rules
from seedance_async.spec._image_sniff import (
    ImageInfo,
    NotAnImage,
    parse_data_url,
    sniff_bytes,
    sniff_file,
)
from seedance_async.spec._vocab import ASSET_SCHEME, Image, ImageRole, TaskFields, base64_size

__all__ = [
    "check_images",
    "check_inline_images",
    "check_local_images",
]

# Room for the JSON around the images when estimating the body size.
_BODY_OVERHEAD = 16 * 1024


def check_images(task: TaskFields) -> Iterator[Violation]:
    """Violations of the source and role rules of a task's images (no bytes read)."""
    for n, image in enumerate(task.images):
        if image.source_count != 1:
            yield Violation(
                field=f"images[{n}]",
                rule="an image needs exactly one source: url, path or data",
                value=f"{image.source_count} sources",
            )
        if image.url is not None and not image.url.startswith(
            ("https://", "http://", "data:", ASSET_SCHEME)
        ):
            yield Violation(
                field=f"images[{n}].url",
                rule="image url must be an http(s) URL, a data:image/<format>;base64 URL or asset://<id>",
                value=image.url[:80],
            )
    roles = [i.role for i in task.images]
    firsts = roles.count(ImageRole.FIRST_FRAME)
    lasts = roles.count(ImageRole.LAST_FRAME)
    refs = roles.count(ImageRole.REFERENCE_IMAGE)
    if refs and (firsts or lasts):
        yield Violation(
            field="images",
            rule="first/last frame images cannot be mixed with reference images (the scenarios are exclusive)",
            value=[r.value for r in roles],
        )
    if firsts > 1 or lasts > 1:
        yield Violation(
            field="images",
            rule="at most one first_frame and one last_frame image",
            value=[r.value for r in roles],
        )
    if lasts and not firsts:
        yield Violation(
            field="images",
            rule="a last_frame image needs a first_frame image",
            value=[r.value for r in roles],
        )
    most = universal_rules().max_reference_images
    if refs > most:
        yield Violation(field="images", rule=f"1 to {most} reference images", value=refs)


def _image_info_violations(
    field: str, info: ImageInfo, size: int, formats: Iterable[str]
) -> Iterator[Violation]:
    rules = universal_rules()
    allowed = frozenset(formats)
    if info.format not in allowed:
        yield Violation(
            field=field,
            rule=f"image format must be one of {', '.join(sorted(allowed))}",
            value=info.format,
        )
    if size >= rules.image_max_bytes:
        yield Violation(
            field=field,
            rule=f"image must be smaller than {_megabytes(rules.image_max_bytes)}",
            value=f"{size} bytes",
        )
    if info.width is None or info.height is None:
        return
    w, h = info.width, info.height
    low, high = rules.image_side_min_excl, rules.image_side_max_excl
    if not (low < w < high and low < h < high):
        yield Violation(
            field=field,
            rule=f"image width and height must be within ({low}, {high}) px",
            value=f"{w}x{h}",
        )
    low_aspect, high_aspect = rules.image_aspect_min_excl, rules.image_aspect_max_excl
    if h and not low_aspect < w / h < high_aspect:
        yield Violation(
            field=field,
            rule=f"image aspect ratio (width/height) must be within ({low_aspect:g}, {high_aspect:g})",
            value=f"{w}x{h}",
        )


def _formats(caps: ModelCapabilities | None) -> frozenset[str]:
    return caps.image_formats if caps is not None else universal_rules().image_formats


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def _body_violation(body: int) -> Violation | None:
    limit = universal_rules().request_max_bytes
    if body <= limit:
        return None
    return Violation(
        field="images",
        rule=f"the whole request must be at most {_megabytes(limit)}",
        value=f"~{body} bytes",
    )


def _inline_payload(field: str, image: Image) -> tuple[bytes | None, str | None, Violation | None]:
    """Bytes and declared format of an in-memory image, or the violation that stops us."""
    if image.data is not None:
        return image.data, None, None
    if image.url is not None and image.url.startswith("data:"):
        try:
            fmt, raw = parse_data_url(image.url)
        except ValueError as exc:
            return None, None, Violation(field=f"{field}.url", rule=str(exc), value=image.url[:60])
        return raw, fmt, None
    return None, None, None


def check_inline_images(task: TaskFields, caps: ModelCapabilities | None) -> Iterator[Violation]:
    """Violations of the image rules for in-memory images, and of the whole-body limit."""
    body = _BODY_OVERHEAD + len(task.prompt.encode())
    for n, image in enumerate(task.images):
        field = f"images[{n}]"
        raw, declared, problem = _inline_payload(field, image)
        if problem is not None:
            yield problem
            continue
        if raw is None:
            continue
        body += base64_size(len(raw)) + 32
        try:
            info = sniff_bytes(raw)
        except NotAnImage as exc:
            yield Violation(
                field=field,
                rule=f"image data must be a known image format ({exc})",
                value=f"{len(raw)} bytes",
            )
            continue
        if (
            declared is not None
            and declared != info.format
            and (declared, info.format) not in {("jpg", "jpeg"), ("tif", "tiff")}
        ):
            yield Violation(
                field=f"{field}.url",
                rule="data URL format must match the image bytes (data:image/<lowercase format>)",
                value=f"declared {declared}, bytes are {info.format}",
            )
        yield from _image_info_violations(field, info, len(raw), _formats(caps))
    too_big = _body_violation(body)
    if too_big is not None:
        yield too_big


def check_local_images(task: TaskFields) -> list[Violation]:
    """Violations of the image rules for local files (reads headers; call off the event loop)."""
    caps = model_capabilities(task.model)
    out: list[Violation] = []
    body = _BODY_OVERHEAD + len(task.prompt.encode())
    for n, image in enumerate(task.images):
        raw, _, _ = _inline_payload(f"images[{n}]", image)
        if raw is not None:
            body += base64_size(len(raw)) + 32
        if not image.is_local or image.path is None:
            continue
        field = f"images[{n}].path"
        try:
            size = os.path.getsize(image.path)
            info = sniff_file(image.path)
        except OSError as exc:
            out.append(
                Violation(
                    field=field,
                    rule=f"image file must be readable ({exc.strerror})",
                    value=image.path,
                )
            )
            continue
        except NotAnImage as exc:
            out.append(
                Violation(
                    field=field,
                    rule=f"image file must be a known image format ({exc})",
                    value=image.path,
                )
            )
            continue
        body += base64_size(size) + 32
        out += _image_info_violations(field, info, size, _formats(caps))
    too_big = _body_violation(body)
    if too_big is not None:
        out.append(too_big)
    return out
