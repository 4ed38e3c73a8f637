"""Issue 28 items 6 and 7: a sweep's messages speak the CLI's language, and an unknown
price is not zero."""

from __future__ import annotations

from cli_support import Fs

from fluidstack.testing import EmulatorHandle


def test_platform_sweep_without_criterion_names_its_flags(fs: Fs) -> None:
    result = fs("instances", "sweep", expect=2)
    for flag in ("--older-than", "--name-prefix", "--status", "--expired"):
        assert flag in result.stderr
    assert "older_than" not in result.stderr
    assert "expired=True" not in result.stderr
    assert "tags" not in result.stderr  # the platform CLI has no such flag


def test_atlas_sweep_without_criterion_names_its_flags(atlas_fs: Fs) -> None:
    result = atlas_fs("atlas", "instances", "sweep", expect=2)
    assert "--older-than" in result.stderr
    assert "older_than" not in result.stderr


def test_atlas_sweep_without_prices_says_unknown_not_zero(
    atlas_fs: Fs, emulator: EmulatorHandle
) -> None:
    atlas_fs("atlas", "instances", "create", "ci-box", "--type", "cpu.2x")
    emulator.advance(3600)
    result = atlas_fs("atlas", "instances", "sweep", "--name-prefix", "ci-")
    assert "$0.00" not in result.stdout + result.stderr
    assert "no prices known" in result.stdout + result.stderr
    doc = atlas_fs.json("atlas", "instances", "sweep", "--name-prefix", "ci-")
    assert doc["hourly"] is None
    assert doc["cost_so_far"] is None
