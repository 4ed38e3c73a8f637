"""A plain ``pip install fluidstack`` has no CLI or emulator dependencies: their commands
and the pytest plugin say which extra to install instead of failing with a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterable

import pytest

from fluidstack._extras import missing_extra


def _without(
    modules: Iterable[str], code: str, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where ``modules`` cannot be imported, as after
    ``pip install fluidstack`` without the extra."""
    blocked = sorted(modules)
    prelude = textwrap.dedent(
        f"""
        import sys

        class _Missing:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {blocked!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, _Missing())
        """
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_the_cli_without_its_extra_says_what_to_install() -> None:
    done = _without(["click"], "from fluidstack.cli import main; main(['--help'])")
    assert done.returncode == 2, done.stderr
    assert "pip install 'fluidstack[cli]'" in done.stderr
    assert "click is missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_cli_command_that_needs_a_missing_module_says_what_to_install(tmp_path: Path) -> None:
    help_only = "from fluidstack.cli import main; main(['atlas', 'regions', 'list', '--help'])"
    assert _without(["rich", "yaml"], help_only).returncode == 0  # help needs neither
    code = (
        "import os; os.environ['XDG_CONFIG_HOME'] = os.getcwd()\n"
        "from fluidstack.cli import main; main(['configure', '--show', '-o', 'yaml'])"
    )
    done = _without(["yaml"], code, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "this needs an extra (yaml is missing): pip install 'fluidstack[cli]'" in done.stderr


def test_the_emulator_without_its_extra_says_what_to_install() -> None:
    code = (
        "import sys; from fluidstack.emulator.__main__ import main; sys.exit(main(['--port', '0']))"
    )
    done = _without(["uvicorn", "fastapi"], code)
    assert done.returncode == 2, done.stderr
    assert "pip install 'fluidstack[emulator]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_missing_extra_is_named_before_a_port_in_use() -> None:
    """Issue 28 item 13: with the port taken, an SDK-only install still hears first
    about the extra (freeing the port would only lead to that message next)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = (
            "import sys; from fluidstack.emulator.__main__ import main; "
            f"sys.exit(main(['--port', '{port}']))"
        )
        done = _without(["uvicorn", "fastapi", "jwt"], code)
    assert done.returncode == 2, done.stderr
    assert "pip install 'fluidstack[emulator]'" in done.stderr
    assert str(port) not in done.stderr
    assert "Traceback" not in done.stderr


def test_the_pytest_plugin_without_the_emulator_fails_only_the_tests_that_use_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_user.py").write_text(
        "def test_plain():\n    assert True\n\ndef test_emulated(emulator):\n    assert emulator\n"
    )
    done = _without(
        ["fastapi", "uvicorn"],
        "import sys, pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '.']))",
        cwd=tmp_path,
    )
    out = done.stdout + done.stderr
    assert "1 passed" in out
    assert "1 error" in out or "1 failed" in out
    assert "pip install 'fluidstack[emulator]'" in out


def test_the_aiohttp_client_without_its_extra_says_what_to_install() -> None:
    code = """
    import fluidstack
    try:
        fluidstack.AioHttpClient
    except ImportError as exc:
        print(exc)
    """
    done = _without(["aiohttp", "httpx_aiohttp"], code)
    assert done.returncode == 0, done.stderr
    assert "fluidstack.AioHttpClient needs an optional extra" in done.stdout
    assert "pip install 'fluidstack[aiohttp]'" in done.stdout


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("click", "cli"),
        ("rich.table", "cli"),
        ("uvicorn", "emulator"),
        ("httpx_aiohttp", "aiohttp"),
        ("numpy", None),
    ],
)
def test_missing_extra_maps_modules_to_extras(module: str, extra: str | None) -> None:
    hint = missing_extra(ModuleNotFoundError("x", name=module))
    assert hint == (None if extra is None else f"pip install 'fluidstack[{extra}]'")


def test_the_emulators_ssh_without_its_extra_says_what_to_install() -> None:
    code = (
        "import sys; from fluidstack.emulator.__main__ import main; "
        "sys.exit(main(['--port', '0', '--ssh']))"
    )
    done = _without(["asyncssh"], code)
    assert done.returncode == 2, done.stderr
    assert "pip install 'fluidstack[ssh]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_ssh_to_an_instance_without_its_extra_says_what_to_install() -> None:
    code = """
        import asyncio
        from fluidstack.core.ssh import SshTarget, ssh_exec
        try:
            asyncio.run(ssh_exec(SshTarget("127.0.0.1", 22, "ubuntu", "i-1"), "true"))
        except ImportError as exc:
            print(exc)
        """
    done = _without(["asyncssh"], code)
    assert "pip install 'fluidstack[ssh]'" in done.stdout, done.stderr


def test_a_cli_ssh_command_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import os; os.environ['XDG_CONFIG_HOME'] = os.getcwd()\n"
        "os.environ['FLUIDSTACK_API_KEY'] = 'k'\n"
        "from fluidstack.cli import main; main(['run', '--', 'true'])"
    )
    done = _without(["pathspec", "asyncssh"], code, cwd=tmp_path)
    assert "pip install 'fluidstack[ssh]'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
