"""Issue 23, item 9: SFTP and scp stay inside the instance's directory.

asyncssh's ``chroot`` only rewrote ``..`` and absolute paths: a symlink planted in the
instance (any session can run ``ln -s /etc/passwd``) let SFTP read the host's files and
write outside. Here links are planted on the host side, as a session would, and every
path operation is tried through them; the host's files are checked, not the messages."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Tuple

import asyncssh
import httpx
import pytest
from ssh_support import KeyPair

from fluidstack.testing.handle import EmulatorHandle

pytestmark = pytest.mark.anyio

DENIED = (asyncssh.SFTPPermissionDenied, asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath)
"""How a path that leaves the root fails: as if it were not there, or not allowed."""


def _platform(emulator: EmulatorHandle, key: KeyPair) -> Dict[str, Any]:
    api = httpx.Client(base_url=emulator.base_url, headers={"api-key": emulator.api_key})
    with api:
        if api.get("/ssh_keys").json() == []:
            api.post("/ssh_keys", json={"name": "k", "public_key": key.public})
        created = api.post("/instances", json={"gpu_type": "RTX_A4000_16GB", "ssh_key": "k"})
        emulator.advance(3600)
        instance: Dict[str, Any] = api.get(f"/instances/{created.json()['id']}").json()
    assert instance["status"] == "running"
    return instance


class Box:
    """A running instance, its directory, and a host directory outside it."""

    def __init__(self, instance: Dict[str, Any], root: Path, host: Path) -> None:
        self.instance = instance
        self.root = root
        self.home = root / "home" / "ubuntu"
        self.host = host
        self.secret = host / "secret.txt"


@pytest.fixture
def box(ssh_emulator: EmulatorHandle, key: KeyPair, tmp_path: Path) -> Box:
    instance = _platform(ssh_emulator, key)
    root = ssh_emulator.instance_directory(instance["id"])
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret.txt").write_text("host secret\n")
    made = Box(instance, root, host)
    # What a session could plant (ln -s), before any SFTP request.
    made.home.mkdir(parents=True, exist_ok=True)
    os.symlink("/etc/passwd", made.home / "passwd")
    os.symlink(made.secret, made.home / "secret")
    os.symlink(host, made.home / "hostdir")
    os.symlink("../../../../../../../../..", made.home / "up")
    os.symlink(".", made.home / "y")
    os.symlink("y" + "/.." * 12, made.home / "z")  # through y (home), then far above
    (made.home / "sub").mkdir()
    (made.home / "sub" / "file.txt").write_text("inside\n")
    os.symlink("sub/file.txt", made.home / "relative")
    os.symlink(made.home / "sub" / "file.txt", made.home / "absolute")  # host path, inside
    os.symlink("sub", made.home / "subdir")
    return made


async def _connect(box: Box, key: KeyPair) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        "127.0.0.1", port=int(box.instance["ssh_port"]), username="ubuntu",
        client_keys=[str(key.private)], known_hosts=None, agent_path=None, config=None,
    )  # fmt: skip


@pytest.fixture
async def sftp(box: Box, key: KeyPair) -> AsyncIterator[asyncssh.SFTPClient]:
    async with await _connect(box, key) as conn, conn.start_sftp_client() as client:
        yield client


def _host_unchanged(box: Box) -> None:
    assert sorted(p.name for p in box.host.iterdir()) == ["secret.txt"]
    assert box.secret.read_text() == "host secret\n"
    assert oct(box.secret.stat().st_mode & 0o777) != oct(0o777)


async def _read(sftp: asyncssh.SFTPClient, path: str) -> bytes:
    async with sftp.open(path, "rb") as file:
        data: bytes = await file.read()
        return data


@pytest.mark.parametrize("path", ["passwd", "secret", "up/etc/passwd", "z/etc/passwd",
                                  "hostdir/secret.txt", "/home/ubuntu/secret"])  # fmt: skip
async def test_a_planted_link_out_of_the_root_cannot_be_read(
    sftp: asyncssh.SFTPClient, box: Box, path: str
) -> None:
    with pytest.raises(DENIED):
        await _read(sftp, path)
    with pytest.raises(DENIED):
        await sftp.stat(path)
    with pytest.raises(DENIED):
        await sftp.get(path, str(box.host.parent / "got"))
    assert not (box.host.parent / "got").exists()


async def test_a_planted_link_is_still_a_file_of_the_instance(
    sftp: asyncssh.SFTPClient, box: Box
) -> None:
    """It can be seen (lstat, a listing) and removed; where it leads is not shown."""
    assert (await sftp.lstat("passwd")).type == asyncssh.FILEXFER_TYPE_SYMLINK
    assert "passwd" in await sftp.listdir(".")
    with pytest.raises(DENIED):
        await sftp.readlink("secret")
    await sftp.remove("secret")
    assert not os.path.lexists(box.home / "secret")
    _host_unchanged(box)


async def test_a_link_to_a_host_directory_cannot_be_written_through(
    sftp: asyncssh.SFTPClient, box: Box, tmp_path: Path
) -> None:
    local = tmp_path / "local.txt"
    local.write_text("pwned\n")
    attempts = [
        sftp.put(str(local), "hostdir/new.txt"),
        sftp.put(str(local), "hostdir/secret.txt"),
        sftp.put(str(local), "secret"),
        sftp.mkdir("hostdir/sub"),
        sftp.rename("sub/file.txt", "hostdir/moved.txt"),
        sftp.posix_rename("sub/file.txt", "hostdir/secret.txt"),
        sftp.symlink("/home/ubuntu/sub", "hostdir/link"),
        sftp.link("sub/file.txt", "hostdir/hard"),
        sftp.remove("hostdir/secret.txt"),
        sftp.chmod("secret", 0o777),
        sftp.chmod("hostdir/secret.txt", 0o777),
        sftp.truncate("secret", 0),
        sftp.utime("hostdir/secret.txt", (1, 1)),
        sftp.listdir("hostdir"),
        sftp.listdir("up"),
    ]
    for attempt in attempts:
        with pytest.raises(DENIED):
            await attempt
    before = sorted(os.listdir(box.root.parent))
    with pytest.raises(DENIED):  # "up" climbs above the root
        async with sftp.open("up/escape.txt", "wb") as file:
            await file.write(b"x")
    assert sorted(os.listdir(box.root.parent)) == before
    _host_unchanged(box)
    assert (box.home / "sub" / "file.txt").read_text() == "inside\n"


async def test_dot_dot_and_absolute_paths_stay_in_the_root(
    sftp: asyncssh.SFTPClient, box: Box
) -> None:
    assert await sftp.realpath("../../../..") == "/"
    assert await sftp.realpath(".") == "/home/ubuntu"
    assert await sftp.realpath("/../../etc") == "/etc"
    with pytest.raises(DENIED):
        await _read(sftp, "/etc/passwd")  # the instance's /etc has no passwd
    with pytest.raises(DENIED):
        await _read(sftp, "../../../../../../etc/passwd")
    async with sftp.open("/../../../dotdot.txt", "wb") as file:
        await file.write(b"x")
    assert (box.root / "dotdot.txt").read_bytes() == b"x"
    assert sorted(await sftp.listdir("/..")) == sorted(await sftp.listdir("/"))
    with pytest.raises(DENIED):
        await sftp.realpath("up/etc")  # a link above the root: no name to give it


async def test_links_inside_the_root_still_work(sftp: asyncssh.SFTPClient, box: Box) -> None:
    assert await _read(sftp, "relative") == b"inside\n"
    assert await _read(sftp, "absolute") == b"inside\n"  # a host path inside the root
    assert await _read(sftp, "subdir/file.txt") == b"inside\n"
    assert await _read(sftp, "y/y/sub/file.txt") == b"inside\n"
    assert sorted(await sftp.listdir("subdir")) == [".", "..", "file.txt"]
    assert await sftp.realpath("subdir/file.txt") == "/home/ubuntu/sub/file.txt"
    assert await sftp.realpath("absolute") == "/home/ubuntu/sub/file.txt"
    assert await sftp.readlink("absolute") == "/home/ubuntu/sub/file.txt"
    assert await sftp.readlink("relative") == "sub/file.txt"
    async with sftp.open("subdir/written.txt", "wb") as file:
        await file.write(b"through a link")
    assert (box.home / "sub" / "written.txt").read_bytes() == b"through a link"
    await sftp.chmod("relative", 0o600)
    assert (box.home / "sub" / "file.txt").stat().st_mode & 0o777 == 0o600


async def test_links_made_over_sftp_stay_in_the_root(
    sftp: asyncssh.SFTPClient, box: Box, key: KeyPair
) -> None:
    """An absolute target is the instance's own ``/``, for SFTP and sessions alike; a
    relative one climbing above the root is refused."""
    await sftp.symlink("/home/ubuntu/sub/file.txt", "made-absolute")
    await sftp.symlink("sub/file.txt", "made-relative")
    await sftp.symlink("/etc/passwd", "made-passwd")  # the instance's /etc/passwd
    with pytest.raises(DENIED):
        await sftp.symlink("../../../../../../../../etc/passwd", "made-escape")
    assert not os.path.lexists(box.home / "made-escape")
    assert await _read(sftp, "made-absolute") == b"inside\n"
    assert await _read(sftp, "made-relative") == b"inside\n"
    with pytest.raises(DENIED):
        await _read(sftp, "made-passwd")
    assert os.readlink(box.home / "made-passwd") == str(box.root.resolve() / "etc" / "passwd")
    async with await _connect(box, key) as conn:
        result = await conn.run("cat made-absolute")
    assert result.stdout == "inside\n"


async def test_scp_protocol_through_a_planted_link(box: Box, key: KeyPair, tmp_path: Path) -> None:
    """asyncssh's scp client speaks the old scp protocol, which the server answers
    through the same confined object."""
    local = tmp_path / "up.txt"
    local.write_text("pwned\n")
    async with await _connect(box, key) as conn:
        with pytest.raises((asyncssh.SFTPError, OSError)):
            await asyncssh.scp((conn, "passwd"), str(tmp_path / "passwd"))
        with pytest.raises((asyncssh.SFTPError, OSError)):
            await asyncssh.scp(str(local), (conn, "hostdir/up.txt"))
        await asyncssh.scp((conn, "relative"), str(tmp_path / "relative"))
    assert not (tmp_path / "passwd").exists()
    assert (tmp_path / "relative").read_text() == "inside\n"
    _host_unchanged(box)


@pytest.mark.skipif(shutil.which("scp") is None and not os.environ.get("CI"),
                    reason="the system scp client is not installed")  # fmt: skip
def test_openssh_scp_through_a_planted_link(box: Box, key: KeyPair, tmp_path: Path) -> None:
    options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", f"UserKnownHostsFile={tmp_path / 'kh'}", "-i", str(key.private),
               "-P", str(box.instance["ssh_port"])]  # fmt: skip

    def scp(*args: str) -> Tuple[int, str]:
        done = subprocess.run(["scp", *options, *args], capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        return done.returncode, done.stderr

    down = tmp_path / "passwd"
    assert scp("ubuntu@127.0.0.1:passwd", str(down))[0] != 0
    assert not down.exists() or down.read_text() == ""
    local = tmp_path / "up.txt"
    local.write_text("pwned\n")
    assert scp(str(local), "ubuntu@127.0.0.1:hostdir/up.txt")[0] != 0
    assert scp(str(local), "ubuntu@127.0.0.1:secret")[0] != 0
    code, stderr = scp("ubuntu@127.0.0.1:relative", str(tmp_path / "relative"))
    assert code == 0, stderr
    assert (tmp_path / "relative").read_text() == "inside\n"
    _host_unchanged(box)


async def test_a_link_swapped_in_during_requests_is_never_followed(
    sftp: asyncssh.SFTPClient, box: Box
) -> None:
    """A session replacing a directory by a link out, again and again, while SFTP
    writes into it: whatever each request meets, nothing lands outside."""
    target = box.home / "race"
    stop = asyncio.Event()

    def swap() -> None:
        while not stop.is_set():
            try:
                if target.is_symlink():
                    target.unlink()
                target.mkdir(exist_ok=True)
                shutil.rmtree(target)
                os.symlink(box.host, target)
            except OSError:
                pass

    swapper = asyncio.get_running_loop().run_in_executor(None, swap)
    try:
        for index in range(200):
            try:
                async with sftp.open(f"race/f{index}.txt", "wb") as file:
                    await file.write(b"x")
            except (asyncssh.SFTPError, OSError):
                pass
    finally:
        stop.set()
        await swapper
    _host_unchanged(box)


async def test_sftp_version_6_opens_are_confined_too(box: Box, key: KeyPair) -> None:
    """Versions 5 and 6 open files with another request (``open56``)."""
    async with await _connect(box, key) as conn, conn.start_sftp_client(sftp_version=6) as v6:
        assert await _read(v6, "relative") == b"inside\n"
        with pytest.raises(DENIED):
            await _read(v6, "passwd")
        with pytest.raises(DENIED):
            async with v6.open("hostdir/new.txt", "wb") as file:
                await file.write(b"pwned")
        async with v6.open("subdir/v6.txt", "ab") as file:
            await file.write(b"v6")
    assert (box.home / "sub" / "v6.txt").read_bytes() == b"v6"
    _host_unchanged(box)


async def test_attributes_inside_the_root_can_be_set(sftp: asyncssh.SFTPClient, box: Box) -> None:
    await sftp.truncate("relative", 3)
    await sftp.utime("subdir/file.txt", (1_000_000_000, 1_000_000_000))
    path = box.home / "sub" / "file.txt"
    assert path.read_text() == "ins"
    assert path.stat().st_mtime == 1_000_000_000
    assert (await sftp.statvfs("subdir")).bsize > 0
    with pytest.raises(DENIED):
        await sftp.statvfs("hostdir")
    assert await sftp.exists("subdir/file.txt")
    assert not await sftp.exists("passwd")  # as if it were not there
