"""Downloading over SFTP without trusting the server: every local write stays inside
the directory the caller chose, whatever names, links and types the server lists.

asyncssh's own recursive ``get`` joins the names a server lists onto the local target
(before 2.24.1: ``/abs/path`` and ``../x`` wrote anywhere), and 2.24.1 still checks
the links it creates one at a time, lexically: ``y -> .`` and ``z -> y/../..`` each look
inside, and together lead out, so a directory ``z`` listed next was written outside. So
the SDK walks the remote tree itself, on any asyncssh version:

- a listed name is one path component: never empty, ``.``, ``..``, absolute, or
  holding ``/``, ``\\`` or NUL (such entries are skipped, with a message);
- nothing is ever written through a local symlink: each component from the target
  down is checked with ``lstat``, and files are opened with ``O_NOFOLLOW``;
- a remote symlink is copied as a link when its target is relative and stays inside
  the downloaded tree, resolved on the local disk (so through the links copied before
  it); one that leaves the tree (or cannot be made) is skipped with a message, and
  after the walk every copied link is checked again, since a later link can change
  where an earlier one leads. A dangling link inside the tree is copied as it is.

Skipped entries never fail the download: the caller gets their messages back.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path
from typing import Any, BinaryIO, List, Optional, Sequence, Set, Tuple

__all__ = ["confined_download"]

_MAX_DEPTH = 256
"""Directories deeper than this are skipped: a lying server can list one forever."""
_CHUNK = 1 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_GLOB_CHARS = frozenset("*?[")


def _valid_name(name: str) -> bool:
    """Whether a server-given name is exactly one harmless path component."""
    return (
        name not in ("", ".", "..")
        and not any(c in name for c in "/\\\0")
        and not (len(name) >= 2 and name[1] == ":")  # a Windows drive: C:x
    )


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


class _Walk:
    """One source's copy: ``top`` is the local path it lands at (file or directory);
    ``root`` the existing directory ``top`` is in, which nothing may leave."""

    def __init__(self, sftp: Any, root: Path, skipped: List[str]) -> None:
        self.sftp = sftp
        self.root = root
        self.skipped = skipped
        self.links: List[Tuple[Path, Path]] = []
        """(local link, top of its tree): checked again once everything is copied."""

    def skip(self, remote: str, why: str) -> None:
        self.skipped.append(f"{remote}: {why}; skipped")

    def _unsafe(self, local: Path) -> Optional[str]:
        """Why writing at ``local`` could land elsewhere (``None``: it cannot): every
        directory between ``root`` and it must be a real directory, no link. (``local``
        itself is checked by what is made there.)"""
        try:
            relative = local.relative_to(self.root)
        except ValueError:
            return "outside the download directory"
        current = self.root
        for part in relative.parts[:-1]:
            current = current / part
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                return None  # nothing below a missing directory exists yet
            if stat.S_ISLNK(mode):
                return f"{current} is a symlink, which is never written through"
            if not stat.S_ISDIR(mode):
                return f"{current} is not a directory"
        return None

    async def copy(self, remote: str, local: Path, top: Path, attrs: Any, depth: int) -> None:
        kind = getattr(attrs, "type", None)
        if kind is None or getattr(attrs, "permissions", None) is None:
            attrs = await self.sftp.lstat(remote)
            kind = attrs.type
        unsafe = self._unsafe(local)
        if unsafe is not None:
            self.skip(remote, unsafe)
            return
        asyncssh = _asyncssh()
        if kind == asyncssh.FILEXFER_TYPE_SYMLINK:
            await self._link(remote, local, top)
        elif kind == asyncssh.FILEXFER_TYPE_DIRECTORY:
            await self._directory(remote, local, top, attrs, depth)
        elif kind == asyncssh.FILEXFER_TYPE_REGULAR:
            await self._file(remote, local, attrs)
        else:
            self.skip(remote, "neither a file, a directory nor a symlink")

    async def _directory(self, remote: str, local: Path, top: Path, attrs: Any, depth: int) -> None:
        if depth > _MAX_DEPTH:
            self.skip(remote, f"more than {_MAX_DEPTH} directories deep")
            return
        if not self._make_directory(remote, local):
            return
        seen: Set[str] = set()
        async for entry in self.sftp.scandir(remote):
            name = entry.filename
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            if name in (".", ".."):
                continue  # every listing has them
            child = posixpath.join(remote, name)
            if not _valid_name(name):
                self.skip(child, "a name that is not a single file name")
                continue
            if name in seen:
                self.skip(child, "listed twice")
                continue
            seen.add(name)
            await self.copy(child, local / name, top, entry.attrs, depth + 1)
        if local != self.root:  # ("dir/." into local: local is the caller's, left as it is)
            _preserve_path(local, attrs)

    async def _file(self, remote: str, local: Path, attrs: Any) -> None:
        out = self._open_file(remote, local)
        if out is None:
            return
        with out:
            async with self.sftp.open(remote, "rb") as source:
                while True:
                    chunk = await source.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
        _preserve_path(local, attrs)

    async def _link(self, remote: str, local: Path, top: Path) -> None:
        target = await self._link_target(remote)
        if target is None:
            return
        if not target or "\0" in target or posixpath.isabs(target) or "\\" in target:
            self.skip(remote, f"a symlink to {target!r}, outside the downloaded tree")
            return
        self._place_link(remote, local, target, top)

    async def _link_target(self, remote: str) -> Optional[str]:
        """The link's target as text, relative to its directory when it can be.

        asyncssh's server, when chrooted (the emulator's instances), answers no
        ``readlink`` of a relative link at all; there the target is what the server
        resolves the link to, made relative to the link's directory. Either way it is
        checked locally before a link is made; a link no one will describe is skipped."""
        asyncssh = _asyncssh()
        try:
            target = await self.sftp.readlink(remote)
        except asyncssh.SFTPError as exc:
            try:
                resolved = await self.sftp.realpath(remote)
                folder = await self.sftp.realpath(posixpath.dirname(remote) or ".")
            except asyncssh.SFTPError:
                self.skip(remote, f"a symlink whose target could not be read ({exc.reason})")
                return None
            resolved, folder = (_text(p) for p in (resolved, folder))
            if not (resolved.startswith("/") and folder.startswith("/")):
                self.skip(remote, f"a symlink whose target could not be read ({exc.reason})")
                return None
            target = posixpath.relpath(resolved, folder)
        return _text(target)

    def _make_directory(self, remote: str, local: Path) -> bool:
        if os.path.islink(local) or (os.path.lexists(local) and not local.is_dir()):
            self.skip(remote, f"{local} exists and is not a directory")
            return False
        local.mkdir(mode=0o700, exist_ok=True)
        return True

    def _open_file(self, remote: str, local: Path) -> Optional[BinaryIO]:
        if os.path.islink(local) or (os.path.lexists(local) and not local.is_file()):
            self.skip(remote, f"{local} exists and is not a file")
            return None
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _BINARY
        return os.fdopen(os.open(local, flags, 0o600), "wb")

    def _place_link(self, remote: str, local: Path, target: str, top: Path) -> None:
        if os.path.islink(local):
            os.unlink(local)  # an earlier download's link: replaced, as cp -a would
        elif os.path.lexists(local):
            self.skip(remote, f"{local} already exists")
            return
        outside = f"a symlink to {target!r}, outside the downloaded tree"
        lexical = os.path.normpath(os.path.join(os.path.dirname(local), target))
        if not _inside(lexical, str(top)) or not self._resolves_inside(local, target, top):
            self.skip(remote, outside)
            return
        try:
            os.symlink(target, local)
        except (OSError, NotImplementedError) as exc:  # Windows without the privilege
            self.skip(remote, f"a symlink to {target!r} that could not be made ({exc})")
            return
        if not _inside(os.path.realpath(local), os.path.realpath(top)):
            os.unlink(local)
            self.skip(remote, outside)
            return
        self.links.append((local, top))

    def _resolves_inside(self, local: Path, target: str, top: Path) -> bool:
        """Where ``target`` leads from ``local``'s directory on the local disk, through
        the links already copied: inside ``top``?"""
        resolved = os.path.realpath(os.path.join(os.path.dirname(local), target))
        return _inside(resolved, os.path.realpath(top))

    def recheck_links(self) -> None:
        """Remove copied links that now lead out of their tree (a later link can change
        where an earlier one goes); repeat until none does."""
        changed = True
        while changed:
            changed = False
            for local, top in list(self.links):
                if not _inside(os.path.realpath(local), os.path.realpath(top)):
                    os.unlink(local)
                    self.links.remove((local, top))
                    self.skipped.append(
                        f"{local}: a symlink leading outside the downloaded tree; removed"
                    )
                    changed = True


def _preserve_path(local: Path, attrs: Any) -> None:
    permissions = getattr(attrs, "permissions", None)
    if permissions is not None:
        # The permission bits only, never set-id or sticky bits a server asks for.
        os.chmod(local, (permissions & 0o777) | (0o700 if local.is_dir() else 0))
    atime, mtime = getattr(attrs, "atime", None), getattr(attrs, "mtime", None)
    if atime is not None and mtime is not None:
        os.utime(local, (atime, mtime))


def _text(name: Any) -> str:
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def _asyncssh() -> Any:
    import asyncssh

    return asyncssh


async def _expand(sftp: Any, source: str) -> Sequence[str]:
    if _GLOB_CHARS.intersection(source):
        found = await sftp.glob(source)
        return [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in found]
    return [source]


def _destination(local: Path, name: str, into_directory: bool) -> Optional[Tuple[Path, Path]]:
    """(the directory nothing may leave, where ``name`` lands), or ``None`` for a name
    that cannot land anywhere safe."""
    if not into_directory:
        root = local.parent.resolve()
        return root, root / local.name
    root = local.resolve()
    base = posixpath.basename(name.rstrip("/")) or "."
    if base == ".":
        return root, root  # "dir/." copies the contents of dir into local itself
    return (root, root / base) if _valid_name(base) else None


async def confined_download(sftp: Any, sources: Sequence[str], local: Path) -> List[str]:
    """Copy ``sources`` (remote paths, globs allowed; directories recursively) into the
    local directory ``local``, or to the file name ``local`` for one source, keeping
    every write inside it. Returns what was skipped, one message each; raises
    ``OSError`` or ``asyncssh.Error`` when a copy fails (nothing is written outside
    either way)."""
    names: List[str] = []
    for source in sources:
        names.extend(await _expand(sftp, source))
    into_directory = os.path.isdir(local)  # noqa: ASYNC240 - one stat, before any transfer
    if len(names) > 1 and not into_directory:
        raise NotADirectoryError(f"{local} must be a directory to copy several paths into")
    skipped: List[str] = []
    for name in names:
        where = _destination(local, name, into_directory)
        if where is None:
            skipped.append(f"{name}: a name that is not a single file name; skipped")
            continue
        root, top = where
        walk = _Walk(sftp, root, skipped)
        # The path asked for is followed if it is a link: the caller named it.
        await walk.copy(name, top, top, await sftp.stat(name), 0)
        walk.recheck_links()
    return skipped
