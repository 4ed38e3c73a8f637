"""``fluidstack atlas``: every command against the emulator, as a person or script uses it."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from cli_support import PRIVATE_KEY, PUBLIC_KEY, Fs, Home, lines

from fluidstack.cli.config import load_config
from fluidstack.emulator.atlas.capabilities import CAPABILITIES
from fluidstack.testing import EmulatorHandle

MISSING = "00000000-0000-4000-8000-000000000000"


def stored(home: Home) -> Dict[str, Any]:
    """The default profile's atlas table."""
    return load_config(home.config_file).atlas.get("default", {})


def token_requests(emulator: EmulatorHandle) -> int:
    return sum(1 for e in emulator.journal() if e["path"] == "/oauth/token")


# -- login, whoami, use, logout -----------------------------------------------------------


def test_login_with_client_credentials_keeps_them_private(
    fs_no_creds: Fs, emulator: EmulatorHandle, home: Home
) -> None:
    control = emulator.atlas
    result = fs_no_creds(
        "atlas", "login", "--url", control.management_url, "--client-id", control.client_id,
        input=control.client_secret + "\n",  # the secret from standard input
    )  # fmt: skip
    assert "Logged in to Emulated organization 1 with client credentials" in result.stderr
    assert "Emulated organization 1" in result.stdout
    assert control.client_secret not in result.stdout + result.stderr
    mode = stat.S_IMODE(os.stat(home.config_file).st_mode)
    assert mode == 0o600
    table = stored(home)
    assert table["login"] == "client_credentials"
    assert table["client_id"] == control.client_id
    assert table["client_secret"] == control.client_secret
    assert table["token"]  # the access token, reused by the next command
    assert table["management_url"] == control.management_url


def test_wrong_credentials_store_nothing(
    fs_no_creds: Fs, emulator: EmulatorHandle, home: Home
) -> None:
    control = emulator.atlas
    result = fs_no_creds(
        "atlas", "login", "--url", control.management_url, "--client-id", control.client_id,
        "--client-secret", "wrong-secret", expect=1,
    )  # fmt: skip
    assert "invalid_client" in result.stderr
    assert f"{control.management_url}/oauth/token" in result.stderr
    assert "wrong-secret" not in result.stderr
    assert not home.config_file.exists()


def test_login_with_a_token_from_standard_input(
    fs_no_creds: Fs, emulator: EmulatorHandle, home: Home
) -> None:
    token = emulator.atlas.token()
    fs_no_creds("atlas", "login", "--url", emulator.base_url, "--token", "-", input=token)
    assert stored(home)["login"] == "token"
    who = fs_no_creds.json("atlas", "whoami")
    assert who["login"] == "token"
    assert who["organization"]["name"] == "org-1"
    assert token not in str(who)


def test_whoami_never_shows_the_token(atlas_fs: Fs, home: Home) -> None:
    result = atlas_fs("atlas", "whoami")
    assert "Emulated organization 1" in result.stdout
    assert "eu-north-1" in result.stdout
    assert "Token expires" in result.stdout
    for secret in (stored(home)["token"], stored(home)["client_secret"]):
        assert secret not in result.stdout + result.stderr
    doc = atlas_fs.json("atlas", "whoami")
    assert doc["project"] == stored(home)["project_id"]
    assert doc["token_expires_at"]


def test_no_browser_login_without_a_terminal(fs_no_creds: Fs, emulator: EmulatorHandle) -> None:
    result = fs_no_creds("atlas", "login", "--url", emulator.base_url, expect=2)
    assert "no terminal for a browser login" in result.stderr


def test_not_logged_in(fs_no_creds: Fs) -> None:
    result = fs_no_creds("atlas", "instances", "list", expect=2)
    assert "not logged in to Atlas: run `fluidstack atlas login`" in result.stderr


def test_logout_removes_what_login_stored(atlas_fs: Fs, home: Home) -> None:
    atlas_fs("atlas", "logout")
    table = stored(home)
    assert not any(k in table for k in ("client_id", "client_secret", "token", "login"))
    assert table["region"] == "eu-north-1"  # the defaults of `use` stay
    atlas_fs("atlas", "whoami", expect=2)


def test_the_token_is_reused_and_refreshed_when_it_expires(
    atlas_fs: Fs, emulator: EmulatorHandle, home: Home
) -> None:
    before = token_requests(emulator)
    atlas_fs("atlas", "instances", "list")
    atlas_fs("atlas", "projects", "list")
    assert token_requests(emulator) == before  # the stored token served both
    old = stored(home)["token"]
    emulator.atlas.expire_tokens()  # the token has expired on the server
    atlas_fs("atlas", "instances", "list")
    assert token_requests(emulator) == before + 1
    assert stored(home)["token"] != old  # the new one is kept for the next command


def test_a_command_with_a_kept_token_sends_one_request(
    atlas_fs: Fs, emulator: EmulatorHandle, home: Home
) -> None:
    # The region's URL is kept with the token (0600): the next command neither asks for
    # a token nor for the region list (issue 24).
    atlas_fs("atlas", "instances", "list")
    assert "eu-north-1" in stored(home)["region_urls"]
    assert stat.S_IMODE(os.stat(home.config_file).st_mode) == 0o600
    mark = len(emulator.journal())
    atlas_fs("atlas", "instances", "list")
    sent = [(e["method"], e["path"]) for e in emulator.journal()[mark:]]
    assert sent == [("GET", "/regions/eu-north-1/api/v1alpha1/instances")]


def test_a_listing_reads_the_profile_once(
    atlas_fs: Fs, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The platform settings and the Atlas table come from one read of the file.
    import fluidstack.cli.config as config

    atlas_fs("atlas", "instances", "list")  # the token and region URL are kept
    parsed: List[str] = []
    parse = config._parse_toml

    def counting(text: str) -> Dict[str, Any]:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(config, "_parse_toml", counting)
    atlas_fs("atlas", "instances", "list")
    assert len(parsed) == 1


def test_a_kept_region_url_that_moved_is_looked_up_again(
    atlas_fs: Fs, emulator: EmulatorHandle, home: Home
) -> None:
    from fluidstack.cli.config import save_profile

    atlas_fs("atlas", "instances", "list")
    moved = {**stored(home)["region_urls"], "eu-north-1": emulator.base_url + "/regions/gone"}
    save_profile(home.config_file, "default", {"region_urls": moved}, section="atlas")
    mark = len(emulator.journal())
    atlas_fs("atlas", "instances", "list")
    sent = [(e["method"], e["path"]) for e in emulator.journal()[mark:]]
    assert sent == [
        ("GET", "/regions/gone/api/v1alpha1/instances"),
        ("GET", "/api/v1alpha1/regions"),
        ("GET", "/regions/eu-north-1/api/v1alpha1/instances"),
    ]
    assert stored(home)["region_urls"]["eu-north-1"] == emulator.base_url + "/regions/eu-north-1"


def test_use_checks_region_and_project(atlas_fs: Fs, home: Home) -> None:
    result = atlas_fs("atlas", "use", "--region", "mars-1", expect=2)
    assert "no region named 'mars-1'; the regions are: eu-north-1, us-east-1" in result.stderr
    result = atlas_fs("atlas", "use", "--project", "nope", expect=2)
    assert "no project 'nope'" in result.stderr
    atlas_fs("atlas", "projects", "create", "second")
    atlas_fs("atlas", "use", "--project", "second")
    assert stored(home)["project_id"] != ""
    names = {p["id"]: p["name"] for p in atlas_fs.json("atlas", "projects", "list")}
    assert names[stored(home)["project_id"]] == "second"


def test_environment_and_flags_override_the_profile(
    atlas_fs: Fs, monkeypatch: pytest.MonkeyPatch
) -> None:
    atlas_fs("atlas", "instances", "create", "here", "--type", "cpu.2x")
    monkeypatch.setenv("FLUIDSTACK_REGION", "us-east-1")
    assert atlas_fs.json("atlas", "instances", "list") == []  # another region
    assert len(atlas_fs.json("atlas", "--region", "eu-north-1", "instances", "list")) == 1
    monkeypatch.setenv("FLUIDSTACK_PROJECT_ID", MISSING)
    atlas_fs("atlas", "--region", "eu-north-1", "instances", "list", expect=1)  # 404
    result = atlas_fs("atlas", "--project", "nope", "instances", "list", expect=2)
    assert "no project named 'nope'" in result.stderr


def test_missing_region_and_project_say_how_to_choose(
    fs_no_creds: Fs, emulator: EmulatorHandle
) -> None:
    control = emulator.atlas
    fs_no_creds(
        "atlas", "login", "--url", control.management_url, "--client-id", control.client_id,
        "--client-secret", control.client_secret,
    )  # fmt: skip
    result = fs_no_creds("atlas", "projects", "list", expect=2)
    assert "no region chosen: pass `fluidstack atlas --region NAME ...`" in result.stderr
    assert "eu-north-1, us-east-1" in result.stderr
    result = fs_no_creds("atlas", "--region", "eu-north-1", "instances", "list", expect=2)
    assert "no project chosen" in result.stderr


# -- instances ------------------------------------------------------------------------------


def test_instance_lifecycle(atlas_fs: Fs, tmp_path: Path) -> None:
    fs_id = atlas_fs(
        "atlas", "filesystems", "create", "data", "--size", "512Gi", "-q"
    ).stdout.strip()
    cloud = tmp_path / "cloud.yaml"
    cloud.write_text("#cloud-config\npackages: [htop]\n")
    key = tmp_path / "id.pub"
    key.write_text(PUBLIC_KEY + "\n")
    created = atlas_fs.json(
        "atlas", "instances", "create", "trainer", "--type", "cpu.8x", "--tag", "team=ml",
        "--user-data", str(cloud), "--ssh-key", str(key), "--filesystem", fs_id,
        "--ephemeral", "--preemptible", "--wait", "--poll-interval", "0.5",
    )  # fmt: skip
    assert created["state"] == "running"
    assert created["tags"]["team"] == "ml"
    assert created["filesystems"] == [fs_id]
    assert created["ephemeral"] is True
    assert created["preemptible"] is True
    user_data = base64.b64decode(created["userData"]).decode()
    assert user_data.startswith("#cloud-config\n")
    assert yaml.safe_load(user_data) == {"packages": ["htop"], "ssh_authorized_keys": [PUBLIC_KEY]}
    instance_id = created["id"]

    listed = atlas_fs("atlas", "instances", "list")
    assert "trainer" in listed.stdout
    assert "team=ml" in listed.stdout
    assert "fluidstack.client-token" not in listed.stdout
    assert atlas_fs("atlas", "instances", "list", "-q").stdout.split() == [instance_id]
    assert "running" in atlas_fs("atlas", "instances", "get", instance_id).stdout

    stopped = atlas_fs.json(
        "atlas", "instances", "stop", instance_id, "--wait", "--poll-interval", "0.5"
    )
    assert stopped["state"] == "stopped"
    result = atlas_fs("atlas", "instances", "stop", instance_id, expect=1)
    assert "409 Conflict" in result.stderr
    started = atlas_fs("atlas", "instances", "start", instance_id)
    assert "Starting" in started.stderr
    waited = atlas_fs.json("atlas", "instances", "wait", instance_id, "--poll-interval", "0.5")
    assert waited["state"] == "running"

    result = atlas_fs("atlas", "instances", "delete", instance_id, expect=2)
    assert "pass --yes" in result.stderr
    atlas_fs(
        "atlas", "instances", "delete", instance_id, "--yes", "--wait", "--poll-interval", "0.5"
    )
    assert atlas_fs.json("atlas", "instances", "list") == []
    atlas_fs("atlas", "filesystems", "delete", fs_id, "--yes")


def test_instance_errors(atlas_fs: Fs, tmp_path: Path) -> None:
    result = atlas_fs("atlas", "instances", "get", MISSING, expect=1)
    assert "404 Not Found" in result.stderr
    result = atlas_fs("atlas", "instances", "create", "x", "--type", "no-such-type", expect=1)
    assert "400 Bad Request" in result.stderr
    script = tmp_path / "boot.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    key = tmp_path / "id.pub"
    key.write_text(PUBLIC_KEY)
    result = atlas_fs(
        "atlas", "instances", "create", "x", "--type", "cpu.2x", "--user-data", str(script),
        "--ssh-key", str(key), expect=2,
    )  # fmt: skip
    assert "is not one (a script?)" in result.stderr
    private = tmp_path / "id"
    private.write_text(PRIVATE_KEY)
    result = atlas_fs(
        "atlas", "instances", "create", "x", "--type", "cpu.2x", "--ssh-key", str(private),
        expect=2,
    )  # fmt: skip
    assert "private key" in result.stderr
    result = atlas_fs(
        "atlas", "instances", "create", "x", "--type", "cpu.2x", "--tag", "oops", expect=2
    )
    assert "is not KEY=VALUE" in result.stderr
    assert atlas_fs.json("atlas", "instances", "list") == []  # nothing was made


def test_launch_falls_back_and_reports_every_region(atlas_fs: Fs, emulator: EmulatorHandle) -> None:
    emulator.atlas.set_capacity("eu-north-1", "h100-hgx-80gb.8x", 0)
    launched = atlas_fs.json(
        "atlas", "launch", "--type", "h100-hgx-80gb.8x", "--poll-interval", "0.5"
    )
    assert launched["state"] == "running"
    assert launched["region"] == "us-east-1"
    emulator.atlas.set_capacity("us-east-1", "h100-hgx-80gb.8x", 1)
    result = atlas_fs(
        "atlas", "launch", "--type", "h100-hgx-80gb.8x", "--region", "eu-north-1",
        "--region", "us-east-1", expect=1,
    )  # fmt: skip
    assert "no capacity for h100-hgx-80gb.8x in eu-north-1, us-east-1" in result.stderr
    assert "eu-north-1: region eu-north-1 reports no capacity" in result.stderr


# -- the rest ------------------------------------------------------------------------------


def test_instance_types_show_capacity_per_region(atlas_fs: Fs) -> None:
    result = atlas_fs("atlas", "instance-types", "list")
    header, *rows = lines(result.stdout)
    assert header.split()[-2:] == ["eu-north-1", "us-east-1"]
    h200 = next(r for r in rows if r.startswith("h200-hgx-141gb.8x"))
    assert h200.split()[-2:] == ["-", "8"]  # not offered in Europe, 8 in America
    doc = atlas_fs.json("atlas", "instance-types", "list")
    h100 = next(t for t in doc if t["name"] == "h100-hgx-80gb.8x")
    assert h100["capacity"] == {"eu-north-1": 4, "us-east-1": 2}
    assert h100["gpu_count"] == 8
    one = atlas_fs.json("atlas", "instance-types", "list", "--this-region")
    assert {t["name"] for t in one} == {"cpu.2x", "cpu.8x", "h100-hgx-80gb.8x"}


def test_projects_and_filesystems(atlas_fs: Fs) -> None:
    project = atlas_fs.json("atlas", "projects", "create", "extra", "--tag", "cost=42")
    assert project["tags"]["cost"] == "42"
    assert atlas_fs.json("atlas", "projects", "get", project["id"])["name"] == "extra"
    atlas_fs("atlas", "projects", "delete", project["id"], expect=2)  # needs --yes
    atlas_fs("atlas", "projects", "delete", project["id"], "--yes")
    fs = atlas_fs.json("atlas", "filesystems", "create", "scratch", "--size", "1Ti")
    assert atlas_fs.json("atlas", "filesystems", "get", fs["id"])["size"] == "1Ti"
    result = atlas_fs("atlas", "filesystems", "create", "bad", "--size", "lots", expect=2)
    assert "size must be like" in result.stderr


def test_listings_of_the_region_and_organization(atlas_fs: Fs) -> None:
    capacity = atlas_fs.json("atlas", "capacity")
    assert {"name": "cpu.2x", "capacity": 64} in capacity
    assert atlas_fs("atlas", "capabilities").stdout.split() == list(CAPABILITIES)
    assert atlas_fs.json("atlas", "kubernetes", "clusters", "list")[0]["name"]
    assert atlas_fs.json("atlas", "kubernetes", "node-pools", "list")[0]["type"]
    assert atlas_fs.json("atlas", "slurm", "clusters", "list")[0]["name"]
    assert atlas_fs.json("atlas", "slurm", "node-pools", "list")[0]["type"]
    types = {c["type"] for c in atlas_fs.json("atlas", "clusters", "list")}
    assert types == {"kubernetes", "slurm"}
    regions = atlas_fs("atlas", "regions", "list", "-q").stdout.split()
    assert regions == ["eu-north-1", "us-east-1"]


def test_members_invitations_and_keys(atlas_fs: Fs, emulator: EmulatorHandle, home: Home) -> None:
    added = emulator.atlas.add_member("Ada", "ada@example.com")
    atlas_fs("atlas", "members", "update", added["id"], "--role", "editor")
    roles = {m["email"]: m["role"] for m in atlas_fs.json("atlas", "members", "list")}
    assert roles["ada@example.com"] == "editor"
    atlas_fs("atlas", "members", "delete", added["id"], "--yes")
    atlas_fs("atlas", "invitations", "create", "bob@example.com", "--role", "viewer")
    (invitation,) = atlas_fs.json("atlas", "invitations", "list")
    atlas_fs("atlas", "invitations", "delete", invitation["id"])
    assert atlas_fs.json("atlas", "invitations", "list") == []
    ssh = home.path / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519.pub").write_text(PUBLIC_KEY + "\n")
    atlas_fs("atlas", "keys", "create", "laptop")
    listed = atlas_fs("atlas", "keys", "list")
    assert "laptop" in listed.stdout
    assert PUBLIC_KEY not in listed.stdout  # shortened in the table
    assert atlas_fs.json("atlas", "keys", "list") == [{"name": "laptop", "key": PUBLIC_KEY}]
    atlas_fs("atlas", "keys", "delete", "laptop")
    assert atlas_fs.json("atlas", "keys", "list") == []


def test_completion_of_live_names(atlas_fs: Fs) -> None:
    created = atlas_fs.json("atlas", "instances", "create", "completed", "--type", "cpu.2x")

    def complete(words: str, cword: int) -> List[str]:
        out = atlas_fs(
            env={
                "_FLUIDSTACK_COMPLETE": "bash_complete",
                "COMP_WORDS": words,
                "COMP_CWORD": str(cword),
            }
        ).stdout
        return [line.split(",", 1)[-1] for line in out.splitlines()]

    assert complete("fluidstack atlas --region ", 3) == ["eu-north-1", "us-east-1"]
    assert "work" in complete("fluidstack atlas --project w", 3)
    assert created["id"] in complete("fluidstack atlas instances get ", 4)
    assert "h100-hgx-80gb.8x" in complete("fluidstack atlas instances create x --type h", 6)


def test_completion_without_credentials_is_silent(fs_no_creds: Fs) -> None:
    out = fs_no_creds(
        env={
            "_FLUIDSTACK_COMPLETE": "bash_complete",
            "COMP_WORDS": "fluidstack atlas --region ",
            "COMP_CWORD": "3",
        }
    )
    assert out.stdout.strip() == ""
    assert out.stderr == ""


# -- the browser login ---------------------------------------------------------------------


def _browser(emulator: EmulatorHandle, tamper: bool = False) -> Any:
    """A stand-in for the person's browser: logs in on the emulator's page as the
    development user and follows the redirect to the CLI's loopback listener."""
    import httpx

    def open_url(url: str) -> bool:
        params = dict(httpx.URL(url).params)
        state = "forged" if tamper else params["state"]
        location = emulator.atlas.login(params["redirect_uri"], params["code_challenge"], state)
        assert httpx.get(location).status_code == (400 if tamper else 200)
        return True

    return open_url


def test_browser_login_keeps_and_rotates_the_refresh_token(
    fs_no_creds: Fs, emulator: EmulatorHandle, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fluidstack.cli.atlas.login._open_browser", _browser(emulator))
    result = fs_no_creds("atlas", "login", "--url", emulator.base_url, "--browser")
    assert "with a browser login" in result.stderr
    assert "/authorize?" in result.stderr  # the address, for a machine without a browser
    table = stored(home)
    assert table["login"] == "browser"
    assert table["client_id"] == "fs-emulator-cli"
    first_refresh = table["refresh_token"]
    assert first_refresh not in result.stdout + result.stderr
    assert emulator.atlas.dev_user_email in fs_no_creds("atlas", "whoami").stdout
    # An hour later the access token is dead: the refresh token gets a new one, and the
    # server's rotated refresh token replaces the used one in the profile.
    emulator.atlas.expire_tokens()
    fs_no_creds("atlas", "--region", "eu-north-1", "projects", "list")
    second_refresh = stored(home)["refresh_token"]
    assert second_refresh != first_refresh
    emulator.atlas.expire_tokens()  # and again: the kept one works (the used one would not)
    fs_no_creds("atlas", "--region", "eu-north-1", "projects", "list")
    assert stored(home)["refresh_token"] not in (first_refresh, second_refresh)


def test_browser_login_refuses_a_foreign_state(
    fs_no_creds: Fs, emulator: EmulatorHandle, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fluidstack.cli.atlas.login._open_browser", _browser(emulator, True))
    result = fs_no_creds(
        "atlas", "login", "--url", emulator.base_url, "--browser", "--login-timeout", "1",
        expect=1,
    )  # fmt: skip
    # Ignored (issue 23 item 7), so the login waits for the real redirect, then times out.
    assert "does not carry this login's state" in result.stderr
    assert "no login within 1 seconds" in result.stderr
    assert not home.config_file.exists()


def test_browser_login_ignores_forged_redirects_and_takes_the_real_one(
    fs_no_creds: Fs, emulator: EmulatorHandle, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 23 item 7: any local program can call the login's listener. A forged
    ``?error=access_denied`` or a wrong state must not abort the login."""
    import httpx

    real = _browser(emulator)
    answers = []

    def forger_then_browser(url: str) -> bool:
        listener = dict(httpx.URL(url).params)["redirect_uri"]
        for query in (
            {"error": "access_denied"},
            {"error": "access_denied", "state": "guessed"},
            {"code": "stolen", "state": "guessed"},
        ):
            answers.append(httpx.get(listener, params=query).status_code)
        return real(url)

    monkeypatch.setattr("fluidstack.cli.atlas.login._open_browser", forger_then_browser)
    result = fs_no_creds("atlas", "login", "--url", emulator.base_url, "--browser")
    assert answers == [400, 400, 400]
    assert "with a browser login" in result.stderr
    assert stored(home)["login"] == "browser"
