"""Issue 28 item 13: small things a newcomer trips on."""

from __future__ import annotations

from cli_support import Fs


def test_an_empty_spend_limit_says_it_was_removed(fs: Fs) -> None:
    fs("configure", "--max-hourly-spend", "0.50")
    result = fs("configure", "--max-hourly-spend", "")
    assert "Removed the spend limit" in result.stderr
    assert "Stored" not in result.stderr


def test_an_unknown_region_exits_2_everywhere(atlas_fs: Fs) -> None:
    use = atlas_fs("atlas", "use", "--region", "mars-1", expect=2)
    listed = atlas_fs("atlas", "--region", "mars-1", "instances", "list", expect=2)
    assert "mars-1" in use.stderr
    assert "mars-1" in listed.stderr
