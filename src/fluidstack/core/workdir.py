"""A working directory as it is copied to a remote machine: its files minus what
``.gitignore`` ignores, packed as one gzipped tar (one SSH round trip to unpack).

Shared by ``fluidstack run`` (an instance) and ``atlas.slurm.jobs.submit`` (a Slurm
login node). In a git work tree git itself says which files count (``git ls-files
--cached --others --exclude-standard``: tracked files, and untracked ones not ignored,
as ``git status`` sees them); elsewhere, or without ``git``, the ``.gitignore`` files are
read with ``pathspec`` (the ``[ssh]`` extra), each applying below its folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["pack_directory", "workdir_files"]


def _ignore_specs(root: Path) -> Callable[[str, bool], bool]:
    """Whether a path (relative to ``root``, ``/``-separated) is ignored by the
    ``.gitignore`` files of ``root`` and its folders (each applies below its folder)."""
    import pathspec

    specs: Dict[str, Any] = {}

    def spec_for(folder: str) -> Any:
        if folder not in specs:
            path = root / folder / ".gitignore"
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                lines = []
            specs[folder] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return specs[folder]

    def ignored(relative: str, is_dir: bool) -> bool:
        parts = relative.split("/")
        if parts[0] == ".git":
            return True
        for depth in range(len(parts)):
            folder = "/".join(parts[:depth])
            spec = spec_for(folder)
            if spec is None:
                continue
            below = "/".join(parts[depth:]) + ("/" if is_dir else "")
            if spec.match_file(below):
                return True
        return False

    return ignored


def _git_files(root: Path) -> Optional[List[str]]:
    """The files git counts under ``root``, or ``None`` when ``root`` is not in a git
    work tree (or git is missing)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"],
            capture_output=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    names = sorted({n for n in done.stdout.decode("utf-8", "surrogateescape").split("\0") if n})
    # A tracked file deleted since, or a submodule (a folder): plain files and links only.
    return [n for n in names if (root / n).is_symlink() or (root / n).is_file()]


def _walked_files(root: Path) -> List[str]:
    ignored = _ignore_specs(root)
    found = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        dirs[:] = sorted(d for d in dirs if not ignored(prefix + d, True))
        for name in sorted(files):
            relative = prefix + name
            if ignored(relative, False):
                continue
            path = Path(folder) / name
            if path.is_symlink() or path.is_file():
                found.append(relative)
    return found


def workdir_files(root: Path) -> List[str]:
    """The files of ``root`` (``/``-separated, relative to it) a copy takes: what git
    counts in a git work tree, else all but what ``.gitignore`` files ignore; ``.git``
    never."""
    files = _git_files(root)
    # Nothing from git: not a work tree, or a folder the enclosing repository ignores.
    return files or _walked_files(root)


def pack_directory(root: Path) -> Tuple[bytes, int]:
    """The files of ``root`` that ``.gitignore`` does not ignore (``.git`` never goes),
    as a gzipped tar, and how many files it holds."""
    import io
    import tarfile

    buffer = io.BytesIO()
    count = 0
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for relative in workdir_files(root):
            tar.add(str(root / relative), arcname=relative, recursive=False)
            count += 1
    return buffer.getvalue(), count
