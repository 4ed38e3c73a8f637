"""Paths resolved inside an instance's root, symlinks followed only while they stay in it.

SFTP and scp give an instance's files to a client, so every path they are asked for is
resolved here, one component at a time, each opened relative to the directory already
held (``openat`` with ``O_NOFOLLOW``): a symlink is read and followed by this code, never
by the kernel, and a target that leaves the root (an absolute path elsewhere, or ``..``
above the root) fails with ``EACCES``, as if the file were not there to see. The result is
a directory descriptor and one last name, on which the caller acts with ``dir_fd=`` and
without following a link (``O_NOFOLLOW``, ``follow_symlinks=False``): if a component is
swapped for a symlink while a request runs, the request fails instead of following it.

Why not ``openat2(RESOLVE_IN_ROOT)``: it is Linux only (5.6+) and reachable only through
ctypes, and its semantics differ from what the root holds. Links made over SFTP with an
absolute target, and those a session makes (``ln -s $HOME/data``), hold host paths inside
the root: ``RESOLVE_IN_ROOT`` would look for them under the root a second time, and
``RESOLVE_BENEATH`` refuses every absolute link. The walk here runs on Linux and macOS
alike and accepts an absolute target exactly when it names a place inside the root.

What this does not confine: a directory moved out of the root by someone else (a session
of the instance runs as the host user) while a request is inside it. Sessions are not
confined at all; see docs/emulator.md.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections import deque
from dataclasses import dataclass
from typing import Deque, List, Optional

__all__ = ["MAX_SYMLINKS", "Resolved", "Root", "leaves_root"]

MAX_SYMLINKS = 40
"""Links followed in one resolution before ``ELOOP``, as Linux's own limit."""

_O_PATH = getattr(os, "O_PATH", 0)  # Linux: a directory needs only search permission
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | _O_PATH
_NOT_A_DIRECTORY = {errno.ELOOP, errno.ENOTDIR, getattr(errno, "EMLINK", errno.ELOOP)}


def _escape(path: bytes) -> PermissionError:
    return PermissionError(errno.EACCES, "a link leads outside the instance", os.fsdecode(path))


def _parts(path: bytes) -> List[bytes]:
    return [part for part in path.split(b"/") if part not in (b"", b".")]


def leaves_root(directory: List[bytes], target: bytes) -> bool:
    """Whether a relative link ``target`` in ``directory`` (components from the root)
    names a place above the root, read as text (no link followed)."""
    depth = len(directory)
    for part in _parts(target):
        depth += -1 if part == b".." else 1
        if depth < 0:
            return True
    return False


@dataclass
class Resolved:
    """Where a path leads: ``name`` in the directory open as ``dir_fd``.

    ``name`` is ``b"."`` when the path names that directory itself (the root, or a path
    ending in ``..``). ``names`` are the directory's components from the root, links
    resolved: the path as the client should see it. Close with :meth:`close`.
    """

    fds: List[int]
    names: List[bytes]
    name: bytes

    @property
    def dir_fd(self) -> int:
        return self.fds[-1]

    @property
    def client_path(self) -> bytes:
        """The resolved path as seen from inside the instance (``/home/ubuntu/x``)."""
        names = self.names if self.name == b"." else [*self.names, self.name]
        return b"/" + b"/".join(names)

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.pop())

    def __enter__(self) -> Resolved:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Root:
    """An instance's root directory: client paths resolved inside it (see the module).

    Client paths are read as the instance's: absolute ones from its root, relative ones
    from ``home`` (``$HOME``); ``..`` in them stops at the root, as in a chroot.
    """

    def __init__(self, root: str, home: bytes) -> None:
        self.path = os.fsencode(os.path.realpath(root))
        # A session's links spell the root as it was given ($HOME), which may differ
        # from its real path (macOS's /tmp is /private/tmp): either spelling is inside.
        self._spellings = {self.path, os.fsencode(os.path.abspath(root))}
        self.home = home

    def client_parts(self, path: bytes) -> List[bytes]:
        """A client's path as components from the root, ``..`` stopping at the root."""
        if not path.startswith(b"/"):
            path = self.home + b"/" + path
        return _parts(posixpath.normpath(b"/" + path))

    def inside(self, target: bytes) -> Optional[bytes]:
        """An absolute host path inside the root, made relative to it (None if outside)."""
        for spelling in self._spellings:
            if target == spelling or target.startswith(spelling + b"/"):
                return target[len(spelling) :]
        return None

    def resolve(self, path: bytes, *, follow: bool, lenient: bool = False) -> Resolved:
        """Resolve a client's ``path``: every directory on the way opened (links inside
        followed), and the last name followed too when ``follow``. A missing last name is
        no error (it may be about to be created). With ``lenient``, a missing directory
        on the way neither: the rest is joined as text (``realpath`` of a path to be)."""
        fds = [os.open(self.path, _DIR_FLAGS)]
        try:
            names: List[bytes] = []
            name = self._walk(fds, names, deque(self.client_parts(path)), follow, lenient)
            return Resolved(fds, names, name)
        except BaseException:
            Resolved(fds, [], b".").close()
            raise

    def _walk(
        self,
        fds: List[int],
        names: List[bytes],
        parts: Deque[bytes],
        follow: bool,
        lenient: bool,
    ) -> bytes:
        links = 0
        while parts:
            name = parts.popleft()
            if name == b"..":
                if len(fds) == 1:
                    raise _escape(name)  # only a link's target reaches here: clients' stop
                os.close(fds.pop())
                names.pop()
                continue
            if not parts:  # the last name: followed only if asked
                try:
                    mode = os.stat(name, dir_fd=fds[-1], follow_symlinks=False).st_mode
                except FileNotFoundError:
                    return name
                if not (follow and stat.S_ISLNK(mode)):
                    return name
            else:
                try:
                    fds.append(os.open(name, _DIR_FLAGS, dir_fd=fds[-1]))
                    names.append(name)
                    continue
                except FileNotFoundError:
                    if not lenient:
                        raise
                    names.extend(_lexical([name, *parts]))
                    return b"."
                except OSError as exc:
                    if exc.errno not in _NOT_A_DIRECTORY:
                        raise
                    mode = os.stat(name, dir_fd=fds[-1], follow_symlinks=False).st_mode
                    if not stat.S_ISLNK(mode):
                        raise NotADirectoryError(errno.ENOTDIR, "not a directory") from None
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links")
            target = os.readlink(name, dir_fd=fds[-1])
            if target.startswith(b"/"):
                relative = self.inside(target)
                if relative is None:
                    raise _escape(target)
                while len(fds) > 1:  # back to the root, then down the target
                    os.close(fds.pop())
                names.clear()
                target = relative
            parts.extendleft(reversed(_parts(target)))
        return b"."


def _lexical(parts: List[bytes]) -> List[bytes]:
    """Components joined as text, ``..`` stopping where they start."""
    out: List[bytes] = []
    for part in parts:
        if part == b"..":
            if out:
                out.pop()
        elif part not in (b"", b"."):
            out.append(part)
    return out
