"""The config file (0600, profiles, refused when open to others) and ``fluidstack configure``."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cli_support import Fs, Home

from fluidstack.cli import state as cli_state
from fluidstack.cli.config import (
    DEFAULT_BASE_URL,
    config_path,
    load_config,
    resolve,
    save_profile,
)
from fluidstack.testing import EmulatorHandle

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- where the file is -------------------------------------------------------------


def test_config_path_honours_fluidstack_config_then_xdg_then_home(tmp_path: Path) -> None:
    explicit = tmp_path / "elsewhere.toml"
    assert config_path({"FLUIDSTACK_CONFIG": str(explicit)}) == explicit
    assert config_path({"XDG_CONFIG_HOME": "/x"}) == Path("/x/fluidstack/config.toml")
    assert config_path({}) == Path.home() / ".config" / "fluidstack" / "config.toml"


def test_the_tests_never_see_the_real_home(home: Home) -> None:
    assert Path.home() == home.path
    assert config_path() == home.config_file


# -- writing -----------------------------------------------------------------------


@posix_only
def test_save_creates_the_file_0600_and_its_directory_0700(home: Home) -> None:
    old_umask = os.umask(0o000)  # even a permissive umask must not loosen it
    try:
        save_profile(home.config_file, "default", {"api_key": "k1"})
    finally:
        os.umask(old_umask)
    assert mode(home.config_file) == 0o600
    assert mode(home.config_file.parent) == 0o700
    assert load_config(home.config_file).profiles == {"default": {"api_key": "k1"}}


def test_save_keeps_other_profiles_and_removes_empty_values(home: Home) -> None:
    save_profile(home.config_file, "default", {"api_key": "k1", "base_url": "http://a"})
    save_profile(home.config_file, "work", {"api_key": "k2"})
    save_profile(home.config_file, "default", {"base_url": ""})
    assert load_config(home.config_file).profiles == {
        "default": {"api_key": "k1"},
        "work": {"api_key": "k2"},
    }
    assert not list(home.config_file.parent.glob(".*.tmp"))


@posix_only
def test_rewriting_an_open_file_makes_it_0600_again(home: Home) -> None:
    save_profile(home.config_file, "default", {"api_key": "k1"})
    home.config_file.chmod(0o644)
    save_profile(home.config_file, "work", {"api_key": "k2"})
    assert mode(home.config_file) == 0o600
    assert set(load_config(home.config_file).profiles) == {"default", "work"}


# -- reading and precedence --------------------------------------------------------


@posix_only
def test_a_file_readable_by_others_is_refused_with_a_warning(home: Home) -> None:
    save_profile(home.config_file, "default", {"api_key": "from-file"})
    home.config_file.chmod(0o640)
    warnings: list[str] = []
    env = {"XDG_CONFIG_HOME": str(home.xdg)}
    settings = resolve(api_key=None, base_url=None, profile=None, environ=env, warn=warnings.append)
    assert settings.api_key is None
    assert settings.file_refused
    assert len(warnings) == 1
    assert "chmod 600" in warnings[0]
    assert "from-file" not in warnings[0]


def test_precedence_flag_then_env_then_file(home: Home) -> None:
    save_profile(home.config_file, "default", {"api_key": "file-key", "base_url": "http://file"})
    env = {"XDG_CONFIG_HOME": str(home.xdg)}
    from_file = resolve(api_key=None, base_url=None, profile=None, environ=env)
    assert (from_file.api_key, from_file.api_key_source) == ("file-key", "file")
    assert (from_file.base_url, from_file.base_url_source) == ("http://file", "file")
    env_too = {**env, "FLUIDSTACK_API_KEY": "env-key"}
    from_env = resolve(api_key=None, base_url=None, profile=None, environ=env_too)
    assert (from_env.api_key, from_env.api_key_source) == ("env-key", "env")
    from_flag = resolve(api_key="flag-key", base_url=None, profile=None, environ=env_too)
    assert (from_flag.api_key, from_flag.api_key_source) == ("flag-key", "flag")


def test_profile_flag_beats_the_environment_and_fluidstack_profile_selects(home: Home) -> None:
    save_profile(home.config_file, "default", {"api_key": "default-key"})
    save_profile(home.config_file, "work", {"api_key": "work-key"})
    env = {"XDG_CONFIG_HOME": str(home.xdg), "FLUIDSTACK_API_KEY": "env-key"}
    chosen = resolve(api_key=None, base_url=None, profile="work", environ=env)
    assert (chosen.profile, chosen.api_key) == ("work", "work-key")
    env_profile = {"XDG_CONFIG_HOME": str(home.xdg), "FLUIDSTACK_PROFILE": "work"}
    by_env = resolve(api_key=None, base_url=None, profile=None, environ=env_profile)
    assert (by_env.profile, by_env.profile_source, by_env.api_key) == ("work", "env", "work-key")


def test_defaults_when_nothing_is_configured(home: Home) -> None:
    settings = resolve(api_key=None, base_url=None, profile=None, environ={})
    assert settings.api_key is None
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.base_url_source == "default"
    flagged = resolve(api_key="sekrit-value", base_url=None, profile=None, environ={})
    assert "sekrit-value" not in repr(flagged)


# -- fluidstack configure ----------------------------------------------------------


def test_configure_reads_the_key_from_stdin_and_then_commands_use_it(
    fs_no_creds: Fs, home: Home, emulator: EmulatorHandle
) -> None:
    result = fs_no_creds(
        "configure", "--base-url", emulator.base_url, "--api-key-stdin", input=emulator.api_key
    )
    assert "Stored the API key and base URL" in result.stderr
    assert emulator.api_key not in result.stdout + result.stderr
    if os.name == "posix":
        assert mode(home.config_file) == 0o600
    balance = fs_no_creds.json("balance")
    assert balance["balance"] > 0


def test_configure_on_a_terminal_prompts_with_hidden_input(
    fs_no_creds: Fs, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_state, "stdin_is_terminal", lambda: True)
    from fluidstack.cli import configure as configure_module

    monkeypatch.setattr(configure_module, "stdin_is_terminal", lambda: True)
    result = fs_no_creds("configure", input="secret-key-123\n")
    assert "API key for profile 'default'" in result.stderr
    assert "secret-key-123" not in result.stdout + result.stderr
    assert load_config(home.config_file).profiles["default"]["api_key"] == "secret-key-123"


def test_configure_profiles_are_kept_apart(fs_no_creds: Fs, home: Home) -> None:
    fs_no_creds("configure", input="key-a\n")
    fs_no_creds("--profile", "b", "configure", "--base-url", "http://127.0.0.1:9/", input="key-b\n")
    profiles = load_config(home.config_file).profiles
    assert profiles == {
        "default": {"api_key": "key-a"},
        "b": {"api_key": "key-b", "base_url": "http://127.0.0.1:9"},
    }


def test_configure_global_api_key_flag_is_stored(fs_no_creds: Fs, home: Home) -> None:
    fs_no_creds("--api-key", "flag-key", "configure")
    assert load_config(home.config_file).profiles["default"]["api_key"] == "flag-key"


def test_configure_without_a_key_is_an_input_error(fs_no_creds: Fs, home: Home) -> None:
    result = fs_no_creds("configure", input="", expect=2)
    assert "no API key" in result.stderr
    assert not home.config_file.exists()


def test_configure_rejects_a_base_url_that_is_not_http(fs_no_creds: Fs) -> None:
    result = fs_no_creds("configure", "--base-url", "ftp://x", input="k\n", expect=2)
    assert "http" in result.stderr


def test_configure_show_names_the_source_without_the_key(
    fs_no_creds: Fs, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs_no_creds("configure", input="stored-secret\n")
    shown = fs_no_creds("configure", "--show")
    assert "config file, profile 'default'" in shown.stdout
    assert "stored-secret" not in shown.stdout + shown.stderr
    monkeypatch.setenv("FLUIDSTACK_API_KEY", "env-secret")
    doc = json.loads(fs_no_creds("configure", "--show", "-o", "json").stdout)
    assert doc["api_key_source"] == "env"
    assert doc["api_key_set"] is True
    assert doc["config_file"] == str(home.config_file)
    assert "env-secret" not in json.dumps(doc)
    assert "stored-secret" not in json.dumps(doc)
    text = fs_no_creds("--api-key", "flag-secret", "configure", "--show").stdout
    assert "command-line flag" in text
    assert "flag-secret" not in text


def test_configure_show_with_nothing_configured(fs_no_creds: Fs) -> None:
    doc = json.loads(fs_no_creds("configure", "--show", "-o", "json").stdout)
    assert doc["api_key_set"] is False
    assert doc["api_key_source"] is None
    assert doc["base_url"] == DEFAULT_BASE_URL
    assert doc["config_file_exists"] is False


@posix_only
def test_an_open_config_file_is_refused_by_commands_with_a_warning(
    fs_no_creds: Fs, home: Home, emulator: EmulatorHandle
) -> None:
    save_profile(
        home.config_file, "default", {"api_key": emulator.api_key, "base_url": emulator.base_url}
    )
    home.config_file.chmod(0o644)
    result = fs_no_creds("balance", expect=2)
    assert "warning: ignoring" in result.stderr
    assert "readable by others" in result.stderr
    assert "no API key" in result.stderr
    home.config_file.chmod(0o600)
    assert fs_no_creds.json("balance")["balance"] > 0


def test_fluidstack_config_points_at_another_file(
    fs_no_creds: Fs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "custom" / "fs.toml"
    monkeypatch.setenv("FLUIDSTACK_CONFIG", str(target))
    fs_no_creds("configure", input="k\n")
    assert load_config(target).profiles["default"]["api_key"] == "k"


def test_an_unknown_profile_is_a_usage_error(fs_no_creds: Fs) -> None:
    fs_no_creds("configure", input="k\n")
    result = fs_no_creds("--profile", "nope", "balance", expect=2)
    assert "profile 'nope'" in result.stderr
    assert "fluidstack --profile nope configure" in result.stderr


def test_a_broken_config_file_is_reported(fs_no_creds: Fs, home: Home) -> None:
    home.config_file.parent.mkdir(parents=True)
    fd = os.open(home.config_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"this is [not toml")
    os.close(fd)
    result = fs_no_creds("balance", expect=2)
    assert "not valid TOML" in result.stderr


def test_no_key_anywhere_says_how_to_configure(fs_no_creds: Fs) -> None:
    result = fs_no_creds("instances", "list", expect=2)
    assert result.stderr.strip().startswith("error: no API key")
    assert "fluidstack configure" in result.stderr


def test_configure_warns_when_the_environment_key_will_win(
    fs_no_creds: Fs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUIDSTACK_API_KEY", "env-key")
    result = fs_no_creds("configure", input="file-key\n")
    assert "warning: FLUIDSTACK_API_KEY is set and takes precedence" in result.stderr
    assert "env-key" not in result.stderr
    quiet = fs_no_creds("--profile", "other", "configure", input="other-key\n")
    assert "precedence" not in quiet.stderr
