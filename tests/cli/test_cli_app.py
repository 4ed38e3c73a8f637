"""The command as a whole: help, version, exit codes, Ctrl-C, completion, the emulator command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
from cli_support import Fs, Home

import fluidstack
from fluidstack.client import FluidStack
from fluidstack.testing import EmulatorHandle


def subprocess_env(home: Home, **extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUIDSTACK_")}
    env.update(HOME=str(home.path), XDG_CONFIG_HOME=str(home.xdg), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def test_help_lists_every_command(fs_no_creds: Fs) -> None:
    out = fs_no_creds("--help").stdout
    for command in (
        "instances",
        "ssh-keys",
        "configurations",
        "templates",
        "balance",
        "api-keys",
        "configure",
        "completion",
        "emulator",
    ):
        assert command in out


def test_help_imports_neither_the_sdk_models_nor_rich_nor_the_emulator(home: Home) -> None:
    code = (
        "import sys\n"
        "from fluidstack.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "heavy = ['pydantic', 'rich', 'httpx', 'fluidstack.client', 'fluidstack.emulator',\n"
        "         'fluidstack.types', 'yaml', 'fastapi']\n"
        "print('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=subprocess_env(home),
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_version(fs_no_creds: Fs) -> None:
    out = fs_no_creds("--version").stdout
    assert out.startswith(f"fluidstack {fluidstack.__version__}")


def test_usage_errors_exit_2(fs_no_creds: Fs) -> None:
    assert "No such command" in fs_no_creds("nope", expect=2).stderr
    assert "No such option" in fs_no_creds("instances", "list", "--bogus", expect=2).stderr
    fs_no_creds("-o", "xml", "balance", expect=2)
    fs_no_creds("instances", "get", expect=2)


def test_network_errors_exit_1_in_one_line(fs_no_creds: Fs) -> None:
    result = fs_no_creds("--api-key", "k", "--base-url", "http://127.0.0.1:9", "balance", expect=1)
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_a_bad_base_url_is_a_usage_error(fs_no_creds: Fs) -> None:
    result = fs_no_creds("--api-key", "k", "--base-url", "not-a-url", "balance", expect=2)
    assert "base_url" in result.stderr


def test_no_colours_when_not_on_a_terminal_and_no_color_flag(
    fs: Fs, emulator: EmulatorHandle
) -> None:
    assert "\x1b[" not in fs("configurations", "list").stdout
    assert "\x1b[" not in fs("--no-color", "configurations", "list").stdout


def test_json_output_is_exactly_one_document(fs: Fs) -> None:
    for args in (("balance",), ("configurations", "list"), ("templates", "list")):
        out = fs("-o", "json", *args).stdout
        json.loads(out)  # raises if there is anything else on stdout


# -- completion --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"), [("bash", "complete"), ("zsh", "compdef"), ("fish", "complete")]
)
def test_completion_scripts(fs_no_creds: Fs, shell: str, marker: str) -> None:
    out = fs_no_creds("completion", shell).stdout
    assert "_FLUIDSTACK_COMPLETE" in out
    assert marker in out


def test_completion_completes_commands_and_gpu_types(fs_no_creds: Fs) -> None:
    commands = fs_no_creds(
        env={
            "_FLUIDSTACK_COMPLETE": "bash_complete",
            "COMP_WORDS": "fluidstack inst",
            "COMP_CWORD": "1",
        },
    ).stdout
    assert "instances" in commands
    gpus = fs_no_creds(
        env={
            "_FLUIDSTACK_COMPLETE": "bash_complete",
            "COMP_WORDS": "fluidstack instances create --gpu-type H100",
            "COMP_CWORD": "4",
        },
    ).stdout
    assert "H100_PCIE_80GB" in gpus
    assert "RTX_A5000_24GB" not in gpus


def test_completion_rejects_other_shells(fs_no_creds: Fs) -> None:
    fs_no_creds("completion", "powershell", expect=2)


# -- the emulator command ----------------------------------------------------------


def test_emulator_command_has_the_emulator_flags(fs_no_creds: Fs) -> None:
    out = fs_no_creds("emulator", "--help").stdout
    for flag in ("--port", "--time-scale", "--manual-clock", "--seed", "--failure-rate"):
        assert flag in out
    assert "fluidstack emulator" in out
    assert "--port" in fs_no_creds("emulator", "--port", "x", expect=2).stderr


def test_emulator_command_serves_the_api(home: Home, tmp_path: Path) -> None:
    # --port 0 and the announced URL: a port found free and closed could be taken again.
    proc = subprocess.Popen(
        [sys.executable, "-m", "fluidstack.cli", "emulator", "--port", "0",
         "--log-level", "warning"],
        env={**subprocess_env(home), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        announced = ""
        for line in proc.stdout:  # ends if the emulator exits: then the assert says so
            if line.startswith("FluidStack emulator listening on "):
                announced = line.split()[-1]
                break
        assert announced.startswith("http://127.0.0.1:"), announced
        with FluidStack(api_key="fs-emulator-dev-key", base_url=announced) as client:
            assert client.user.get_balance().balance > 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)


# -- Ctrl-C ------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery is POSIX")
def test_ctrl_c_while_waiting_exits_130_and_leaves_the_instance(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle, home: Home, fluidstack_client: FluidStack
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fluidstack.cli", "-o", "json", "instances", "create",
         "--gpu-type", "RTX_A5000_24GB", "--wait", "--poll-interval", "0.1"],
        env=subprocess_env(
            home, FLUIDSTACK_API_KEY=emulator.api_key, FLUIDSTACK_BASE_URL=emulator.base_url
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if ": pending" in line:
                break
        else:
            pytest.fail("the wait never started:\n" + "".join(seen))
        proc.send_signal(signal.SIGINT)
        stdout, rest = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert stdout == ""
    (instance,) = fluidstack_client.instances.list()
    assert str(instance.status) == "pending"
    assert f"fluidstack instances delete {instance.id}" in rest
    assert "Traceback" not in rest


def test_completion_of_instance_ids_and_key_names_asks_the_api(fs: Fs, ssh_key: str) -> None:
    from cli_support import create_instance

    created = create_instance(fs, "--name", "completed")
    words = f"fluidstack instances get {created['id'][:4]}"
    out = fs(env={"_FLUIDSTACK_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": "3"})
    assert created["id"] in out.stdout
    keys = fs(
        env={
            "_FLUIDSTACK_COMPLETE": "bash_complete",
            "COMP_WORDS": "fluidstack ssh-keys delete la",
            "COMP_CWORD": "3",
        }
    )
    assert "laptop" in keys.stdout


def test_completion_of_instance_ids_without_credentials_is_silent(fs_no_creds: Fs) -> None:
    out = fs_no_creds(
        env={
            "_FLUIDSTACK_COMPLETE": "bash_complete",
            "COMP_WORDS": "fluidstack instances get ",
            "COMP_CWORD": "3",
        }
    )
    assert out.stdout.strip() == ""
    assert out.stderr == ""


def test_commands_answer_to_the_names_people_type(fs: Fs, home: Home) -> None:
    from cli_support import write_key_pair

    write_key_pair(home.path / ".ssh", "id_ed25519")
    fs("ssh-keys", "create", "laptop")  # the SDK's name for `add`
    assert [k["name"] for k in fs.json("ssh-keys", "ls")] == ["laptop"]
    fs("ssh-keys", "rm", "laptop")
    assert fs.json("ssh-keys", "list") == []
    typo = fs("instanses", "list", expect=2)
    assert "Did you mean 'instances'?" in typo.stderr


def test_python_dash_m_fluidstack_is_the_command() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "fluidstack", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("fluidstack ")


def test_the_license_the_metadata_names_is_shipped() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert (root / "LICENSE").read_text().startswith("MIT License")
    assert 'license-files = ["LICENSE"]' in (root / "pyproject.toml").read_text()


def test_a_listing_loads_none_of_its_groups_other_commands(home: Home) -> None:
    # Each `instances` group loads a command's module when it is named (issue 24):
    # `list` needs neither the SSH, sweep, create and waiting code nor `forward`.
    code = (
        "import sys\n"
        "from fluidstack.cli import main\n"
        "for argv in (['instances', 'list', '--help'], ['atlas', 'instances', 'list', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        "others = ['instance_changes', 'instance_access', 'ports', 'instance_commands',\n"
        "          'forwarding', 'jupyter', 'remote', 'waiting', 'spend', 'ssh_config',\n"
        "          'creation', 'launch']\n"
        "print('LOADED:' + ','.join(sorted(m for m in sys.modules if m.startswith(\n"
        "    'fluidstack.cli.') and m.rsplit('.', 1)[-1] in others)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=subprocess_env(home),
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "LOADED:"
