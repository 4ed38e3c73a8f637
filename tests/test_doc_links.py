"""Every relative link in the README and docs/*.md points at a file and heading that exist.

A reader who follows a link to a renamed heading lands at the top of a long page with no
hint of where to look; GitHub renders such a link without complaint, so only a check finds
it. Anchors are computed the way GitHub computes them (lower case, punctuation dropped,
spaces to hyphens, ``-1``, ``-2`` ... for repeated headings).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "ARCHITECTURE.md",
        ROOT / "CONTRIBUTING.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)

_FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.S | re.M)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\(([^()\s]*(?:\([^()\s]*\)[^()\s]*)*)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", flags=re.M)


def _prose(text: str) -> str:
    """The text without fenced code blocks (a link or ``#`` there is not markdown)."""
    return _FENCE.sub("", text)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading (before de-duplication)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path, cache: Dict[Path, Set[str]]) -> Set[str]:
    """Every anchor of ``path``'s headings, repeated ones numbered as GitHub numbers them."""
    if path not in cache:
        seen: Dict[str, int] = {}
        found: Set[str] = set()
        for heading in _HEADING.findall(_prose(path.read_text())):
            base = github_anchor(heading)
            count = seen.get(base, 0)
            found.add(base if count == 0 else f"{base}-{count}")
            seen[base] = count + 1
        cache[path] = found
    return cache[path]


def relative_links(path: Path) -> List[str]:
    text = _INLINE_CODE.sub("", _prose(path.read_text()))
    return [
        target
        for target in _LINK.findall(text)
        if target and not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # not http:, mailto: ...
    ]


def broken_links(path: Path, cache: Dict[Path, Set[str]]) -> List[Tuple[str, str]]:
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append((target, "no such file"))
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked, cache):
            broken.append((target, f"no heading with anchor #{anchor} in {linked.name}"))
    return broken


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page, {}) == []


def test_the_anchor_rules_match_github() -> None:
    # Examples of headings in these docs, with the anchors GitHub gives them.
    assert github_anchor("Spend safety: sweep, leases, limits, cost") == (
        "spend-safety-sweep-leases-limits-cost"
    )
    assert github_anchor("`instances ssh ID [-i KEY] [--print] [-- SSH ARGS]`") == (
        "instances-ssh-id--i-key---print----ssh-args"
    )
    assert github_anchor("Issue 15: the emulator at 100,000 instances") == (
        "issue-15-the-emulator-at-100000-instances"
    )


def test_a_broken_link_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Same\n\n## Same\n\n"
        "[ok](#same-1) [bad](#nowhere) [gone](missing.md) `[code](missing.md)`\n"
        "```\n[fenced](missing.md)\n```\n"
    )
    assert broken_links(page, {}) == [
        ("#nowhere", "no heading with anchor #nowhere in page.md"),
        ("missing.md", "no such file"),
    ]
