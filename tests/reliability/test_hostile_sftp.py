"""Issue 23, item 2: a hostile SFTP server must not make ``instances.download`` write
outside the directory it downloads into.

asyncssh 2.21.0-2.24.0 joined whatever names a server listed onto the local target, so
``/abs/path`` or ``../escape`` wrote anywhere; 2.24.1 refuses such names, but checks the
symlinks it creates one at a time, so a chain of links that each stay inside
(``y -> .``, ``z -> y/../..``) led outside; and Python 3.9 gets 2.21.1 at most. So the
SDK walks the remote tree itself (``core/sftp_download.py``): here a lying SFTP server
on loopback serves each trick to the SDK's own download path
(:class:`~fluidstack.core._async.remote.AsyncRemoteAccess`), and the test checks the
local disk: nothing outside the target, whether the download fails or not, on every
asyncssh version.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Tuple, Union

import asyncssh
import pytest

from fluidstack.core._async.remote import AsyncRemoteAccess
from fluidstack.core.ssh import SshError, SshTarget

pytestmark = pytest.mark.anyio

File = bytes
"""A regular file's content."""


class Link:
    def __init__(self, target: bytes) -> None:
        self.target = target


Dir = List[Tuple[bytes, Any]]
"""A directory's listing as the server tells it: (name, File | Link | Dir), names
unchecked, duplicates allowed."""
Node = Union[File, Link, Dir]


def _attrs(node: Node, follow: bool = True) -> Any:
    sftp = asyncssh
    if isinstance(node, Link) and not follow:
        kind, size = sftp.FILEXFER_TYPE_SYMLINK, 0
    elif isinstance(node, list):
        kind, size = sftp.FILEXFER_TYPE_DIRECTORY, 0
    else:
        kind, size = sftp.FILEXFER_TYPE_REGULAR, len(node) if isinstance(node, bytes) else 6
    mode = {sftp.FILEXFER_TYPE_DIRECTORY: 0o40755, sftp.FILEXFER_TYPE_SYMLINK: 0o120777}
    return asyncssh.SFTPAttrs(
        type=kind, size=size, permissions=mode.get(kind, 0o100644), atime=1, mtime=1
    )


def _flatten(home: Dir) -> Tuple[Dict[bytes, Node], Dict[bytes, Link]]:
    """Every path the client may ask for, joined the way asyncssh joins them, and the
    links apart (a listing may name a link and a directory alike: a link's target is
    read with readlink, a directory's entries with scandir)."""
    paths: Dict[bytes, Node] = {b"": home, b".": home}
    links: Dict[bytes, Link] = {}

    def walk(prefix: bytes, listing: Dir) -> None:
        for name, node in listing:
            path = posixpath.join(prefix, name) if prefix else name
            if isinstance(node, Link):
                links[path] = node
            if not isinstance(paths.get(path), list):
                paths[path] = node
            if isinstance(node, list):
                walk(path, node)

    walk(b"", home)
    return paths, links


def _server_for(home: Dir) -> Any:
    paths, links = _flatten(home)

    class LyingSFTPServer(asyncssh.SFTPServer):
        """Answers from ``home``, whatever names it holds."""

        def _node(self, path: bytes) -> Node:
            node = paths.get(path.rstrip(b"/") if path not in (b"/",) else path)
            if node is None:
                raise asyncssh.SFTPNoSuchFile(path.decode("utf-8", "replace"))
            return node

        def realpath(self, path: bytes) -> bytes:
            return path

        def stat(self, path: bytes) -> Any:
            return _attrs(self._node(path))

        def lstat(self, path: bytes) -> Any:
            return _attrs(self._node(path), follow=False)

        async def scandir(self, path: bytes) -> AsyncIterator[Any]:
            node = self._node(path)
            if not isinstance(node, list):
                raise asyncssh.SFTPNoSuchFile(path.decode())
            for name, child in node:
                yield asyncssh.SFTPName(name, attrs=_attrs(child, follow=False))

        def readlink(self, path: bytes) -> bytes:
            link = links.get(path)
            if link is None:
                raise asyncssh.SFTPNoSuchFile(path.decode())
            return link.target

        def open(self, path: bytes, pflags: int, attrs: Any) -> Any:
            node = self._node(path)
            # A real file: asyncssh's server seeks with SEEK_DATA for sparse copies.
            file = tempfile.TemporaryFile()  # noqa: SIM115 (the server closes it)
            file.write(node if isinstance(node, bytes) else b"pwned!")
            return file

    return LyingSFTPServer


class _Open(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False  # no authentication: this is a throwaway loopback server


class _Instances(AsyncRemoteAccess[str]):
    """The SDK's instances resource, with its one instance at the hostile server."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def _ssh_target(self, instance: str) -> SshTarget:
        return SshTarget("127.0.0.1", self.port, "ubuntu", instance)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """``sandbox/target`` is where downloads go; ``sandbox`` must hold nothing else."""
    (tmp_path / "sandbox" / "target").mkdir(parents=True)
    (tmp_path / "sandbox" / "keep").write_text("unchanged")
    os.utime(tmp_path / "sandbox" / "keep", (1_000_000_000, 1_000_000_000))
    return tmp_path / "sandbox"


def _outside(sandbox: Path) -> List[str]:
    """What exists (or changed) outside the target."""
    found = sorted(p.name for p in sandbox.iterdir() if p.name not in ("target", "keep"))
    found += [str(p) for p in sandbox.parent.iterdir() if p.name != "sandbox"]
    keep = sandbox / "keep"
    if keep.read_text() != "unchanged" or keep.stat().st_mtime != 1_000_000_000:
        found.append("keep (changed)")
    if oct(sandbox.stat().st_mode & 0o777) != oct(0o755) and (sandbox.stat().st_mode & 0o002):
        found.append("sandbox (made world-writable)")
    return found


def _tricks(sandbox: Path) -> Dict[str, Tuple[str, Dir]]:
    """name -> (what is downloaded, the home directory the server pretends to have)."""
    victim = str(sandbox.parent / "abs-victim").encode()
    return {
        "absolute name": ("out", [(b"out", [(victim, b"pwned!")])]),
        "dot-dot name": ("out", [(b"out", [(b"../escape", b"pwned!")])]),
        "two levels up": ("out", [(b"out", [(b"../../escape", b"pwned!")])]),
        "backslash name": ("out", [(b"out", [(b"..\\escape", b"pwned!")])]),
        "dot-dot directory": ("out", [(b"out", [(b"..", [(b"escape", b"pwned!")])])]),
        "absolute name by glob": ("*", [(victim, b"pwned!"), (b"ok", b"fine")]),
        "dot-dot by glob": ("*", [(b"../escape", b"pwned!")]),
        "absolute symlink": ("out", [(b"out", [(b"l", Link(victim)), (b"l", [(b"x", b"p")])])]),
        "escaping symlink": (
            "out",
            [(b"out", [(b"l", Link(b"../../..")), (b"l", [(b"escape", b"pwned!")])])],
        ),
        "symlink chain": (
            # Each link checked on its own stays inside; followed together they leave.
            "out",
            [
                (
                    b"out",
                    [
                        (b"y", Link(b".")),
                        (b"z", Link(b"y/../..")),
                        (b"z", [(b"escape", b"pwned!")]),
                    ],
                )
            ],
        ),
        "long symlink chain": (
            # The same, one more level up per link: out of the sandbox altogether.
            "out",
            [
                (
                    b"out",
                    [
                        (b"y1", Link(b".")),
                        (b"y2", Link(b"y1/..")),
                        (b"y3", Link(b"y2/../..")),
                        (b"y3", [(b"escape", b"pwned!")]),
                    ],
                )
            ],
        ),
    }


OLD_PYTHON = sys.version_info < (3, 10)
"""Python 3.9 gets asyncssh 2.21.1 at most (2.24.x needs 3.10), which checks no names:
the SDK's own walk (core/sftp_download.py) is what keeps these tests passing there."""


TRICKS = list(_tricks(Path("/")))


@pytest.mark.parametrize("trick", TRICKS)
async def test_a_lying_sftp_server_writes_nothing_outside_the_target(
    sandbox: Path, trick: str
) -> None:
    remote, home = _tricks(sandbox)[trick]
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(
        _Open,
        "127.0.0.1",
        0,
        server_host_keys=[key],
        sftp_factory=_server_for(home),
        allow_scp=False,
    )
    port = server.sockets[0].getsockname()[1]
    instances = _Instances(port)
    try:
        try:
            await instances.download("i-1", remote, sandbox / "target", known_hosts=False)
        except SshError:
            pass  # refusing is fine: writing outside is not
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
    assert _outside(sandbox) == [], (trick, version("asyncssh"))


async def test_an_honest_listing_still_downloads(sandbox: Path) -> None:
    home: Dir = [(b"out", [(b"a.txt", b"hello"), (b"sub", [(b"b.txt", b"world")])])]
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(
        _Open, "127.0.0.1", 0, server_host_keys=[key], sftp_factory=_server_for(home)
    )
    try:
        instances = _Instances(server.sockets[0].getsockname()[1])
        await instances.download("i-1", "out", sandbox / "target", known_hosts=False)
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
    assert (sandbox / "target" / "out" / "a.txt").read_bytes() == b"hello"
    assert (sandbox / "target" / "out" / "sub" / "b.txt").read_bytes() == b"world"


def test_the_installed_asyncssh_checks_names() -> None:
    installed = tuple(int(p) for p in version("asyncssh").split(".")[:3])
    assert installed >= ((2, 21, 0) if OLD_PYTHON else (2, 24, 1))
