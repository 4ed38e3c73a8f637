#!/usr/bin/env python3
"""Generate the synchronous client from the asynchronous one.

Every ``_async`` package of ``src/fluidstack`` (the platform client, the Atlas client, the
pipeline's I/O half in ``core``) is written by hand; its ``_sync`` twin is generated from
it by textual substitution, so the two clients cannot drift apart. ``_io.py`` differs by
nature and is hand-written on both sides.

    python scripts/unasync.py          # regenerate
    python scripts/unasync.py --check  # fail if the generated files are stale (CI)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "fluidstack"
PACKAGES = ("core", "platform", "atlas")
"""Packages (relative to ``src/fluidstack``) whose ``_async`` sub-package has a ``_sync`` twin."""
HAND_WRITTEN = {"_io.py"}

# Order matters: longer and more specific patterns first.
SUBSTITUTIONS = [
    (r"\ban asynchronous\b", "a synchronous"),
    (r"\bAn asynchronous\b", "A synchronous"),
    (r"\bAsynchronous\b", "Synchronous"),
    (r"\basynchronous\b", "synchronous"),
    (r"\ban async context manager\b", "a context manager"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\basync def\b", "def"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\basynccontextmanager\b", "contextmanager"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncContextManager\b", "ContextManager"),
    (r"\baclose\b", "close"),
    (r"\baread\b", "read"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\b_async\b", "_sync"),
    (r"\bAsync([A-Z]\w*)", r"\1"),
]


def _strip_awaitable(text: str) -> str:
    """``Awaitable[X]`` → ``X``, with nested brackets in ``X``."""
    out = []
    i = 0
    marker = "Awaitable["
    while True:
        j = text.find(marker, i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        depth = 1
        k = j + len(marker)
        start = k
        while depth:
            if text[k] == "[":
                depth += 1
            elif text[k] == "]":
                depth -= 1
            k += 1
        out.append(text[start : k - 1])
        i = k


def _header(source_dir: Path) -> str:
    origin = source_dir.relative_to(ROOT.parent).as_posix()
    return f"# Generated from {origin} by scripts/unasync.py: do not edit by hand.\n"


def unasync(source: str, filename: Path, header: str) -> str:
    text = _strip_awaitable(source)
    for pattern, replacement in SUBSTITUTIONS:
        text = re.sub(pattern, replacement, text)
    # `Awaitable` may now be imported but unused.
    text = re.sub(r"\bAwaitable, ", "", text)
    text = re.sub(r"^[ \t]+Awaitable,\n", "", text, flags=re.M)  # one name per line
    text = re.sub(r", Awaitable\b", "", text)
    # Renamed imports may need re-sorting and shorter lines may now fit on one:
    # tidy the result like the rest of the code base.
    text = _ruff(["check", "--fix-only", "--select", "I", "--quiet"], header + text, filename)
    return _ruff(["format"], text, filename)


def _ruff(args: list[str], source: str, filename: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", str(filename), "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, change nothing")
    args = parser.parse_args()
    stale: list[Path] = []
    extra: list[Path] = []
    for package in PACKAGES:
        source_dir = (ROOT / package / "_async").resolve()
        target_dir = (ROOT / package / "_sync").resolve()
        if not source_dir.is_dir():
            continue
        header = _header(source_dir)
        expected_names = set()
        for src in sorted(source_dir.glob("*.py")):
            if src.name in HAND_WRITTEN:
                continue
            expected_names.add(src.name)
            dst = target_dir / src.name
            generated = unasync(src.read_text(), dst, header)
            if not dst.exists() or dst.read_text() != generated:
                stale.append(dst)
                if not args.check:
                    target_dir.mkdir(exist_ok=True)
                    dst.write_text(generated)
        extra += [p for p in target_dir.glob("*.py") if p.name not in expected_names | HAND_WRITTEN]
    top = ROOT.parent.parent
    if args.check:
        problems = [f"stale: {p.relative_to(top)}" for p in stale]
        problems += [f"no async source: {p.relative_to(top)}" for p in extra]
        if problems:
            print("\n".join(problems))
            print("run: python scripts/unasync.py")
            return 1
        return 0
    for p in extra:
        p.unlink()
    for p in stale:
        print(f"wrote {p.relative_to(top)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
