"""Redis key names are spelled in one module: a prefix or key part anywhere else would let
two modules disagree about where a batch or a budget lives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from seedance_async.distributed._keys import (
    BUDGET_PREFIX,
    DEFAULT_PREFIX,
    BatchKeys,
    BudgetKeys,
    budget_prefix,
)

PACKAGE = Path(__file__).resolve().parents[2] / "seedance_async"
KEYS_MODULE = PACKAGE / "distributed" / "_keys.py"

# The prefix, and a key part as a name builds it (``f"{base}:meta"``) or a Lua script
# does (``base .. ':t:' .. key``).
_PARTS = "meta|pending|order|idx|owner|ids|idkey|sending|workers|submit|poll|cooldown|slots"
SPELLING = re.compile(
    rf"{re.escape(DEFAULT_PREFIX)}|(^|['\"]):({_PARTS})\b|(^|['\"]):(t|alive|owned|w):"
)


def _spellings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and SPELLING.search(node.value)
    ]


def test_no_module_but_keys_spells_a_redis_key_name() -> None:
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != KEYS_MODULE and "simulator" not in path.parts
        for hit in _spellings(path)
    ]
    assert found == []


def test_the_check_sees_the_names_it_looks_for() -> None:
    """The keys module itself spells them all: the pattern is not blind."""
    hits = "\n".join(_spellings(KEYS_MODULE))
    for part in ("seedance:", ":meta", ":t:", ":owned:", ":cooldown", ":slots"):
        assert repr(part)[1:-1] in hits or part in hits, part


def test_batch_and_budget_names() -> None:
    keys = BatchKeys.of("b1")
    assert keys.base == "seedance:{b1}"
    assert (keys.meta, keys.task("k"), keys.owned("w1")) == (
        "seedance:{b1}:meta",
        "seedance:{b1}:t:k",
        "seedance:{b1}:owned:w1",
    )
    assert BatchKeys.of("b1", "other:").pending == "other:{b1}:pending"
    budget = BudgetKeys.of("ark.example/abc123")
    assert budget_prefix(DEFAULT_PREFIX) == BUDGET_PREFIX == "seedance:budget:"
    assert (budget.bucket("submit"), budget.cooldown, budget.slots) == (
        "seedance:budget:ark.example/abc123:submit",
        "seedance:budget:ark.example/abc123:cooldown",
        "seedance:budget:ark.example/abc123:slots",
    )
