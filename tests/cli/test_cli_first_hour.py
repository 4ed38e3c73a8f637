"""What a newcomer ran into in their first hour with the CLI (round 6): each test is one
message that was wrong, or a traceback's class name where a sentence belonged."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import pytest
from cli_support import Fs

from fluidstack.cli.run import Job, upload_workdir


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


@pytest.mark.parametrize(("files", "said"), [(1, "1 file "), (3, "3 files ")])
def test_run_counts_the_uploaded_files_in_english(tmp_path: Path, files: int, said: str) -> None:
    for number in range(files):
        (tmp_path / f"f{number}.py").write_text("")
    infos: List[str] = []

    class State:
        def info(self, message: str) -> None:
            infos.append(message)

    class Resource:
        def exec(self, *args: Any, **kwargs: Any) -> Any:
            return self

        def check(self) -> None:
            pass

    job = Job("true", None, None, [], tmp_path, "work")
    upload_workdir(State(), Resource(), job)  # type: ignore[arg-type]
    assert infos == [f"Uploading {said}from {tmp_path} to ~/work ..."]
