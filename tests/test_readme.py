"""Every Python example in README.md runs as written, against the embedded simulator.

Each ```python block is saved to a file of its own and run the way a reader would run it:
``python example.py``, or ``python -m pytest test_example.py`` with pytest's defaults when
the block is a test module. What the examples expect from their surroundings is what a user
has: a ``providers.toml`` (the simulator's aliases, plus the ``ark-main`` and ``ark-backup``
the failover example names), an image ``corgi.png``, a clip ``dance.mp4`` and
``music.wav``, keys and base URLs in environment
variables, and an S3 store for the uploader example (moto's server, with the bucket the
example names, reached through the standard ``AWS_*`` variables). No block is skipped: a block that is not meant to run is not tagged ``python``.

A ```text block right after a Python block (nothing but blank lines between) is that
block's expected standard output, compared exactly. A ```toml block whose first line names a
file (``# providers.toml: ...``) is that file, written into the folder of the next Python
block, which is how the README shows a file and then the code that reads it. A program without one must not print
words of failure ("failed", "unknown", ...): an example that exits 0 while its task failed
is not a working example. Programs run with ``-W error`` and must write nothing to stderr.

Every block starts at once and the simulator serves them all, so the module takes about as
long as its slowest example (the default poll schedule waits 5 s before the first poll).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import anyio
import attrs
import pytest
from anyio.from_thread import start_blocking_portal

from seedance_async.config import parse_provider_config
from seedance_async.simulator import DEFAULT_KEY, KEY_ENV, Simulator
from seedance_async.simulator._server import config_toml
from seedance_async.upload import Upload
from tests import imagedata, mediadata
from tests.s3server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server, moto_server

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"^(?P<fence>`{3,})(?P<lang>[\w+-]*)\s*$")
_FILE_COMMENT = re.compile(r"^# (?P<name>[\w.-]+\.toml):")
_TIMEOUT = 120.0
# Loaded by every example's interpreter (a sitecustomize module on PYTHONPATH): a name lookup
# of any host but loopback fails, so an example aimed at a real provider fails here instead
# of reaching it. Examples aimed at the simulator use IP literals and never notice.
_LOOPBACK_ONLY = """
import socket

_getaddrinfo = socket.getaddrinfo


def _loopback_only(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name not in (None, "localhost", "::1") and not str(name).startswith("127."):
        raise OSError(f"README example tried to reach {name!r}: only loopback is allowed")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_only
"""
# An example that exits 0 while reporting a task that did not succeed is not a working one.
_FAILURE_WORDS = re.compile(
    r"\b(failed|error|unknown|rejected|expired|deadline|cancelled|traceback|not done)\b",
    re.IGNORECASE,
)
# Keys the README's examples read from the environment; the simulator accepts each.
_ARK_KEY = "sk-readme-ark"
_ARK_MAIN_KEY = "sk-readme-ark-main"
_ARK_BACKUP_KEY = "sk-readme-ark-backup"
_UNIFIED_KEY = "sk-readme-unified"
_BUCKET = "seedance-media"  # the uploader example's


@attrs.frozen
class Block:
    """One fenced block of the README."""

    language: str
    text: str
    line: int  # 1-based line of the opening fence
    expected_output: str | None = None
    files: tuple[tuple[str, str], ...] = ()  # (name, text) the README shows just before

    @property
    def is_test_module(self) -> bool:
        return re.search(r"^(async )?def test_", self.text, re.MULTILINE) is not None


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block, in order; a Python block takes the ```text block right after it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    n = 0
    gap_since_last: list[str] = []
    shown_files: list[tuple[str, str]] = []
    while n < len(lines):
        opening = _FENCE.match(lines[n])
        if opening is None:
            gap_since_last.append(lines[n])
            n += 1
            continue
        fence, start = opening["fence"], n
        n += 1
        body: list[str] = []
        while n < len(lines) and lines[n].strip() != fence:
            body.append(lines[n])
            n += 1
        if n == len(lines):
            raise AssertionError(f"README.md:{start + 1}: fence {fence} is never closed")
        n += 1  # the closing fence
        block = Block(opening["lang"], "\n".join(body) + "\n", start + 1)
        adjacent = not any(line.strip() for line in gap_since_last)
        if (
            block.language == "text"
            and adjacent
            and blocks
            and blocks[-1].language == "python"
            and blocks[-1].expected_output is None
        ):
            blocks[-1] = attrs.evolve(blocks[-1], expected_output=block.text)
        named = _FILE_COMMENT.match(block.text)
        if block.language == "toml" and named:
            shown_files.append((named["name"], block.text))
        elif block.language == "python":
            block = attrs.evolve(block, files=tuple(shown_files))
            shown_files = []
        blocks.append(block)
        gap_since_last = []
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
PYTHON_BLOCKS = [b for b in BLOCKS if b.language == "python"]


def test_the_readme_has_python_examples_and_well_formed_fences() -> None:
    """The parser finds the examples (an empty list would make every other test vacuous)."""
    assert len(PYTHON_BLOCKS) >= 5
    assert any(b.expected_output for b in PYTHON_BLOCKS)
    # Untagged blocks hide their kind from readers and from this test alike: outputs are
    # ```text, programs ```python, commands ```sh.
    untagged = [b.line for b in BLOCKS if not b.language]
    assert not untagged, f"README.md blocks without a language at lines {untagged}"


def test_the_block_parser_pairs_programs_with_their_output() -> None:
    """Only a ```text block directly after a Python block is its expected output."""
    text = "```python\nprint(1)\n```\n\n```text\n1\n```\nprose\n```text\nnot output\n```\n"
    blocks = readme_blocks(text)
    assert [b.language for b in blocks] == ["python", "text", "text"]
    assert blocks[0].expected_output == "1\n"
    blocks = readme_blocks("```python\nprint(1)\n```\nprose\n```text\n1\n```\n")
    assert blocks[0].expected_output is None


def test_a_named_toml_block_is_the_file_the_next_python_block_reads() -> None:
    """``# providers.toml: ...`` on a toml block's first line hands it to the next program."""
    text = (
        "```toml\n# providers.toml: mine\n[providers.a]\n```\n"
        "```python\nopen('providers.toml')\n```\n```python\npass\n```\n"
        "```toml\n[providers.b]\n```\n```python\npass\n```\n"
    )
    programs = [b for b in readme_blocks(text) if b.language == "python"]
    assert programs[0].files == (("providers.toml", "# providers.toml: mine\n[providers.a]\n"),)
    assert programs[1].files == ()
    assert programs[2].files == ()


@pytest.mark.parametrize(
    "block",
    [b for b in BLOCKS if b.language == "toml" and "[providers." in b.text],
    ids=lambda b: f"README.md:{b.line}",
)
def test_provider_config_examples_load(block: Block) -> None:
    """Every providers.toml the README shows loads without an error."""
    configs = parse_provider_config(tomllib.loads(block.text), where=f"README.md:{block.line}")
    assert configs


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    """Every simulated provider, served from a thread of its own for the whole module."""
    keys = {
        "ark": (DEFAULT_KEY, _ARK_KEY, _ARK_MAIN_KEY, _ARK_BACKUP_KEY),
        "unified": (DEFAULT_KEY, _UNIFIED_KEY),
    }
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Simulator(api_key=keys, seed=3, time_scale=0.01)) as sim,
    ):
        yield sim


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """An S3-compatible store with the uploader example's bucket."""
    with moto_server() as server:
        anyio.run(server.create_bucket, _BUCKET)
        yield server


def _workdir(sim: Simulator, where: Path, block: Block) -> Path:
    """A folder with what a reader of the README has: a provider config and an image."""
    config = sim.provider_config()
    # Two more keys of the same Ark account, as the failover example has them.
    for alias, key_env in (("ark-main", "ARK_MAIN_API_KEY"), ("ark-backup", "ARK_BACKUP_API_KEY")):
        config["providers"][alias] = dict(config["providers"]["ark"], key_env=key_env)
    (where / "providers.toml").write_text(config_toml(config), encoding="utf-8")
    (where / "corgi.png").write_bytes(imagedata.png(640, 480))
    (where / "dance.mp4").write_bytes(mediadata.mp4(seconds=5))
    (where / "music.wav").write_bytes(mediadata.wav(seconds=4))
    for name, text in block.files:
        (where / name).write_text(text, encoding="utf-8")
    return where


def _environment(sim: Simulator, s3: S3Server, guard: Path) -> dict[str, str]:
    (guard / "sitecustomize.py").write_text(_LOOPBACK_ONLY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env |= {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(guard), env.get("PYTHONPATH")])),
        KEY_ENV: DEFAULT_KEY,
        "ARK_API_KEY": _ARK_KEY,
        "ARK_MAIN_API_KEY": _ARK_MAIN_KEY,
        "ARK_BACKUP_API_KEY": _ARK_BACKUP_KEY,
        "ARK_BASE_URL": sim.base_url("ark"),
        "UNIFIED_API_KEY": _UNIFIED_KEY,
        "AWS_ENDPOINT_URL": s3.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_REGION": REGION,
        # Never ~/.aws nor the instance metadata service: only what is set here.
        "AWS_CONFIG_FILE": str(guard / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(guard / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return env


def _command(block: Block, folder: Path) -> list[str]:
    if block.is_test_module:
        path = folder / f"test_readme_line_{block.line}.py"
        path.write_text(block.text, encoding="utf-8")
        # pytest's defaults, not this project's configuration (asyncio_mode and all).
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path.name]
    path = folder / f"readme_line_{block.line}.py"
    path.write_text(block.text, encoding="utf-8")
    return [sys.executable, "-W", "error", path.name]


@pytest.fixture(scope="module")
def runs(
    simulator: Simulator, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> dict[int, subprocess.CompletedProcess[str]]:
    """Every Python block run at once, each in its own folder: line → finished process."""
    env = _environment(simulator, s3, tmp_path_factory.mktemp("guard"))
    started: dict[int, tuple[subprocess.Popen[str], list[str]]] = {}
    for block in PYTHON_BLOCKS:
        folder = _workdir(simulator, tmp_path_factory.mktemp(f"readme_{block.line}"), block)
        command = _command(block, folder)
        process = subprocess.Popen(  # noqa: S603 - our interpreter, the README's code
            command,
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[block.line] = (process, command)
    out: dict[int, subprocess.CompletedProcess[str]] = {}
    for line, (process, command) in started.items():
        try:
            stdout, stderr = process.communicate(timeout=_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr += f"\n(killed after {_TIMEOUT:g} s)"
        out[line] = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: f"README.md:{b.line}")
def test_python_example_runs_as_written(
    block: Block, runs: dict[int, subprocess.CompletedProcess[str]]
) -> None:
    """The block runs to the end without an error (and prints what the README says)."""
    run = runs[block.line]
    report = f"README.md:{block.line} exited {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert run.returncode == 0, report
    if block.is_test_module:
        assert re.search(r"\b[1-9]\d* passed\b", run.stdout), report
        assert not re.search(r"\b(failed|errors?|skipped)\b", run.stdout), report
    if block.expected_output is not None:
        assert run.stdout == block.expected_output, report
    elif not block.is_test_module:
        assert not _FAILURE_WORDS.search(run.stdout), report
    if not block.is_test_module:
        assert not run.stderr, report  # warnings are errors here (-W error)


def test_the_uploader_example_stored_the_image_once_under_its_hash(
    runs: dict[int, subprocess.CompletedProcess[str]], s3: S3Server
) -> None:
    """The S3 example really went through the store: its three files, keyed by sha256."""
    (example,) = [b for b in PYTHON_BLOCKS if "S3Uploader(" in b.text]
    assert runs[example.line].returncode == 0, runs[example.line].stderr
    files = {
        ".png": imagedata.png(640, 480),
        ".mp4": mediadata.mp4(seconds=5),
        ".wav": mediadata.wav(seconds=4),
    }
    keys = anyio.run(s3.keys, _BUCKET)
    assert keys == sorted(f"inputs/{Upload.digest(data)}{ext}" for ext, data in files.items())
