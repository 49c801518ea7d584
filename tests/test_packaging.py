"""The distribution: the sdist and wheel build, and the wheel works in a virtualenv of its own.

The build runs offline (``python -m build --no-isolation``, with the backend from the test
extra), sdist first and the wheel from the sdist, so a file missing from the sdist fails
here. The wheel goes into a fresh virtualenv without its dependencies; the dependencies are
borrowed from this environment's site-packages through a path entry (no package index, no
network, seconds instead of a download), and the test then proves that importing the
package loads only what the wheel declares: the runtime dependencies for the package and
its CLI, and the ``redis``, ``cli`` and ``s3`` extras' for the modules that need them.
"""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from seedance_async.cli import main

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]
# Extras whose dependencies optional modules may import (not test, dev or bench tools).
RUNTIME_EXTRAS = ("redis", "cli", "otel", "s3")

# Run by the virtualenv's interpreter: import the package the way the CLI does, then every
# module, and report which third-party top-level packages each step loaded from the
# borrowed site-packages.
_PROBE = """
import importlib, json, pkgutil, sys
borrowed = tuple(sys.argv[1:])

def loaded():
    out = set()
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None) or ""
        if where.startswith(borrowed):
            out.add(name.partition(".")[0])
    return sorted(out)

import seedance_async, seedance_async.cli
base = loaded()
for info in pkgutil.walk_packages(seedance_async.__path__, "seedance_async."):
    if not info.name.endswith("__main__"):  # that one runs the CLI
        importlib.import_module(info.name)
print(json.dumps({
    "file": seedance_async.__file__,
    "version": seedance_async.__version__,
    "base": base,
    "all": loaded(),
}))
"""


def test_version_flag_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``seedance-async --version`` says which release is installed, and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"seedance-async {metadata.version('seedance-async')}\n"


def _run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - our interpreter, our built files
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


_OPPORTUNISTIC = frozenset({"sniffio"})


def _closure(requirements: Iterable[str], extras: Iterable[str] = ("",)) -> set[str]:
    """Canonical names of the distributions ``requirements`` pull in, transitively."""
    seen: set[str] = set()
    todo = [(Requirement(r), tuple(extras)) for r in requirements]
    while todo:
        req, wanted = todo.pop()
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in wanted):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        todo += [(Requirement(r), ("", *req.extras)) for r in metadata.requires(req.name) or ()]
    return seen


def _distributions_of(top_level_names: Iterable[str]) -> dict[str, set[str]]:
    owners = metadata.packages_distributions()
    return {
        name: {canonicalize_name(d) for d in owners.get(name, [name])} for name in top_level_names
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel built from it, offline."""
    out = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], cwd=out
    )
    return out


def test_the_wheel_holds_the_package_its_types_simulator_and_license(dist: Path) -> None:
    """py.typed, the simulator, the console script and the license ship; tests do not."""
    (wheel,) = dist.glob("seedance_async-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    info = f"seedance_async-{VERSION}.dist-info"
    assert "seedance_async/py.typed" in names
    assert "seedance_async/simulator/__init__.py" in names
    assert "seedance_async/cli/__init__.py" in names
    assert f"{info}/licenses/LICENSE" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]
    meta = email.message_from_bytes(zipfile.ZipFile(wheel).read(f"{info}/METADATA"))
    assert meta["Version"] == VERSION
    assert meta["License-Expression"] == "MIT"
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "seedance-async = seedance_async.cli:main" in entry_points


def test_the_sdist_holds_what_a_rebuild_and_the_readme_need(dist: Path) -> None:
    """The sdist carries the license, the README, the project file and the marker file."""
    (sdist,) = dist.glob("seedance_async-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "pyproject.toml", "seedance_async/py.typed"} <= names


def test_the_wheel_installs_and_runs_in_a_fresh_virtualenv(dist: Path, tmp_path: Path) -> None:
    """Installed from the wheel: it imports from there, loads only declared dependencies,
    and its console script answers ``--version``."""
    (wheel,) = dist.glob("seedance_async-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)],
        cwd=tmp_path,
    )  # fmt: skip
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=tmp_path).strip())  # fmt: skip
    # A plain path entry: this environment's .pth files (the editable install of the
    # checkout among them) are not processed, so only its installed distributions show.
    borrowed = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    (site / "_borrowed_dependencies.pth").write_text("\n".join(borrowed) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"

    report = json.loads(_run([str(python), "-c", _PROBE, *borrowed], cwd=tmp_path, env=env))
    assert Path(report["file"]).is_relative_to(site), report["file"]
    assert report["version"] == VERSION
    assert (site / "seedance_async" / "py.typed").is_file()
    assert (site / "seedance_async" / "simulator" / "_server.py").is_file()

    assert "aiohttp" in report["base"]  # the borrowed dependencies are seen being loaded
    declared = PYPROJECT["project"]["dependencies"]
    extras = PYPROJECT["project"]["optional-dependencies"]
    base = _closure(declared)
    optional = base | _closure(r for extra in RUNTIME_EXTRAS for r in extras[extra])
    for step, allowed in (("base", base), ("all", optional)):
        # Imported by a dependency only when something else installed it: anyio imports
        # sniffio if present (litellm, the bench extra's peer, brings it).
        allowed = allowed | _OPPORTUNISTIC
        owners = _distributions_of(report[step])
        undeclared = {name: dists for name, dists in owners.items() if not dists & allowed}
        assert not undeclared, f"{step}: imported but not declared: {undeclared}"

    out = _run([str(venv / "bin" / "seedance-async"), "--version"], cwd=tmp_path, env=env)
    assert out == f"seedance-async {VERSION}\n"
    help_text = _run(
        [str(venv / "bin" / "seedance-async"), "simulate", "--help"], cwd=tmp_path, env=env
    )
    assert re.search(r"--time-scale", help_text)
