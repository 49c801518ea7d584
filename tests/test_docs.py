"""The documentation stands alone: it cites only what users have, and its references resolve.

Users have the package, the README, ``docs/`` and the providers' public pages, not the
maintainers' research notes. So nothing may point at ``../shared/`` or at the internal
"seed NNN" documents, and every "docs/providers.md §N" (or a bare "§N" in a file that cites
docs/providers.md) must name a section that exists there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS_DOC = ROOT / "docs" / "providers.md"


def _documented_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for folder in ("seedance_async", "tests", "benchmarks"):
        files += sorted((ROOT / folder).rglob("*.py"))
        files += sorted((ROOT / folder).rglob("*.md"))
    return files


FILES = _documented_files()
_INTERNAL = re.compile(
    r"\.\./shared/|shared/(providers|seedance-2|design|layout)\.md|(?<!docs/)\bproviders\.md\b"
    r"|\bseeds?[ -]?00[0-4]\b|\bseed (files?|docs?)\b",
    re.IGNORECASE,
)
_SECTION = re.compile(r"§(\d+(?:\.\d+)?)")
# This file names the patterns it looks for, so it is the one file exempt from them.
_SELF = Path(__file__).resolve()


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _sections() -> set[str]:
    """Section numbers of docs/providers.md: headings, and the numbered hazards of §8."""
    found: set[str] = set()
    in_hazards = False
    for line in PROVIDERS_DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", line)
        if heading:
            found.add(heading[1])
            in_hazards = heading[1] == "8"
            continue
        item = re.match(r"^(\d+)\. ", line)
        if in_hazards and item:
            found.add(f"8.{item[1]}")
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_reference_to_internal_documents(path: Path) -> None:
    """No docstring, comment, help text, test or page cites a document users do not have."""
    if path == _SELF:
        return
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _INTERNAL.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_every_cited_section_of_the_providers_doc_exists() -> None:
    """Each "docs/providers.md §N" names a real section, in every file that cites the doc."""
    sections = _sections()
    assert {"0", "1", "2.2", "8.1", "8.10", "9"} <= sections  # the parser sees the doc
    missing = []
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        if "docs/providers.md" not in text and path != PROVIDERS_DOC:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            missing += [
                f"{path.relative_to(ROOT)}:{n}: §{number}"
                for number in _SECTION.findall(line)
                if number not in sections
            ]
    assert not missing, "\n".join(missing)


def test_the_providers_doc_table_of_contents_resolves() -> None:
    """Each link of the contents list names the anchor GitHub gives a heading."""
    text = PROVIDERS_DOC.read_text(encoding="utf-8")
    anchors = {_slug(h) for h in re.findall(r"^#{2,3} (.+)$", text, re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links
    assert not [link for link in links if link not in anchors]
