"""Helpers for the CLI tests: a runner with stdout and stderr apart, key files, shortcuts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from click.testing import CliRunner, Result

from fluidstack.cli.app import cli


@dataclass
class Home:
    """The fake home directory and where the CLI's config file is expected."""

    path: Path
    xdg: Path

    @property
    def config_file(self) -> Path:
        return self.xdg / "fluidstack" / "config.toml"


def _runner() -> CliRunner:
    """A runner that keeps stderr apart (the default from Click 8.2; an option before)."""
    import inspect

    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg,unused-ignore]
    return CliRunner()


class Fs:
    """Runs ``fluidstack ARGS`` in-process (Click's CliRunner), stdout and stderr apart."""

    def __init__(self, env: Optional[Dict[str, str]] = None) -> None:
        self.runner = _runner()
        self.env = dict(env or {})

    def __call__(
        self,
        *args: str,
        input: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
        expect: Optional[int] = 0,
    ) -> Result:
        result = self.runner.invoke(
            cli, list(args), input=input, env={**self.env, **(env or {})}, prog_name="fluidstack"
        )
        if expect is not None and result.exit_code != expect:
            raise AssertionError(
                f"fluidstack {' '.join(args)} exited {result.exit_code}, expected {expect}\n"
                f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
                + (f"\n--- exception ---\n{result.exception!r}" if result.exception else "")
            )
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        """Run with ``-o json`` and parse stdout, which must be exactly one JSON document."""
        result = self(*args, "-o", "json", **kwargs)
        return json.loads(result.stdout)


PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm9oIzSvo1WRCz5SzP5Q8mAkEfNjD0h9x2mvDqMSK7b me@laptop"
)
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def write_key_pair(directory: Path, stem: str, public: str = PUBLIC_KEY) -> Path:
    """Write ``stem`` (a private key) and ``stem.pub``; returns the public key's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / stem).write_text(PRIVATE_KEY)
    pub = directory / f"{stem}.pub"
    pub.write_text(public + "\n")
    return pub


def create_instance(fs: Fs, *extra: str) -> Dict[str, Any]:
    """``instances create`` with JSON output; returns the created instance's document."""
    doc: Dict[str, Any] = fs.json("instances", "create", "--gpu-type", "RTX_A5000_24GB", *extra)
    return doc


def lines(text: str) -> List[str]:
    return [line for line in text.splitlines() if line.strip()]
