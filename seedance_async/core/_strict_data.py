"""Strict TOML data → frozen attrs values: the catalog files and the user's providers.toml.

cattrs on its own is lenient: it turns ``1.9`` into ``1`` and ``3`` into ``"3"``, iterates a
string where a list was meant, and keeps going past a misspelt key. Facts that decide what
a paid request looks like must not be read that way, so the converter here refuses every
coercion and every unknown key, and each error names the field by its path
(``invalid value for type, expected int @ $.providers.ark.max_running``).
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar, get_args, get_origin

import cattrs
import cattrs.preconf.tomllib
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.v import format_exception

from seedance_async.core._errors import ConfigurationError, SeedanceError

__all__ = ["read_catalog", "strict_converter", "structure_strictly"]

T = TypeVar("T")
_CATALOG_PACKAGE = "seedance_async"
_CATALOG_DIR = "catalog"


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _strict_float(value: Any, _: type) -> float:
    # TOML writes 600 for 600.0; an integer is a number, a bool or a string is not.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _strict_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    allowed = [m.value for m in cls]
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"expected one of {', '.join(map(str, allowed))}, got {value!r}")
    return cls(value)


def _is_array(cls: Any) -> bool:
    return get_origin(cls) in (tuple, frozenset)


def strict_converter() -> cattrs.Converter:
    """A converter that refuses coercions, unknown keys and strings where arrays belong."""
    converter = cattrs.preconf.tomllib.make_converter(forbid_extra_keys=True)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(bool, _strict_bool)
    # Hooks go by the nearest class in the MRO: a StrEnum is a str, so it needs its own.
    converter.register_structure_hook(enum.Enum, _strict_enum)
    converter.register_structure_hook(enum.StrEnum, _strict_enum)

    def array_hook(cls: Any) -> Callable[[Any, type], Any]:
        # cattrs would iterate the characters of a string given for a list of strings.
        item = get_args(cls)[0]
        make = frozenset if get_origin(cls) is frozenset else tuple

        def structure(value: Any, _: type) -> Any:
            if not isinstance(value, list):
                raise TypeError(f"expected an array, got {type(value).__name__}")
            items, errors = [], []
            for n, raw in enumerate(value):
                try:
                    items.append(converter.structure(raw, item))
                except Exception as exc:  # collected with its index, as cattrs does
                    exc.add_note(cattrs.errors.IterableValidationNote(f"@ index {n}", n, item))
                    errors.append(exc)
            if errors:
                raise IterableValidationError(f"while structuring {cls!r}", errors, cls)
            return make(items)

        return structure

    converter.register_structure_hook_factory(_is_array, array_hook)
    return converter


def _message(exc: BaseException, cls: type | None) -> str:
    # A class's own validator explains itself better than "invalid value".
    if isinstance(exc, ValueError | SeedanceError) and str(exc):
        return str(exc)
    if isinstance(exc, TypeError) and cls is None and str(exc).startswith("expected"):
        return str(exc)
    if isinstance(exc, AttributeError) and str(exc).endswith(("'keys'", "'items'")):
        return "expected a table"
    return format_exception(exc, cls)


def structure_strictly(
    converter: cattrs.Converter, data: Any, cls: type[T], *, where: str, path: str = "$"
) -> T:
    """``data`` as a ``cls``, or a :class:`ConfigurationError` naming every bad field.

    Args:
        converter: from :func:`strict_converter` (with any class-specific hooks added).
        data: parsed TOML.
        cls: the target type.
        where: the file (or other source) named first in the message.
        path: the path of ``data`` inside that source (``$.providers.ark``).

    Raises:
        ConfigurationError: ``file: problem @ $.path; problem @ $.path``.
    """
    try:
        return converter.structure(data, cls)
    except (ClassValidationError, IterableValidationError) as exc:
        problems = cattrs.transform_error(exc, path=path, format_exception=_message)
    except (ValueError, TypeError, SeedanceError) as exc:
        problems = [f"{_message(exc, None)} @ {path}"]
    raise ConfigurationError(f"{where}: {'; '.join(problems)}")


def read_catalog(name: str) -> dict[str, Any]:
    """A TOML file shipped in ``seedance_async/catalog/``, parsed.

    Raises:
        ConfigurationError: the file is missing or not valid TOML (a broken install).
    """
    resource = resources.files(_CATALOG_PACKAGE) / _CATALOG_DIR / name
    try:
        return tomllib.loads(resource.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(
            f"catalog/{name}: cannot load the built-in catalog ({exc})"
        ) from None
