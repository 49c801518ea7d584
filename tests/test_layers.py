"""The package is a stack of layers: imports point down only, and nothing forms a cycle.

The rule is the README's Architecture section, written as data. Every import counts, module
level, inside functions and under ``TYPE_CHECKING`` alike: a lazy import hides an edge from
the interpreter, not from the design.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "seedance_async"

# Each top-level part of the package and the parts it may import. Same-layer siblings
# (transport, limits, journal; policy, providers) never import each other.
_L0 = {"core"}
_L1 = _L0 | {"spec"}
_L1B = _L1 | {"config"}
_L2 = _L1B | {"policy", "providers"}
_L3 = _L2 | {"transport", "limits", "journal", "callbacks", "upload"}  # the README's L3
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "spec": _L0,
    "config": _L1,
    "policy": _L1B,
    "providers": _L1B,
    "transport": _L2,
    "limits": _L2,
    "journal": _L2,
    # Beside transport/limits/journal: a receiver of provider callbacks (aiohttp/ASGI).
    "callbacks": _L2,
    # Event callbacks (metrics, traces, logs): they read events and know nothing else.
    "telemetry": _L0,
    # Beside transport too: local media stored for a URL (the uploader protocol, S3).
    "upload": _L2,
    "client": _L3,
    "tracker": _L3 | {"client"},
    # The blocking façade runs the client on a private loop thread; it may use the tracker.
    "sync": _L3 | {"client", "tracker"},
    "distributed": _L3 | {"client", "tracker"},
    "cli": _L3 | {"client", "tracker", "distributed", "simulator", "telemetry"},
    "testing": _L3 | {"client", "tracker", "simulator"},
    "simulator": set(),  # an island: it must not share the client's mistakes
    "__main__": {"cli"},
    "__init__": _L3 | {"client", "tracker", "sync"},
}

# Imports inside functions, each with its reason. Anything else must sit at module level.
ALLOWED_LAZY: dict[tuple[str, str], str] = {
    # The Redis commands need the optional `redis` extra: importing them lazily keeps
    # `seedance-async run` working without it.
    ("seedance_async.cli._run", "seedance_async.cli._redis_cmds"): "redis extra",
    ("seedance_async.cli._journal_cmds", "seedance_async.cli._redis_cmds"): "redis extra",
    ("seedance_async.cli._redis_cmds", "seedance_async.distributed._batch"): "redis extra",
    ("seedance_async.cli._redis_cmds", "seedance_async.distributed._conn"): "redis extra",
    ("seedance_async.cli._redis_cmds", "seedance_async.distributed._worker"): "redis extra",
    ("seedance_async.cli._redis_cmds", "seedance_async.distributed._callbacks"): "redis extra",
    ("seedance_async.cli._redis_cmds", "seedance_async.distributed._keys"): "redis extra",
    ("seedance_async.cli._redis_cmds", "seedance_async.cli._batch_file"): "redis extra",
    ("seedance_async.cli._redis_cmds", "seedance_async.providers"): "redis extra",
    # Rich is the optional `cli` extra; the plain-text progress works without it.
    ("seedance_async.cli._demo", "seedance_async.cli._progress"): "rich extra",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("seedance_async", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()
_TYPE_CHECKING = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def _edges(name: str, path: Path) -> Iterator[tuple[str, bool, bool]]:
    """(imported module, imported inside a function, only for type checking) per import."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text())
    lazy: set[int] = set()
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        inner = {id(n) for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)}
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lazy |= inner
        elif isinstance(node, ast.If) and ast.unparse(node.test) in _TYPE_CHECKING:
            typing_only |= inner
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            targets = [mod, *(f"{mod}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        for target in targets:
            if target in MODULES and target != name:
                yield target, id(node) in lazy, id(node) in typing_only


GRAPH = {name: sorted(set(_edges(name, path))) for name, path in MODULES.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_part_of_the_package_has_a_layer() -> None:
    """A new subpackage or root module must be placed in the layer table first."""
    assert {_part(m) for m in MODULES} <= set(MAY_IMPORT)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    """A module imports only its own part and the parts below it."""
    own = _part(module)
    wrong = [t for t, _, _ in GRAPH[module] if _part(t) != own and _part(t) not in MAY_IMPORT[own]]
    assert not wrong, f"{module} imports upward or sideways: {wrong}"


def test_function_level_imports_are_allow_listed() -> None:
    """In-package imports inside functions hide edges; only the listed ones may exist."""
    lazy = {(m, t) for m, edges in GRAPH.items() for t, inside, _ in edges if inside}
    assert lazy <= set(ALLOWED_LAZY), sorted(lazy - set(ALLOWED_LAZY))
    stale = set(ALLOWED_LAZY) - lazy
    assert not stale, f"allow-list entries no longer needed: {sorted(stale)}"


def test_no_import_cycles() -> None:
    """No module reaches itself through imports, lazy ones included.

    Imports under ``TYPE_CHECKING`` are left out: they name a type for the checker and never
    run (h11's ``_headers`` names ``_events`` the same way).
    """
    adjacency = {m: {t for t, _, hint in edges if not hint} for m, edges in GRAPH.items()}
    # A package's __init__ importing its own modules is re-export, not dependency.
    for m in adjacency:
        adjacency[m] = {t for t in adjacency[m] if not m.startswith(t + ".") and t != m}
    cycles = []
    for start in adjacency:
        seen, todo = set(), list(adjacency[start])
        while todo:
            node = todo.pop()
            if node == start:
                cycles.append(start)
                break
            if node not in seen:
                seen.add(node)
                todo.extend(adjacency.get(node, ()))
    assert not cycles, f"modules on an import cycle: {sorted(cycles)}"
