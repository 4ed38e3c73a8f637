"""`instances forward` and `jupyter` of both CLIs against the ``--ssh`` emulator, run as
a user runs them (a process of their own, stopped with Ctrl-C): a server started on the
instance over exec answers an HTTP GET on the printed local URL; Ctrl-C exits 0; a taken
local port is one error line; `jupyter` starts a stand-in server (offline) once, forwards
it, and its printed URL with the token answers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from cli_support import Fs
from forward_support import SERVER, START, http_get
from ssh_support import KeyPair

from fluidstack.testing.handle import EmulatorHandle


@pytest.fixture
def trainer(fs: Fs, key: KeyPair) -> Dict[str, Any]:
    """A running platform instance named ``trainer`` that ``key`` logs into."""
    fs("ssh-keys", "add", "laptop", str(key.private.parent / f"{key.private.name}.pub"))
    doc: Dict[str, Any] = fs.json(
        "instances", "create", "--gpu-type", "RTX_A4000_16GB", "--name", "trainer", "--wait",
        "--poll-interval", "5",
    )  # fmt: skip
    return doc


@pytest.fixture
def box(fs: Fs, key: KeyPair, cli_env: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A running Atlas instance named ``box`` (project ``work``); returns its id."""
    project = fs.json("atlas", "projects", "create", "work")
    monkeypatch.setenv("FLUIDSTACK_PROJECT_ID", project["id"])
    cli_env["FLUIDSTACK_PROJECT_ID"] = project["id"]
    pub = key.private.parent / f"{key.private.name}.pub"
    doc = fs.json(
        "atlas", "instances", "create", "box", "--type", "cpu.2x", "--ssh-key", str(pub), "--wait"
    )
    return str(doc["id"])


class Running:
    """A CLI command running in its own process, read line by line."""

    def __init__(self, args: List[str], env: Dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fluidstack", *args],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Nothing here may wait forever on a command that went wrong.
        self.watchdog = threading.Timer(120, self.process.kill)
        self.watchdog.start()

    def line(self) -> str:
        assert self.process.stdout is not None
        text = self.process.stdout.readline()
        if not text:
            self.process.wait()
            raise AssertionError(self.stderr())
        return text.rstrip("\n")

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def interrupt(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        status = self.process.wait(60)
        self.watchdog.cancel()
        return status

    def close(self) -> None:
        self.watchdog.cancel()
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


@pytest.fixture
def running() -> Iterator[Any]:
    started: List[Running] = []

    def start(args: List[str], env: Dict[str, str]) -> Running:
        started.append(Running(args, env))
        return started[-1]

    yield start
    for each in started:
        each.close()


def _serve(fs: Fs, prefix: List[str], name: str, key: KeyPair, home: Path) -> int:
    """Start the test's HTTP server on the instance over exec; returns its port there."""
    (home / "serve.py").write_text(SERVER)
    started = fs(*prefix, "exec", name, "-i", str(key.private), "--",
                 START.replace("cat > serve.py && ", ""))  # fmt: skip
    return int(started.stdout.strip())


def _home(emulator: EmulatorHandle, instance_id: str) -> Path:
    return emulator.instance_directory(instance_id) / "home" / "ubuntu"


def test_forward_by_name_answers_on_the_printed_url_and_stops_on_ctrl_c(
    fs: Fs, trainer: Dict[str, Any], key: KeyPair, cli_env: Dict[str, str],
    ssh_emulator: EmulatorHandle, running: Any,
) -> None:  # fmt: skip
    remote = _serve(fs, ["instances"], "trainer", key, _home(ssh_emulator, trainer["id"]))
    with socket.socket() as held:  # a second spec on a chosen local port, known free
        held.bind(("127.0.0.1", 0))
        chosen = held.getsockname()[1]
        taken = fs("instances", "forward", "trainer", f"{chosen}:{remote}", "-i",
                   str(key.private), expect=1)  # fmt: skip
        assert taken.stderr == (
            f"error: local port {chosen} is already in use: give another as LOCAL:{remote} "
            f"(or 0:{remote} for any free port)\n"
        )
    forward = running(["instances", "forward", "trainer", f"0:{remote}", f"{chosen}:{remote}",
                       "-i", str(key.private)], cli_env)  # fmt: skip
    first, second = forward.line(), forward.line()
    assert first.endswith(f"/  ->  trainer:{remote}")
    assert second == f"http://127.0.0.1:{chosen}/  ->  trainer:{remote}"
    for line in (first, second):
        url = line.split()[0]
        assert http_get(url + "hi").startswith("served /hi from ")
    assert forward.interrupt() == 0
    assert "Stopped forwarding." in forward.stderr()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", chosen), timeout=5).close()


def test_atlas_forward_by_name(
    fs: Fs, box: str, key: KeyPair, cli_env: Dict[str, str], ssh_emulator: EmulatorHandle,
    running: Any,
) -> None:  # fmt: skip
    remote = _serve(fs, ["atlas", "instances"], "box", key, _home(ssh_emulator, box))
    forward = running(["atlas", "instances", "forward", "box", f"0:{remote}", "-i",
                       str(key.private)], cli_env)  # fmt: skip
    url = forward.line().split()[0]
    assert http_get(url + "x").startswith("served /x from ")
    assert forward.interrupt(signal.SIGTERM) == 0  # as Ctrl-C: closed, exit 0
    assert "Stopped forwarding." in forward.stderr()


def _jupyter(prefix: List[str], name: str, port: int, key: KeyPair) -> List[str]:
    return [*prefix, "jupyter", name, "--port", str(port), "--local-port", "0", "--dir",
            "work", "--no-browser", "-i", str(key.private)]  # fmt: skip


def _stand_in(cli_env: Dict[str, str]) -> Dict[str, str]:
    """The offline install step and start command: a stand-in that speaks HTTP."""
    return {
        **cli_env,
        "FLUIDSTACK_JUPYTER_INSTALL": 'echo installed >> "$HOME/installs.log"',
        "FLUIDSTACK_JUPYTER_START": 'exec python3 "$HOME/serve.py" "$HOME/jupyter-port"',
    }


@pytest.mark.parametrize("api", ["platform", "atlas"])
def test_jupyter_starts_once_and_its_url_answers(
    api: str, fs: Fs, key: KeyPair, cli_env: Dict[str, str], ssh_emulator: EmulatorHandle,
    running: Any, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    if api == "platform":
        instance_id, prefix = request.getfixturevalue("trainer")["id"], []
        name = "trainer"
    else:
        instance_id, prefix, name = request.getfixturevalue("box"), ["atlas"], "box"
    home = _home(ssh_emulator, instance_id)
    (home / "serve.py").write_text(SERVER)
    (home / "work").mkdir()
    env = _stand_in(cli_env)
    with socket.socket() as held:  # the instance's port: reserved, shared with the stand-in
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        first = running(_jupyter(prefix, name, port, key), env)
        url = first.line()
        assert url.startswith("http://127.0.0.1:")
        assert "/lab?token=" in url
        assert http_get(url).endswith("/home/ubuntu/work")  # the token was right, in --dir
        assert first.interrupt() == 0
        assert "started on port" in first.stderr()
        # Running already: not started again, the same token, a new forward.
        again = running(_jupyter(prefix, name, port, key), env)
        second = again.line()
        assert second.partition("?")[2] == url.partition("?")[2]
        assert http_get(second).startswith("served /lab?token=")
        assert again.interrupt() == 0
        assert "was already running" in again.stderr()
        # Installed once, at the first start (unless this machine has a JupyterLab).
        installs = (home / "installs.log").read_text().count("installed")
        assert installs == (0 if shutil.which("jupyter-lab") else 1)
        stopped = fs(*prefix, "jupyter", name, "--port", str(port), "--stop", "-i",
                     str(key.private), env=env)  # fmt: skip
        assert "Stopped on port" in stopped.stderr
