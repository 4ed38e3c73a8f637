"""`fluidstack run` and `fluidstack atlas run` end to end against the ``--ssh`` emulator:
what they do when all goes well, and that a run interrupted at any step (create, wait,
upload, command, download), failing, timing out or losing its connection leaves zero
instances behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import httpx
import pytest
from cli_support import Fs
from ssh_support import KeyPair

from fluidstack.testing.handle import EmulatorHandle


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory a run uploads: two files kept, two ignored by .gitignore."""
    root = tmp_path / "proj"
    (root / "build").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "src" / "data.txt").write_text("kept\n")
    (root / "train.sh").write_text("echo training on $(nvidia-smi -L | wc -l) GPU\n")
    (root / ".gitignore").write_text("build/\n*.secret\n")
    (root / "build" / "big.bin").write_bytes(b"x" * 1000)
    (root / "token.secret").write_text("never uploaded")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def platform_key(fs: Fs, key: KeyPair) -> KeyPair:
    fs("ssh-keys", "add", "laptop", str(key.private.parent / f"{key.private.name}.pub"))
    return key


def live_platform_instances(emulator: EmulatorHandle) -> List[Dict[str, Any]]:
    """The account's instances that still exist (or bill): not terminated or failed."""
    listing = httpx.get(
        f"{emulator.base_url}/instances",
        params={"include_failed_instances": "true"},
        headers={"api-key": emulator.api_key},
    ).json()
    return [i for i in listing if i["status"] not in ("terminated", "failed")]


def run_args(key: KeyPair, *extra: str) -> List[str]:
    return ["run", "-i", str(key.private), "--poll-interval", "5", *extra]


def test_the_upload_follows_every_gitignore_and_never_takes_git(tmp_path: Path) -> None:
    import io
    import tarfile

    from fluidstack.cli.run import pack_directory

    root = tmp_path / "proj"
    for name, text in {
        ".gitignore": "*.log\n!keep.log\n/data/\n",
        "a.log": "x", "keep.log": "x", "train.py": "x",
        "data/big.bin": "x",                      # /data/ ignored at the root only
        "src/data/small.txt": "x",
        "src/.gitignore": "generated/\n*.tmp\n",
        "src/generated/code.py": "x", "src/mod.py": "x", "src/x.tmp": "x",
        "other/x.tmp": "x",                       # src's rules apply below src only
        ".git/config": "x",
    }.items():  # fmt: skip
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    archive, count = pack_directory(root)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = sorted(tar.getnames())
    assert names == [".gitignore", "keep.log", "other/x.tmp", "src/.gitignore",
                     "src/data/small.txt", "src/mod.py", "train.py"]  # fmt: skip
    assert count == len(names)


def test_run_uploads_runs_downloads_and_deletes(
    fs: Fs,
    platform_key: KeyPair,
    project: Path,
    ssh_emulator: EmulatorHandle,
) -> None:
    balance = httpx.get(f"{ssh_emulator.base_url}/user/balance",
                        headers={"api-key": ssh_emulator.api_key}).json()  # fmt: skip
    result = fs(*run_args(platform_key, "--gpu-type", "H100_PCIE_80GB", "--out", "results",
                          "--out", "missing.txt", "--",
                          "ls -a . src | sort; sh train.sh; mkdir -p results; "
                          "echo 42 > results/answer.txt"))  # fmt: skip
    out = result.stdout
    for kept in ("data.txt", "train.sh", ".gitignore"):
        assert kept in out
    for ignored in ("build", "token.secret"):
        assert ignored not in out
    assert "training on 1 GPU" in out
    assert (project / "results" / "answer.txt").read_text() == "42\n"
    assert "--out missing.txt: not on the instance" in result.stderr
    assert "H100_PCIE_80GB" in result.stderr
    assert "was deleted after" in result.stderr
    # What it cost: the balance's fall, to the cent and more (a few simulated seconds).
    after = httpx.get(f"{ssh_emulator.base_url}/user/balance",
                      headers={"api-key": ssh_emulator.api_key}).json()  # fmt: skip
    spent = float(balance["balance"]) - float(after["balance"])
    assert spent > 0
    (cost,) = re.findall(r"Cost: \$([0-9.]+) ", result.stderr)
    assert abs(float(cost) - spent) <= (0.005 if spent >= 0.1 else 0.00005)  # as printed
    assert live_platform_instances(ssh_emulator) == []


def test_run_picks_the_cheapest_offer(
    fs: Fs,
    platform_key: KeyPair,
    project: Path,
    ssh_emulator: EmulatorHandle,
) -> None:
    plan = fs.json("instances", "create", "--cheapest", "--dry-run")
    cheapest = plan["options"][0]
    result = fs(*run_args(platform_key, "--", "nvidia-smi --query-gpu=name --format=csv,noheader"))
    assert f"{cheapest['gpu_type']} in {cheapest['region']}" in result.stderr
    assert live_platform_instances(ssh_emulator) == []


def test_a_failing_command_gives_its_status_and_deletes(
    fs: Fs,
    platform_key: KeyPair,
    project: Path,
    ssh_emulator: EmulatorHandle,
) -> None:
    result = fs(*run_args(platform_key, "--out", "log.txt", "--", "echo oops > log.txt; exit 3"),
                expect=3)  # fmt: skip
    assert (project / "log.txt").read_text() == "oops\n"  # outputs of a failed run come back
    assert "the command exited with status 3" in result.stderr
    assert live_platform_instances(ssh_emulator) == []


def test_max_runtime_stops_the_command_and_deletes(
    fs: Fs,
    platform_key: KeyPair,
    project: Path,
    ssh_emulator: EmulatorHandle,
) -> None:
    result = fs(*run_args(platform_key, "--max-runtime", "0.5", "--", "echo started; sleep 60"),
                expect=124)  # fmt: skip
    assert "started" in result.stdout
    assert "--max-runtime" in result.stderr
    assert live_platform_instances(ssh_emulator) == []


def test_keep_leaves_the_instance_and_says_how_to_delete_it(
    fs: Fs,
    platform_key: KeyPair,
    project: Path,
    ssh_emulator: EmulatorHandle,
) -> None:
    result = fs(*run_args(platform_key, "--keep", "--", "true"))
    (kept,) = live_platform_instances(ssh_emulator)
    assert f"fluidstack instances delete {kept['id']}" in result.stderr
    assert "/hour while it runs" in result.stderr


# -- interrupted at each step: nothing is left ----------------------------------------------


def _interrupt_http(
    monkeypatch: pytest.MonkeyPatch, method: str, matches: Callable[[str], bool]
) -> None:
    """Ctrl-C right after the first such request was answered (the server acted; the
    CLI never sees the answer): the emulator cannot press Ctrl-C, so this stands in."""
    real_send = httpx.Client.send
    fired: List[bool] = []

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = real_send(self, request, **kwargs)
        if not fired and request.method == method and matches(request.url.path):
            fired.append(True)
            raise KeyboardInterrupt
        return response

    monkeypatch.setattr(httpx.Client, "send", send)


def test_ctrl_c_during_create_leaves_nothing(
    fs: Fs, platform_key: KeyPair, project: Path, ssh_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _interrupt_http(monkeypatch, "POST", lambda path: path == "/instances")
    fs(*run_args(platform_key, "--", "true"), expect=130)
    created = httpx.get(f"{ssh_emulator.base_url}/instances",
                        headers={"api-key": ssh_emulator.api_key}).json()  # fmt: skip
    assert len(created) == 1  # the create happened ...
    assert live_platform_instances(ssh_emulator) == []  # ... and was found and deleted


def test_ctrl_c_while_waiting_leaves_nothing(
    fs: Fs, platform_key: KeyPair, project: Path, ssh_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _interrupt_http(monkeypatch, "GET", lambda path: path.startswith("/instances/"))
    fs(*run_args(platform_key, "--", "true"), expect=130)
    assert live_platform_instances(ssh_emulator) == []


def test_sshd_that_never_answers_ends_the_wait_and_leaves_nothing(
    fs: Fs,
    platform_key: KeyPair,
    project: Path,
    ssh_emulator: EmulatorHandle,
) -> None:
    ssh_emulator.add_sshd_delay(600)
    result = fs(*run_args(platform_key, "--timeout", "1", "--", "true"), expect=1)
    assert "did not become ssh" in result.stderr
    assert live_platform_instances(ssh_emulator) == []


@pytest.mark.parametrize("step", ["upload_workdir", "run_command", "download_outputs"])
def test_ctrl_c_at_a_step_on_the_instance_leaves_nothing(
    step: str, fs: Fs, platform_key: KeyPair, project: Path,
    ssh_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import fluidstack.cli.run as run_module

    real = getattr(run_module, step)

    def interrupted(*args: Any) -> None:
        real(*args)  # the step happens, then Ctrl-C arrives
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, step, interrupted)
    result = fs(*run_args(platform_key, "--out", "x", "--", "touch x"), expect=130)
    assert "was deleted" in result.stderr
    assert live_platform_instances(ssh_emulator) == []


def test_a_lost_connection_during_the_command_leaves_nothing(
    fs: Fs,
    platform_key: KeyPair,
    project: Path,
    ssh_emulator: EmulatorHandle,
) -> None:
    """The instance is stopped under the running command (its sshd closes the session):
    the run reports the lost connection, exits 255 and deletes the instance."""
    stopped = threading.Event()

    def stop_once_started() -> None:
        headers = {"api-key": ssh_emulator.api_key}
        while not stopped.is_set():
            for instance in live_platform_instances(ssh_emulator):
                root = ssh_emulator.instance_directory(instance["id"])
                if (root / "home" / "ubuntu" / "proj" / "started").exists():
                    httpx.put(f"{ssh_emulator.base_url}/instances/{instance['id']}/stop",
                              headers=headers)  # fmt: skip
                    stopped.set()
                    return
            stopped.wait(0.05)

    watcher = threading.Thread(target=stop_once_started, daemon=True)
    watcher.start()
    try:
        result = fs(*run_args(platform_key, "--", "touch started; sleep 60"), expect=255)
    finally:
        stopped.set()
        watcher.join(10)
    assert "SSH failed" in result.stderr
    assert live_platform_instances(ssh_emulator) == []


def _signal_during_delete(monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    """Real Ctrl-Cs (SIGINT to this process) just as the run sends its DELETE."""
    real_send = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if request.method == "DELETE":
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)  # handled before the next line
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", send)


def test_ctrl_c_while_deleting_does_not_cut_the_delete_short(
    fs: Fs, platform_key: KeyPair, project: Path, ssh_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _signal_during_delete(monkeypatch, times=2)
    result = fs(*run_args(platform_key, "--", "echo done"))
    assert result.stdout == "done\n"
    assert "Still deleting" in result.stderr
    assert "was deleted after" in result.stderr
    assert live_platform_instances(ssh_emulator) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_three_ctrl_c_while_deleting_leave_the_instance_and_say_so(
    fs: Fs, platform_key: KeyPair, project: Path, ssh_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _signal_during_delete(monkeypatch, times=3)
    result = fs(*run_args(platform_key, "--", "true"), expect=130)
    (left,) = live_platform_instances(ssh_emulator)
    assert f"instance {left['id']} may still be running" in result.stderr
    assert f"fluidstack instances delete {left['id']}" in result.stderr
    assert "was deleted" not in result.stderr


def test_ctrl_c_while_waiting_with_keep_names_the_kept_instance(
    fs: Fs, platform_key: KeyPair, project: Path, ssh_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _interrupt_http(monkeypatch, "GET", lambda path: path.startswith("/instances/"))
    result = fs(*run_args(platform_key, "--keep", "--", "true"), expect=130)
    (kept,) = live_platform_instances(ssh_emulator)
    assert f"Instance {kept['id']} was kept (--keep)" in result.stderr
    assert "No instance is left running" not in result.stderr


@pytest.mark.parametrize(("name", "status"), [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_signal_to_the_run_process_during_the_command_deletes_the_instance(
    name: str, status: int, cli_env: Dict[str, str], platform_key: KeyPair, project: Path,
    ssh_emulator: EmulatorHandle,
) -> None:  # fmt: skip
    """``fluidstack run`` as its own process, stopped by a real signal (Ctrl-C, a kill,
    the terminal closing) while the command runs: it deletes the instance and exits
    128 + the signal's number."""
    number = getattr(signal, name)
    args = ["run", "-i", str(platform_key.private), "--poll-interval", "0.2", "--",
            "touch started; echo started; sleep 120"]  # fmt: skip
    # The signal starts at its default disposition, as in a terminal: a suite run under
    # ``nohup`` (or in the background of a script, for SIGINT) would otherwise hand its
    # ignored SIGHUP down, and a run started ignoring a signal rightly keeps ignoring it
    # (see the nohup test below).
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack", *args], cwd=project, env={**os.environ, **cli_env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(number, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any(
            (ssh_emulator.instance_directory(i["id"]) / "home/ubuntu/proj/started").exists()
            for i in live_platform_instances(ssh_emulator)
        ):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the command never started"
            ssh_emulator.advance(30)  # the run waits in simulated time: move it along
            time.sleep(0.05)
        # The command's output is here while it runs (a buffered line would never come).
        watchdog = threading.Timer(90, process.kill)
        watchdog.start()
        assert process.stdout is not None
        first = process.stdout.readline()
        watchdog.cancel()
        process.send_signal(number)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert first == "started\n"
    assert process.returncode == status, stderr
    assert "was deleted after" in stderr
    assert live_platform_instances(ssh_emulator) == []


def _disposition(pid: int, number: int) -> Optional[str]:
    """How process ``pid`` treats signal ``number`` in the kernel's eyes: ``"ignored"``,
    ``"caught"`` (a handler is installed) or ``"default"``; None off Linux (no /proc)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    masks = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
    bit = 1 << (number - 1)
    if int(masks["SigIgn"], 16) & bit:
        return "ignored"
    return "caught" if int(masks["SigCgt"], 16) & bit else "default"


def test_a_signal_ignored_by_nohup_stays_ignored(
    cli_env: Dict[str, str], platform_key: KeyPair, project: Path, ssh_emulator: EmulatorHandle
) -> None:
    """``nohup fluidstack run ...``: a closed terminal (SIGHUP) does not stop the run."""
    args = ["run", "-i", str(platform_key.private), "--poll-interval", "0.2", "--",
            "touch started; while [ ! -e go ]; do sleep 0.05; done; echo finished"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack", *args], cwd=project, env={**os.environ, **cli_env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # as nohup does
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        home: Optional[Path] = None
        while home is None:
            for instance in live_platform_instances(ssh_emulator):
                candidate = ssh_emulator.instance_directory(instance["id"]) / "home/ubuntu/proj"
                if (candidate / "started").exists():
                    home = candidate
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the command never started"
            ssh_emulator.advance(30)
            time.sleep(0.05)
        # Rather than give a handler time to cut the command short: the kernel drops a
        # signal that is ignored as it is sent, so none can run later. (Off Linux, only
        # the end of the run below shows it.)
        assert _disposition(process.pid, signal.SIGHUP) in ("ignored", None)
        process.send_signal(signal.SIGHUP)
        (home / "go").touch()
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert stdout == "finished\n"
    assert live_platform_instances(ssh_emulator) == []


# -- Atlas ------------------------------------------------------------------------------------


def _atlas_live(ssh_emulator: EmulatorHandle, project_id: str) -> List[str]:
    from fluidstack.atlas import Atlas

    control = ssh_emulator.atlas
    with Atlas(client_id=control.client_id, client_secret=control.client_secret,
               management_url=control.management_url, region=control.regions()[0],
               project_id=project_id, use_environment=False) as atlas:  # fmt: skip
        return [str(i.state) for i in atlas.instances.list() if str(i.state) != "deleting"]


def test_atlas_run_end_to_end_and_interrupted(
    fs: Fs, key: KeyPair, project: Path, ssh_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch, cli_env: Dict[str, str],
) -> None:  # fmt: skip
    created = fs.json("atlas", "projects", "create", "runs")
    monkeypatch.setenv("FLUIDSTACK_PROJECT_ID", created["id"])
    pub = str(key.private.parent / f"{key.private.name}.pub")
    result = fs("atlas", "run", "--ssh-key", pub, "-i", str(key.private), "--poll-interval", "5",
                "--out", "out.txt", "--", "nvidia-smi -L > out.txt; cat out.txt")  # fmt: skip
    assert "Using cpu.2x" in result.stderr
    assert result.stdout == ""  # a CPU type: no nvidia-smi, nothing printed
    assert "Atlas publishes no prices" in result.stderr
    assert _atlas_live(ssh_emulator, created["id"]) == []
    gpu = fs("atlas", "run", "--type", "h100-hgx-80gb.8x", "--ssh-key", pub, "-i",
             str(key.private), "--poll-interval", "5", "--", "nvidia-smi -L | wc -l")  # fmt: skip
    assert gpu.stdout.strip() == "8"
    assert _atlas_live(ssh_emulator, created["id"]) == []

    import fluidstack.cli.run as run_module

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "run_command", interrupted)
    fs("atlas", "run", "--ssh-key", pub, "-i", str(key.private), "--poll-interval", "5", "--",
       "true", expect=130)  # fmt: skip
    assert _atlas_live(ssh_emulator, created["id"]) == []
    json.dumps(cli_env)  # (the environment fixture is what points the CLI at the emulator)
