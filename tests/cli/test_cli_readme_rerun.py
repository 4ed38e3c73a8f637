"""Issue 28 item 11: the README's Atlas quickstart can be run again, and the README's own
`fluidstack atlas use --project training` still works after it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_support import Fs

from fluidstack.testing import EmulatorHandle

README = Path(__file__).parents[2] / "README.md"


def _atlas_quickstart() -> str:
    text = README.read_text()
    section = text[text.index("## Quickstart: Atlas") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_atlas_quickstart_runs_twice_and_atlas_use_still_works(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fluidstack.core._sync.pipeline import Pipeline

    control = emulator.atlas
    for name, value in {
        "FLUIDSTACK_ATLAS_URL": control.management_url,
        "FLUIDSTACK_CLIENT_ID": control.client_id,
        "FLUIDSTACK_CLIENT_SECRET": control.client_secret,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(Pipeline.__init__.__kwdefaults__, "sleep", emulator.advance)
    code = _atlas_quickstart()
    for _ in range(2):
        exec(compile(code, str(README), "exec"), {})  # the README's own code
    names = [p["name"] for p in Fs().json("atlas", "--region", "eu-north-1", "projects", "list")]
    assert names.count("training") == 1
    Fs()("atlas", "use", "--region", "eu-north-1", "--project", "training")
