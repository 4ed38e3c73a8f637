"""Issue 28 item 8: an Atlas-only profile (no platform API key) can be made and used."""

from __future__ import annotations

from cli_support import Fs

from fluidstack.testing import EmulatorHandle


def test_atlas_login_makes_an_atlas_only_profile(fs_no_creds: Fs, emulator: EmulatorHandle) -> None:
    control = emulator.atlas
    fs_no_creds(
        "--profile", "browser", "atlas", "login", "--url", control.management_url,
        "--client-id", control.client_id, "--client-secret", control.client_secret,
    )  # fmt: skip
    listed = fs_no_creds("--profile", "browser", "atlas", "--region", "eu-north-1",
                         "projects", "list")  # fmt: skip
    assert "error" not in listed.stderr
    whoami = fs_no_creds("--profile", "browser", "atlas", "whoami")
    assert control.client_id in whoami.stdout + whoami.stderr


def test_an_unknown_profile_says_how_to_make_it_for_atlas(fs_no_creds: Fs) -> None:
    result = fs_no_creds("--profile", "nope", "atlas", "whoami", expect=2)
    assert "fluidstack --profile nope atlas login" in result.stderr
