"""What a newcomer ran into in their first hour with the CLI (round 6): each test is one
message that was wrong, or a traceback's class name where a sentence belonged."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, List

import click
import pytest
from cli_support import Fs

from fluidstack.cli.run import Job, upload_workdir
from fluidstack.testing import EmulatorHandle


@pytest.mark.parametrize("api", ["platform", "atlas"])
def test_copying_a_missing_local_file_is_a_usage_error_before_any_call(
    api: str, fs_no_creds: Fs, tmp_path: Path
) -> None:
    # It was "unexpected FileNotFoundError: ... (run with --debug for the traceback)",
    # exit 1, after the instance had been looked up. No credentials here: nothing is sent.
    prefix = ["atlas"] if api == "atlas" else []
    missing = tmp_path / "no-such-file.txt"
    result = fs_no_creds(*prefix, "instances", "cp", str(missing), "trainer:data", expect=2)
    assert result.stderr.strip() == f"error: no such file or directory: {missing}"


class _State:
    """Records the progress lines a step prints."""

    def __init__(self) -> None:
        self.infos: List[str] = []

    def info(self, message: str) -> None:
        self.infos.append(message)

    def warn(self, message: str) -> None:
        self.infos.append(message)


class _Resource:
    """An instances resource whose every command succeeds."""

    def exec(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def check(self) -> None:
        pass


@pytest.mark.parametrize(("files", "said"), [(1, "1 file"), (3, "3 files")])
def test_progress_lines_count_files_in_english(tmp_path: Path, files: int, said: str) -> None:
    # "Uploading 1 files", "Downloaded 1 file(s)": a one-script directory is the usual run.
    from fluidstack.cli.atlas.slurm_jobs import _download
    from fluidstack.cli.run_preempt import upload_outputs

    names = [f"f{number}.py" for number in range(files)]
    for name in names:
        (tmp_path / name).write_text("")
    job = Job("true", None, None, names, tmp_path, "work")

    state = _State()
    upload_workdir(state, _Resource(), job)  # type: ignore[arg-type]
    assert state.infos == [f"Uploading {said} from {tmp_path} to ~/work ..."]

    state = _State()
    upload_outputs(state, _Resource(), job)  # type: ignore[arg-type]
    outputs = "output file" if files == 1 else f"{said.split()[0]} output files"
    assert state.infos == [f"Uploading the {outputs} synced so far ..."]

    class Jobs:
        def download(self, ident: str, job_id: str, *, local: Path) -> List[str]:
            return names

    state = _State()
    with click.Context(click.Command("x")):
        _download(state, Jobs(), "hpc", "7", tmp_path)  # type: ignore[arg-type]
    assert state.infos == [f"Downloaded {said} into {tmp_path}: {', '.join(names)}."]


def test_a_refused_api_key_says_where_the_key_came_from(fs: Fs) -> None:
    result = fs("balance", env={"FLUIDSTACK_API_KEY": "fs-wrong-key"}, expect=1)
    line = result.stderr.strip()
    assert line.startswith("error: 401 Unauthorized: ")
    assert "--api-key, else FLUIDSTACK_API_KEY, else the one `fluidstack configure`" in line
    assert "fs-wrong-key" not in line


def test_a_refused_atlas_token_says_to_log_in_again(
    fs_no_creds: Fs, emulator: EmulatorHandle
) -> None:
    env = {"FLUIDSTACK_TOKEN": "not-a-token", "FLUIDSTACK_ATLAS_URL": emulator.base_url}
    result = fs_no_creds("atlas", "regions", "list", env=env, expect=1)
    line = result.stderr.strip()
    assert line.startswith("error: 401 Unauthorized: ")
    assert "log in again with `fluidstack atlas login`" in line
    assert "not-a-token" not in line


@pytest.fixture
def closed_port(monkeypatch: pytest.MonkeyPatch) -> int:
    """A loopback port nothing listens on; the retries' back-off does not sleep."""
    from fluidstack.core._sync.pipeline import Pipeline

    monkeypatch.setitem(Pipeline.__init__.__kwdefaults__, "sleep", lambda seconds: None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("api", ["platform", "atlas"])
def test_an_api_that_is_not_there_names_the_setting_to_check(
    api: str, fs_no_creds: Fs, closed_port: int
) -> None:
    # It was the connection error alone: nothing said where the address came from.
    url = f"http://127.0.0.1:{closed_port}"
    if api == "atlas":
        env = {"FLUIDSTACK_TOKEN": "t", "FLUIDSTACK_ATLAS_URL": url}
        result = fs_no_creds("atlas", "regions", "list", env=env, expect=1)
        setting = "FLUIDSTACK_ATLAS_URL or the profile (`fluidstack atlas login --url URL`)"
    else:
        env = {"FLUIDSTACK_API_KEY": "k", "FLUIDSTACK_BASE_URL": url}
        result = fs_no_creds("balance", env=env, expect=1)
        setting = "--base-url, FLUIDSTACK_BASE_URL or the profile (`fluidstack configure`)"
    line = result.stderr.strip()
    assert line.startswith("error: connection error: ")
    assert url in line
    assert line.endswith(f"is the API running at that address? It comes from {setting}")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("api", ["instance", "slurm"])
def test_a_refused_login_names_the_cli_option_not_the_sdk_argument(
    api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The SDK's message ends "(pass key_path=, ...)": a CLI user has -i KEY. A Slurm
    # login node also lets in the keys of `atlas keys create` (registered before it booted).
    import inspect

    import click

    import fluidstack.core.ssh
    from fluidstack.cli import remote
    from fluidstack.cli.atlas import slurm_jobs
    from fluidstack.core.ssh import SshError

    assert remote._SDK_REFUSED_HINT in inspect.getsource(fluidstack.core.ssh)
    errors = slurm_jobs.ssh_errors if api == "slurm" else remote.ssh_errors
    refused = (
        f"instance i-1 (ubuntu@127.0.0.1:22) refused the login: ... {remote._SDK_REFUSED_HINT}"
    )
    context = click.Context(click.Command("x"))
    with context, pytest.raises(click.exceptions.Exit) as exited, errors():
        raise SshError(refused, instance_id="i-1")
    assert exited.value.exit_code == 255
    line = capsys.readouterr().err.strip()
    assert "key_path=" not in line
    assert line.endswith("pass -i KEY, or load it into ssh-agent)")
    assert ("`fluidstack atlas keys create` before it first booted" in line) == (api == "slurm")


def test_atlas_use_of_a_project_not_yet_made_gives_the_command_that_makes_it(
    atlas_fs: Fs,
) -> None:
    refused = atlas_fs("atlas", "use", "--project", "brand-new", expect=2)
    line = refused.stderr.strip()
    assert line.startswith("error: no project 'brand-new': see `fluidstack atlas projects list`")
    suggested = line.split("or create it with `")[1].rstrip("`")
    assert suggested == "fluidstack atlas --region eu-north-1 projects create brand-new"
    atlas_fs(*suggested.split()[1:])
    atlas_fs("atlas", "use", "--project", "brand-new")


def test_an_atlas_instance_ssh_cannot_reach_names_the_port_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Atlas reports no SSH port: "Connect call failed ('127.77.0.2', 22)" alone did not
    # say that the emulator's instances answer on another one.
    from fluidstack.cli import remote
    from fluidstack.core.ssh import SshError

    failed = "could not connect to instance i-1 (ubuntu@127.77.0.2:22): Connect call failed"
    for hint in (None, remote.ATLAS_PORT_HINT):
        context = click.Context(click.Command("x"))
        with context, pytest.raises(click.exceptions.Exit), remote.ssh_errors(no_connection=hint):
            raise SshError(failed, instance_id="i-1")
        line = capsys.readouterr().err.strip()
        assert line == (f"error: {failed}" if hint is None else f"error: {failed}. {hint}")
    assert "--ssh-port PORT or set FLUIDSTACK_SSH_PORT" in remote.ATLAS_PORT_HINT


@pytest.mark.parametrize("api", ["platform", "atlas"])
def test_exec_and_cp_pass_the_port_hint_for_atlas_only(
    api: str, fs_no_creds: Fs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fluidstack.cli import instance_commands

    given: List[Any] = []
    monkeypatch.setattr(
        instance_commands, "exec_and_exit", lambda *args, **kwargs: given.append(args[-1])
    )
    monkeypatch.setattr(
        instance_commands, "copy_and_report", lambda *a, **kwargs: given.append(kwargs)
    )
    prefix = ["atlas"] if api == "atlas" else []
    ident = "3f2b8c1e-1111-4222-8333-944455556666"  # an id: nothing is looked up
    env = {
        "FLUIDSTACK_TOKEN": "t",
        "FLUIDSTACK_API_KEY": "k",
        "FLUIDSTACK_REGION": "r",
        "FLUIDSTACK_PROJECT_ID": ident,
        "FLUIDSTACK_REGION_URL": "http://127.0.0.1:9",
    }
    fs_no_creds(*prefix, "instances", "exec", ident, "--", "true", env=env)
    (tmp_path / "f").write_text("")
    fs_no_creds(*prefix, "instances", "cp", str(tmp_path / "f"), f"{ident}:f", env=env)
    from fluidstack.cli.remote import ATLAS_PORT_HINT

    hint = ATLAS_PORT_HINT if api == "atlas" else None
    assert given == [hint, {"no_connection": hint}]


@pytest.mark.parametrize(
    ("args", "env", "where"),
    [
        (["--base-url", "localhost:8080", "balance"], {}, "--base-url"),
        (["balance"], {"FLUIDSTACK_BASE_URL": "localhost:8080"}, "FLUIDSTACK_BASE_URL"),
        (
            ["atlas", "regions", "list"],
            {"FLUIDSTACK_TOKEN": "t", "FLUIDSTACK_ATLAS_URL": "localhost:8080"},
            "FLUIDSTACK_ATLAS_URL",
        ),
    ],
)
def test_a_bad_url_names_the_setting_it_came_from(
    fs_no_creds: Fs, args: List[str], env: Any, where: str
) -> None:
    # It said "(profile 'default')" whichever of the flag, the variable or the profile
    # the URL came from.
    result = fs_no_creds("--api-key", "k", *args, env=env, expect=2)
    line = result.stderr.strip()
    assert "got 'localhost:8080'; did you mean 'http://localhost:8080'?" in line
    assert line.endswith(f"({where})")


def test_a_bad_url_in_the_profile_names_the_profile(fs_no_creds: Fs, home: Any) -> None:
    fs_no_creds("--profile", "lab", "--api-key", "k", "configure", "--base-url", "http://a.test")
    path = home.config_file
    path.write_text(path.read_text().replace("http://a.test", "a.test"))
    result = fs_no_creds("--profile", "lab", "balance", expect=2)
    assert result.stderr.strip().endswith("(profile 'lab')")
