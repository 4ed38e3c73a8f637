"""Issue 28 item 2 and 3: an emulated instance never has an address that routes anywhere,
and nothing ever opens a connection to a documentation address (RFC 5737).

The emulator's instances have loopback addresses with ``--ssh`` and documentation
addresses without. ``ssh``/``exec``/``cp``/``run`` and the SDK's ``exec`` and
``wait(until="ssh")`` refuse a documentation address at once, saying to start the
emulator with ``--ssh``. ``test_refusals_hold_in_a_loopback_only_namespace`` runs the
refusal tests again where only loopback exists: had anything tried the address, the
error would be "Network is unreachable" (or SSH's), not the SDK's own.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from cli_support import Fs, Home, write_key_pair

from fluidstack.testing import EmulatorHandle
from support import refuse_connections_beyond_loopback

IN_NAMESPACE = "FLUIDSTACK_TEST_LOOPBACK_ONLY"
"""Set when these tests run inside the loopback-only network namespace."""

only_without_a_network = pytest.mark.skipif(
    not os.environ.get(IN_NAMESPACE),
    reason="could try a documentation address if the refusal broke: runs in a loopback-only "
    "namespace (test_refusals_hold_in_a_loopback_only_namespace)",
)

NEVER = ("Network is unreachable", "timed out", "Connection lost", "Connection refused")
"""What an error would say had a connection been attempted."""

ATTEMPTS: List[Any] = []
"""Where this test process tried to connect beyond loopback (the autouse fixture below
refuses and records it): a refusal "at once" is one made before any such attempt, which
holds however loaded the machine is (a bound on the seconds it took did not)."""


@pytest.fixture(autouse=True)
def _no_connection_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every socket connection beyond loopback fails, as in a loopback-only namespace,
    and is recorded in ``ATTEMPTS``: none leaves this machine, whatever the code does."""
    ATTEMPTS.clear()
    refuse_connections_beyond_loopback(monkeypatch, ATTEMPTS)
    yield
    ATTEMPTS.clear()


def _point_cli_at(handle: EmulatorHandle, home: Home, monkeypatch: pytest.MonkeyPatch) -> Fs:
    """The CLI on ``handle`` for both APIs (platform key, Atlas client credentials, a new
    project ``work``), an SSH key uploaded, waits in simulated time."""
    from fluidstack.core._sync.pipeline import Pipeline

    control = handle.atlas
    env = {
        "FLUIDSTACK_API_KEY": handle.api_key,
        "FLUIDSTACK_BASE_URL": handle.base_url,
        "FLUIDSTACK_CLIENT_ID": control.client_id,
        "FLUIDSTACK_CLIENT_SECRET": control.client_secret,
        "FLUIDSTACK_ATLAS_URL": control.management_url,
        "FLUIDSTACK_REGION": control.regions()[0],
    }
    if handle.ssh_info()["enabled"]:
        env["FLUIDSTACK_SSH_PORT"] = str(handle.ssh_port)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(Pipeline.__init__.__kwdefaults__, "sleep", handle.advance)
    # ssh/scp must never start: were one exec'd, it would replace this process.
    monkeypatch.setattr(os, "execvp", _no_exec)
    fs = Fs()
    write_key_pair(home.path / ".ssh", "id_ed25519")
    fs("ssh-keys", "add", "laptop")
    project = fs.json("atlas", "projects", "create", "work")
    monkeypatch.setenv("FLUIDSTACK_PROJECT_ID", project["id"])
    return fs


def _no_exec(*args: Any) -> None:
    raise AssertionError(f"a program was exec'd: {args}")


def _running(fs: Fs, handle: EmulatorHandle) -> Dict[str, Dict[str, Any]]:
    """A running instance of each API: ``{"platform": doc, "atlas": doc}``."""
    created = fs.json("instances", "create", "--gpu-type", "RTX_A5000_24GB")
    atlas = fs.json("atlas", "instances", "create", "box", "--type", "cpu.2x")
    handle.advance(3600)
    return {
        "platform": fs.json("instances", "get", created["id"]),
        "atlas": fs.json("atlas", "instances", "get", atlas["id"]),
    }


def _address_is_harmless(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    documentation = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
    return ip.is_loopback or any(ip in ipaddress.ip_network(n) for n in documentation)


@pytest.mark.parametrize("with_ssh", [False, True], ids=["plain", "ssh"])
def test_no_emulated_instance_has_an_address_that_routes_anywhere(
    with_ssh: bool, request: pytest.FixtureRequest, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle: EmulatorHandle = request.getfixturevalue("ssh_emulator" if with_ssh else "emulator")
    fs = _point_cli_at(handle, home, monkeypatch)
    addresses: List[str] = []
    for _ in range(3):
        docs = _running(fs, handle)
        addresses += [docs["platform"]["ip_address"], docs["atlas"]["ip"]]
    assert all(addresses)
    assert len(addresses) == 6
    assert [a for a in addresses if not _address_is_harmless(a)] == []
    if with_ssh:
        assert all(ipaddress.ip_address(a).is_loopback for a in addresses)
    else:
        assert not any(ipaddress.ip_address(a).is_loopback for a in addresses)


@pytest.fixture
def plain_fs(emulator: EmulatorHandle, home: Home, monkeypatch: pytest.MonkeyPatch) -> Fs:
    return _point_cli_at(emulator, home, monkeypatch)


def _refused_at_once(result: Any) -> None:
    assert ATTEMPTS == [], result.stderr  # refused before any connection was tried
    assert "--ssh" in result.stderr, result.stderr
    assert "documentation address" in result.stderr, result.stderr
    for words in NEVER:
        assert words not in result.stderr, result.stderr


@only_without_a_network
@pytest.mark.parametrize("api", ["platform", "atlas"])
def test_ssh_exec_cp_refuse_an_emulator_without_ssh_at_once(
    api: str, plain_fs: Fs, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    instance = _running(plain_fs, emulator)[api]
    prefix = ["atlas"] if api == "atlas" else []
    ident = instance["id"]
    local = tmp_path / "data.txt"
    local.write_text("x")
    commands = [
        (["instances", "ssh", ident], 1),
        (["instances", "exec", ident, "--", "true"], 255),
        (["instances", "cp", str(local), f"{ident}:data.txt"], 255),
        (["instances", "cp", f"{ident}:data.txt", str(tmp_path / "back.txt")], 255),
    ]
    for args, code in commands:
        result = plain_fs(*prefix, *args, expect=code)
        _refused_at_once(result)
    assert not (tmp_path / "back.txt").exists()


@only_without_a_network
@pytest.mark.parametrize("api", ["platform", "atlas"])
def test_run_refuses_an_emulator_without_ssh_and_deletes_the_instance(
    api: str, plain_fs: Fs, emulator: EmulatorHandle, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    prefix = ["atlas"] if api == "atlas" else []
    extra = ["--type", "cpu.2x"] if api == "atlas" else []
    result = plain_fs(*prefix, "run", *extra, "--", "true", expect=255)
    _refused_at_once(result)
    assert "waiting for SSH" in result.stderr
    listed = plain_fs.json(*prefix, "instances", "list")
    states = [doc.get("status") or doc.get("state") for doc in listed]
    assert all(s in ("terminated", "deleting", "terminating") for s in states), states


@only_without_a_network
def test_slurm_ssh_refuses_a_login_node_of_an_emulator_without_ssh_at_once(
    plain_fs: Fs, emulator: EmulatorHandle
) -> None:
    """A Slurm login node is as unreachable as an instance when the emulator has no
    ``--ssh``: ``atlas slurm ssh`` says so before ssh is started."""
    cluster = plain_fs.json("atlas", "slurm", "clusters", "create", "hpc", "--wait")
    (login,) = cluster["loginNodes"]
    assert not ipaddress.ip_address(login["publicIP"]).is_loopback
    assert _address_is_harmless(login["publicIP"])
    result = plain_fs("atlas", "slurm", "ssh", "hpc", "--", "sinfo", expect=1)
    _refused_at_once(result)


@only_without_a_network
def test_the_sdk_refuses_before_connecting(
    emulator: EmulatorHandle, atlas: Any, fluidstack_client: Any
) -> None:
    from fluidstack.core.addresses import EmulatorAddressError
    from fluidstack.core.ssh import SshError

    platform = fluidstack_client.instances.create(gpu_type="RTX_A5000_24GB", ssh_key=_key(
        fluidstack_client))  # fmt: skip
    project = atlas.projects.create(name="work")
    scoped = atlas.with_options(project_id=project.id)
    box = scoped.instances.create(name="box", type="cpu.2x")
    emulator.advance(3600)
    calls = [
        lambda: fluidstack_client.instances.wait(platform.id, until="ssh", timeout=60),
        lambda: fluidstack_client.instances.exec(platform.id, "true"),
        lambda: scoped.instances.wait(box.id, until="ssh", timeout=60),
        lambda: scoped.instances.exec(box.id, "true"),
        lambda: scoped.instances.upload(box.id, __file__, "x.py"),
    ]
    for call in calls:
        with pytest.raises(EmulatorAddressError) as caught:
            call()
        assert ATTEMPTS == []  # refused before any connection was tried
        assert isinstance(caught.value, SshError)  # old handlers still catch it
        assert "fluidstack-emulator --ssh" in str(caught.value)


def _key(client: Any) -> str:
    from cli_support import PUBLIC_KEY

    client.ssh_keys.create(name="laptop", public_key=PUBLIC_KEY)
    return "laptop"


def _loopback_only() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(bool(os.environ.get(IN_NAMESPACE)), reason="already inside")
def test_refusals_hold_in_a_loopback_only_namespace() -> None:
    if not _loopback_only():
        pytest.skip("needs `unshare -n` (root or user namespaces) and `ip`")
    here = Path(__file__)
    command = (
        f"ip link set lo up && exec {sys.executable} -m pytest -q -x -p no:cacheprovider "
        f"{here} -k 'refuse or sdk_refuses'"
    )
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", command],
        env={**os.environ, IN_NAMESPACE: "1"},
        cwd=here.parents[2],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert "skipped" not in done.stdout.splitlines()[-1]


def test_atlas_run_says_why_ssh_never_answered() -> None:
    """Item 3: Atlas reports no SSH port, so a wait for SSH that times out on a running
    instance says the port is the likely cause and how to give it."""
    import contextlib
    from types import SimpleNamespace

    from fluidstack.cli.atlas.run import _explain_silence
    from fluidstack.core.errors import WaitTimeoutError

    seen = SimpleNamespace(id="i-1", state="running", ip="127.0.0.9")

    @contextlib.contextmanager
    def times_out() -> Any:
        raise WaitTimeoutError("instance i-1 did not become ssh within 20s", instance=seen)
        yield  # pragma: no cover

    with (
        pytest.raises(WaitTimeoutError) as caught,
        _explain_silence(times_out(), 22, port_given=False),
    ):
        pass  # pragma: no cover
    message = str(caught.value)
    assert "within 20s" in message
    assert "127.0.0.9:22 (the default: Atlas reports no SSH port)" in message
    assert "--ssh-port" in message
    assert "FLUIDSTACK_SSH_PORT" in message
    assert caught.value.instance is seen

    creating = SimpleNamespace(id="i-2", state="creating", ip=None)

    @contextlib.contextmanager
    def never_ran() -> Any:
        raise WaitTimeoutError("instance i-2 did not become ssh within 20s", instance=creating)
        yield  # pragma: no cover

    with (
        pytest.raises(WaitTimeoutError) as caught,
        _explain_silence(never_ran(), 2222, port_given=True),
    ):
        pass  # pragma: no cover
    assert str(caught.value) == "instance i-2 did not become ssh within 20s"  # not the port
