"""SFTP (and scp, which asyncssh serves through the same object) on an instance's files,
confined to its root directory.

asyncssh's own ``chroot`` is lexical: it maps ``..`` and absolute paths into the root but
lets the kernel follow any symlink found there, so a link planted by a session
(``ln -s /etc/passwd``) read and wrote the host's files. Here every operation resolves its
path with :class:`~fluidstack.emulator.ssh.confine.Root` (links followed only while they
stay inside, by this code, component by component) and then acts on the last name
relative to the directory it holds, never following a link itself.

What a client sees, as on a real instance: absolute paths from the instance's ``/``,
relative ones from ``$HOME``; a link inside the root works; a link whose target leaves
the root fails with "permission denied" on whatever follows it (reading it with
``readlink``/``lstat`` still works: it is a file of the instance); a link made over SFTP
cannot point outside.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import IO, AsyncIterator, Tuple

from fluidstack.emulator.ssh.confine import Resolved, Root, leaves_root
from fluidstack.emulator.ssh.quiet import asyncssh
from fluidstack.emulator.ssh.tools import USERNAME, InstanceDisk

__all__ = ["InstanceSFTPServer"]

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class InstanceSFTPServer(asyncssh.SFTPServer):
    """SFTP and scp confined to the instance's root; relative paths start at ``$HOME``."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], disk: InstanceDisk) -> None:
        self._disk = disk
        self._root = Root(str(disk.root), b"/home/" + USERNAME.encode())
        # asyncssh's lexical chroot stays underneath, for any method added to asyncssh
        # later and not overridden here: it confines ``..`` and absolute paths at least.
        super().__init__(chan, chroot=str(disk.root).encode())

    def map_path(self, path: bytes) -> bytes:
        if not path.startswith(b"/"):
            home = b"/home/" + USERNAME.encode()
            path = home + (b"/" + path if path and path != b"." else b"")
        return super().map_path(path)

    # -- files -----------------------------------------------------------------------

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> IO[bytes]:
        flags = {
            asyncssh.FXF_READ: os.O_RDONLY,
            asyncssh.FXF_WRITE: os.O_WRONLY,
            asyncssh.FXF_READ | asyncssh.FXF_WRITE: os.O_RDWR,
        }.get(pflags & (asyncssh.FXF_READ | asyncssh.FXF_WRITE), os.O_RDONLY)
        for sftp_flag, os_flag in (
            (asyncssh.FXF_APPEND, os.O_APPEND),
            (asyncssh.FXF_CREAT, os.O_CREAT),
            (asyncssh.FXF_TRUNC, os.O_TRUNC),
            (asyncssh.FXF_EXCL, os.O_EXCL),
        ):
            if pflags & sftp_flag:
                flags |= os_flag
        return self._open(path, flags, attrs)

    def open56(
        self, path: bytes, desired_access: int, flags: int, attrs: asyncssh.SFTPAttrs
    ) -> IO[bytes]:
        access = desired_access & (asyncssh.ACE4_READ_DATA | asyncssh.ACE4_WRITE_DATA)
        open_flags = {
            asyncssh.ACE4_WRITE_DATA: os.O_WRONLY,
            asyncssh.ACE4_READ_DATA | asyncssh.ACE4_WRITE_DATA: os.O_RDWR,
        }.get(access, os.O_RDONLY)
        open_flags |= {
            asyncssh.FXF_CREATE_NEW: os.O_CREAT | os.O_EXCL,
            asyncssh.FXF_CREATE_TRUNCATE: os.O_CREAT | os.O_TRUNC,
            asyncssh.FXF_OPEN_OR_CREATE: os.O_CREAT,
            asyncssh.FXF_TRUNCATE_EXISTING: os.O_TRUNC,
        }.get(flags & asyncssh.FXF_ACCESS_DISPOSITION, 0)
        if desired_access & asyncssh.ACE4_APPEND_DATA or flags & asyncssh.FXF_APPEND_DATA:
            open_flags |= os.O_APPEND
        return self._open(path, open_flags, attrs)

    def _open(self, path: bytes, flags: int, attrs: asyncssh.SFTPAttrs) -> IO[bytes]:
        perms = 0o666 if attrs.permissions is None else attrs.permissions
        with self._root.resolve(path, follow=True) as where:
            fd = os.open(where.name, flags | _NOFOLLOW, perms, dir_fd=where.dir_fd)
        access = flags & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
        append = "a" if flags & os.O_APPEND else ""
        mode = {os.O_RDONLY: "rb", os.O_WRONLY: (append or "w") + "b"}.get(access, "r+b")
        return open(fd, mode, buffering=0)

    # -- attributes ------------------------------------------------------------------

    def stat(self, path: bytes) -> os.stat_result:
        with self._root.resolve(path, follow=True) as where:
            return os.stat(where.name, dir_fd=where.dir_fd, follow_symlinks=False)

    def lstat(self, path: bytes) -> os.stat_result:
        with self._root.resolve(path, follow=False) as where:
            return os.stat(where.name, dir_fd=where.dir_fd, follow_symlinks=False)

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        with self._root.resolve(path, follow=True) as where:
            _set_attrs(where, attrs)

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        with self._root.resolve(path, follow=False) as where:
            mode = os.stat(where.name, dir_fd=where.dir_fd, follow_symlinks=False).st_mode
            if not stat.S_ISLNK(mode):
                _set_attrs(where, attrs)
                return
            if attrs.size is not None or attrs.permissions is not None:
                raise asyncssh.SFTPOpUnsupported("a link has no size or permissions to set")
            if attrs.uid is not None and attrs.gid is not None:
                os.chown(where.name, attrs.uid, attrs.gid, dir_fd=where.dir_fd,
                         follow_symlinks=False)  # fmt: skip
            times = _times(attrs, os.stat(where.name, dir_fd=where.dir_fd, follow_symlinks=False))
            if times is not None:
                os.utime(where.name, ns=times, dir_fd=where.dir_fd, follow_symlinks=False)

    def statvfs(self, path: bytes) -> os.statvfs_result:
        with self._root.resolve(path, follow=True) as where:
            return os.statvfs(where.dir_fd)

    # -- directories -----------------------------------------------------------------

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        with self._root.resolve(path, follow=True) as where:
            fd = os.open(where.name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW,
                         dir_fd=where.dir_fd)  # fmt: skip
            at_root = where.client_path == b"/"
        try:
            here = os.fstat(fd)
            parent = here if at_root else os.stat(b"..", dir_fd=fd)  # the host's is not shown
            yield asyncssh.SFTPName(b".", attrs=asyncssh.SFTPAttrs.from_local(here))
            yield asyncssh.SFTPName(b"..", attrs=asyncssh.SFTPAttrs.from_local(parent))
            with os.scandir(fd) as entries:
                for entry in entries:
                    attrs = asyncssh.SFTPAttrs.from_local(entry.stat(follow_symlinks=False))
                    yield asyncssh.SFTPName(os.fsencode(entry.name), attrs=attrs)
        finally:
            os.close(fd)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        mode = 0o777 if attrs.permissions is None else attrs.permissions
        with self._root.resolve(path, follow=False) as where:
            os.mkdir(where.name, mode, dir_fd=where.dir_fd)

    def rmdir(self, path: bytes) -> None:
        with self._root.resolve(path, follow=False) as where:
            os.rmdir(where.name, dir_fd=where.dir_fd)

    def remove(self, path: bytes) -> None:
        with self._root.resolve(path, follow=False) as where:
            os.unlink(where.name, dir_fd=where.dir_fd)

    def realpath(self, path: bytes) -> bytes:
        with self._root.resolve(path, follow=True, lenient=True) as where:
            return where.client_path

    # -- names -----------------------------------------------------------------------

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        # SFTP's rename never replaces (posix_rename does): refused if the name is taken.
        with self._two(oldpath, newpath) as (old, new):
            try:
                os.stat(new.name, dir_fd=new.dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                os.rename(old.name, new.name, src_dir_fd=old.dir_fd, dst_dir_fd=new.dir_fd)
            else:
                raise asyncssh.SFTPFileAlreadyExists("File already exists")

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        with self._two(oldpath, newpath) as (old, new):
            os.replace(old.name, new.name, src_dir_fd=old.dir_fd, dst_dir_fd=new.dir_fd)

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        with self._two(oldpath, newpath) as (old, new):
            os.link(old.name, new.name, src_dir_fd=old.dir_fd, dst_dir_fd=new.dir_fd,
                    follow_symlinks=False)  # fmt: skip

    def readlink(self, path: bytes) -> bytes:
        """A link's target as the instance sees it: a host path inside the root is shown
        from the instance's ``/``; one outside is not shown at all."""
        with self._root.resolve(path, follow=False) as where:
            target = os.readlink(where.name, dir_fd=where.dir_fd)
        if not target.startswith(b"/"):
            return target
        inside = self._root.inside(target)
        if inside is None:
            raise PermissionError(
                errno.EACCES, "the link leads outside the instance", os.fsdecode(path)
            )
        return inside or b"/"

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        """A link to ``oldpath`` at ``newpath``: an absolute target is the instance's (kept
        as the host path inside the root, so sessions see the same file); a relative one
        that climbs above the root is refused."""
        with self._root.resolve(newpath, follow=False) as where:
            if oldpath.startswith(b"/"):
                parts = self._root.client_parts(oldpath)
                target = b"/".join([self._root.path, *parts])
            elif leaves_root(where.names, oldpath):
                raise PermissionError(errno.EACCES, "the link would lead outside the instance",
                                      os.fsdecode(oldpath))  # fmt: skip
            else:
                target = oldpath
            os.symlink(target, where.name, dir_fd=where.dir_fd)

    def _two(self, first: bytes, second: bytes) -> _Pair:
        return _Pair(self._root, first, second)

    def exit(self) -> None:
        # OpenSSH's sftp-server exits 0 when the client is done, and scp (SFTP mode since
        # OpenSSH 9) fails without that exit status; asyncssh sends none by itself.
        super().exit()
        channel = self.channel
        if not channel.is_closing():
            channel.exit(0)


class _Pair:
    """Two paths resolved (last names not followed), closed together."""

    def __init__(self, root: Root, first: bytes, second: bytes) -> None:
        self._first = root.resolve(first, follow=False)
        try:
            self._second = root.resolve(second, follow=False)
        except BaseException:
            self._first.close()
            raise

    def __enter__(self) -> Tuple[Resolved, Resolved]:
        return self._first, self._second

    def __exit__(self, *exc: object) -> None:
        self._first.close()
        self._second.close()


def _times(attrs: asyncssh.SFTPAttrs, current: os.stat_result) -> Tuple[int, int] | None:
    """(atime, mtime) in nanoseconds to set, the one not given kept; None if neither."""
    if attrs.atime is None and attrs.mtime is None:
        return None
    atime = current.st_atime_ns
    mtime = current.st_mtime_ns
    if attrs.atime is not None:
        atime = int(attrs.atime) * 1_000_000_000 + int(attrs.atime_ns or 0)
    if attrs.mtime is not None:
        mtime = int(attrs.mtime) * 1_000_000_000 + int(attrs.mtime_ns or 0)
    return atime, mtime


def _set_attrs(where: Resolved, attrs: asyncssh.SFTPAttrs) -> None:
    """Size, owner, permissions and times of ``where`` (not a link), through a
    descriptor: a link swapped in meanwhile is refused by ``O_NOFOLLOW``, not followed."""
    flags = (os.O_WRONLY if attrs.size is not None else os.O_RDONLY) | os.O_NONBLOCK
    fd = os.open(where.name, flags | _NOFOLLOW, dir_fd=where.dir_fd)
    try:
        if attrs.size is not None:
            os.truncate(fd, attrs.size)
        if attrs.uid is not None and attrs.gid is not None:
            os.chown(fd, attrs.uid, attrs.gid)
        if attrs.permissions is not None:
            os.chmod(fd, stat.S_IMODE(attrs.permissions))
        times = _times(attrs, os.fstat(fd))
        if times is not None:
            os.utime(fd, ns=times)
    finally:
        os.close(fd)
