"""The strict converter behind the catalog and providers.toml: no coercion, paths in errors."""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest

from seedance_async import ConfigurationError
from seedance_async.core._strict_data import read_catalog, strict_converter, structure_strictly
from seedance_async.spec import Ratio
from seedance_async.spec._catalog import load_model_catalog, model_catalog


@attrs.frozen(kw_only=True)
class _Row:
    count: int
    rate: float
    name: str
    on: bool
    tags: tuple[str, ...] = ()
    ratios: frozenset[Ratio] = frozenset()


GOOD: dict[str, Any] = {"count": 3, "rate": 2, "name": "x", "on": True}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"count": 1.9}, "expected int @ $.count"),
        ({"count": True}, "expected int @ $.count"),
        ({"count": "3"}, "expected int @ $.count"),
        ({"rate": "2.5"}, "expected float @ $.rate"),
        ({"rate": False}, "expected float @ $.rate"),
        ({"name": 3}, "expected str @ $.name"),
        ({"on": 1}, "expected bool @ $.on"),
        ({"tags": "abc"}, "@ $.tags"),
        ({"tags": ["a", 2]}, "@ $.tags[1]"),
        ({"ratios": ["16:9", "17:9"]}, "expected one of 16:9"),
        ({"extra": 1}, "extra fields found (extra) @ $"),
    ],
)
def test_no_value_is_coerced_and_each_error_has_its_path(
    change: dict[str, Any], message: str
) -> None:
    """cattrs' lenient defaults (1.9 -> 1, 3 -> "3", "abc" -> a list) are all refused."""
    with pytest.raises(ConfigurationError) as info:
        structure_strictly(strict_converter(), {**GOOD, **change}, _Row, where="f.toml")
    assert str(info.value).startswith("f.toml: ")
    assert message in str(info.value)


def test_good_values_load_exactly() -> None:
    """Integers stand for floats (TOML writes 2 for 2.0); everything else is as written."""
    row = structure_strictly(
        strict_converter(), {**GOOD, "tags": ["a"], "ratios": ["16:9"]}, _Row, where="f"
    )
    assert row == _Row(
        count=3, rate=2.0, name="x", on=True, tags=("a",), ratios=frozenset({Ratio.R16_9})
    )
    assert isinstance(row.rate, float)


def test_a_malformed_model_catalog_names_the_family_and_field() -> None:
    """An error in a family table names it, below [families]."""
    data = copy.deepcopy(read_catalog("seedance.toml"))
    data["families"]["seedance-1-0-pro"]["min_duration"] = 2.5
    with pytest.raises(ConfigurationError, match=r"@ \$\.families\.seedance-1-0-pro\.min_duration"):
        load_model_catalog(data)
    data = copy.deepcopy(read_catalog("seedance.toml"))
    data["families"]["seedance-1-0-pro"]["resolution"] = ["720p"]  # misspelt key
    with pytest.raises(ConfigurationError, match=r"extra fields found \(resolution\)"):
        load_model_catalog(data)


def test_the_shipped_catalog_loads_once() -> None:
    """The files are read on first use and cached."""
    assert model_catalog() is model_catalog()
