"""Reading a JSONL batch file: one :class:`VideoTask` per line, every bad line reported.

Each non-blank line is checked in three layers, and every problem is reported as
``file:line: $.json.path: rule`` so a user can go straight to it:

1. the line is UTF-8 and one JSON object (strict JSON: no ``NaN``);
2. :meth:`VideoTask.from_dict`: types, unknown fields, universal and per-model rules;
3. at least one chosen provider can express the spec (each adapter's ``check``), and local
   image files are readable, known formats and within the size limits (header reads only).

A bad line never stops the others. Lines with the same spec (same :meth:`VideoTask.spec_hash`,
metadata included) collapse into one task with a warning: the hash is the task's key in the
journal, and running one spec twice would pay twice for the same video.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import attrs

from seedance_async.core._errors import InvalidTaskSpec, Violation
from seedance_async.spec._codec import load_task, task_hash
from seedance_async.spec._image_rules import check_local_images
from seedance_async.spec._media_files import check_local_media
from seedance_async.spec._task import ProviderChecker, VideoTask

__all__ = ["Batch", "BatchLine", "LineProblem", "json_path", "read_batch"]


def json_path(field: str) -> str:
    """A violation's field (``images[1].role``) as a JSON path (``$.images[1].role``)."""
    if field in ("", "$"):
        return "$"
    if field.startswith("$"):
        return field
    return f"${field}" if field.startswith("[") else f"$.{field}"


@attrs.frozen(kw_only=True)
class LineProblem:
    """One problem with one line of a batch file.

    Attributes:
        file: the batch file as the user named it.
        line_no: 1-based line number.
        path: JSON path of the offending value (``$`` for the whole line).
        rule: the rule broken, in words.
        value: the offending value (shortened when shown), if any.
        warning: True for a warning (the line still runs), False for an error.
    """

    file: str
    line_no: int
    path: str
    rule: str
    value: Any = None
    warning: bool = False

    def __str__(self) -> str:
        # Violation.__str__ shortens long values the same way the library does elsewhere.
        text = str(Violation(field=self.path, rule=self.rule, value=self.value))
        return f"{self.file}:{self.line_no}: {'warning: ' if self.warning else ''}{text}"


@attrs.frozen(kw_only=True)
class BatchLine:
    """One valid task of a batch: where it came from and its journal key (the spec hash)."""

    line_no: int
    key: str
    task: VideoTask


@attrs.frozen(kw_only=True)
class Batch:
    """A batch file read and checked.

    Attributes:
        file: the batch file as named.
        lines: valid tasks in file order, one per distinct spec.
        problems: errors and warnings in file order.
        line_count: non-blank lines read.
        digest: sha256 (hex) of the file's bytes, the batch's identity in a journal.
    """

    file: str
    lines: tuple[BatchLine, ...]
    problems: tuple[LineProblem, ...]
    line_count: int
    digest: str = ""

    @property
    def errors(self) -> tuple[LineProblem, ...]:
        """Problems that stopped a line."""
        return tuple(p for p in self.problems if not p.warning)

    @property
    def invalid_lines(self) -> int:
        """How many lines have at least one error."""
        return len({p.line_no for p in self.errors})


def _refuse_constant(name: str) -> NoReturn:
    # json.loads accepts NaN and Infinity by default; no provider does.
    raise ValueError(f"{name} is not valid JSON")


def _parse(raw: bytes) -> tuple[Any, str | None]:
    """(decoded JSON, None) or (None, why the line is not one JSON value)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"line is not UTF-8 text (byte {exc.start + 1})"
    try:
        return json.loads(text, parse_constant=_refuse_constant), None
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc.msg} at column {exc.colno}"
    except ValueError as exc:
        return None, f"malformed JSON: {exc}"


def _provider_problems(
    task: VideoTask, providers: Mapping[str, ProviderChecker]
) -> list[tuple[str, Violation]]:
    """Nothing when some provider accepts the task, else every provider's violations."""
    found: list[tuple[str, Violation]] = []
    for alias, adapter in providers.items():
        violations = adapter.check(task)
        if not violations:
            return []
        found += [(alias, v) for v in violations]
    return found


def _check_line(
    file: str,
    line_no: int,
    data: Any,
    providers: Mapping[str, ProviderChecker],
    check_files: bool,
) -> tuple[VideoTask | None, list[LineProblem]]:
    def problem(v: Violation, *, prefix: str = "", warning: bool = False) -> LineProblem:
        return LineProblem(
            file=file,
            line_no=line_no,
            path=json_path(v.field),
            rule=prefix + v.rule,
            value=v.value,
            warning=warning,
        )

    out: list[LineProblem] = []
    with warnings.catch_warnings(record=True) as caught:
        # Recorded, not raised: an unknown model id is worth a note, not a stopped line.
        warnings.simplefilter("always")
        try:
            task = load_task(data)
        except InvalidTaskSpec as exc:
            return None, [problem(v) for v in exc.violations]
    out += [
        problem(Violation(field="model", rule=str(w.message)), warning=True)
        for w in caught
        if issubclass(w.category, UserWarning)
    ]
    errors = [problem(v, prefix=f"{alias}: ") for alias, v in _provider_problems(task, providers)]
    if check_files and any(i.is_local for i in task.images):
        errors += [problem(v) for v in check_local_images(task)]
    if check_files and (
        any(v.is_local for v in task.videos) or any(a.is_local for a in task.audios)
    ):
        errors += [problem(v) for v in check_local_media(task)]
    return (None if errors else task), out + errors


def _nonblank(data: bytes) -> Iterator[tuple[int, bytes]]:
    for n, raw in enumerate(data.splitlines(), start=1):
        if raw.strip():
            yield n, raw


def read_batch(
    path: str | Path,
    providers: Mapping[str, ProviderChecker],
    *,
    check_files: bool = True,
    draft: bool = False,
) -> Batch:
    """Read and check every line of a JSONL batch file.

    Blocking (file reads): call it before the event loop starts or in a worker thread.
    Relative image paths are relative to the current directory, as they are at submit time.

    Args:
        path: the batch file.
        providers: adapters by alias; a line must fit at least one (empty: no provider check).
        check_files: check local image files (headers and sizes).
        draft: make every line a draft (``"draft": true``), checked as such.

    Returns:
        The valid tasks and every problem found.

    Raises:
        OSError: the file cannot be read.
    """
    file = str(path)
    data = Path(path).read_bytes()
    lines: list[BatchLine] = []
    problems: list[LineProblem] = []
    first_line: dict[str, int] = {}
    count = 0
    for line_no, raw in _nonblank(data):
        count += 1
        parsed, why = _parse(raw)
        if why is not None:
            problems.append(LineProblem(file=file, line_no=line_no, path="$", rule=why))
            continue
        if draft and isinstance(parsed, dict):
            parsed = {**parsed, "draft": True}
        task, found = _check_line(file, line_no, parsed, providers, check_files)
        problems += found
        if task is None:
            continue
        key = task_hash(task)
        if key in first_line:
            problems.append(
                LineProblem(
                    file=file,
                    line_no=line_no,
                    path="$",
                    rule=f"same spec as line {first_line[key]}: it runs once",
                    warning=True,
                )
            )
            continue
        first_line[key] = line_no
        lines.append(BatchLine(line_no=line_no, key=key, task=task))
    return Batch(
        file=file,
        lines=tuple(lines),
        problems=tuple(problems),
        line_count=count,
        digest=hashlib.sha256(data).hexdigest(),
    )
