"""The managed SSH configuration (fluidstack.core.ssh_config): sections, the Include line
in ~/.ssh/config (added once, first, removed alone), modes, atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fluidstack.core import ssh_config
from fluidstack.core.ssh_config import SshHost


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("FLUIDSTACK_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return home / ".ssh" / "config", tmp_path / "xdg" / "fluidstack" / "ssh_config"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_managed_file_lives_beside_the_cli_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("FLUIDSTACK_CONFIG", raising=False)
    assert ssh_config.managed_path() == tmp_path / "xdg" / "fluidstack" / "ssh_config"
    monkeypatch.setenv("FLUIDSTACK_CONFIG", str(tmp_path / "elsewhere" / "my.toml"))
    assert ssh_config.managed_path() == tmp_path / "elsewhere" / "ssh_config"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLUIDSTACK_CONFIG", "rel/c.toml")
    assert ssh_config.managed_path() == tmp_path / "rel" / "ssh_config"  # absolute


def test_render_host_writes_every_field_with_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    block = ssh_config.render_host(
        SshHost(
            alias="fs-trainer",
            host="127.0.0.1",
            port=2222,
            user="ubuntu",
            identity_file="keys/id",
            known_hosts_file=tmp_path / "my dir" / "known_hosts",
            host_key_alias="fluidstack-abc",
            options=(("ForwardAgent", "yes"),),
            comment="instance abc\n(trainer)",
        )
    )
    assert block == (
        "# instance abc (trainer)\n"
        "Host fs-trainer\n"
        "    HostName 127.0.0.1\n"
        "    Port 2222\n"
        "    User ubuntu\n"
        f"    IdentityFile {tmp_path}/keys/id\n"
        "    IdentitiesOnly yes\n"
        "    HostKeyAlias fluidstack-abc\n"
        f'    UserKnownHostsFile "{tmp_path}/my dir/known_hosts"\n'
        "    StrictHostKeyChecking accept-new\n"
        "    ForwardAgent yes\n"
    )


@pytest.mark.parametrize(
    "entry",
    [
        SshHost(alias="fs-*", host="h"),
        SshHost(alias="fs a", host="h"),
        SshHost(alias="fs-a", host="h\n    ProxyCommand evil"),
        SshHost(alias="fs-a", host="h", user='a"b'),
        SshHost(alias="fs-a", host="h", port=0),
        SshHost(alias="fs-a", host="h", options=(("Match", "all"),)),
        SshHost(alias="fs-a", host=""),
    ],
)
def test_render_host_refuses_what_could_inject_directives(entry: SshHost) -> None:
    with pytest.raises(ValueError):
        ssh_config.render_host(entry)


def test_sections_are_replaced_alone_and_the_file_is_private(paths: tuple) -> None:
    _, managed = paths
    ssh_config.write_section("platform:default", [SshHost("fs-a", "10.0.0.1")])
    ssh_config.write_section("slurm:hpc", [SshHost("fs-hpc-login", "10.0.0.9", user="root")])
    ssh_config.write_section("platform:default", [SshHost("fs-b", "10.0.0.2")])
    sections = ssh_config.read_sections()
    assert set(sections) == {"platform:default", "slurm:hpc"}
    assert "fs-b" in sections["platform:default"]
    assert "fs-a" not in sections["platform:default"]
    assert "fs-hpc-login" in sections["slurm:hpc"]
    assert ssh_config.managed_aliases() == {"fs-b": "platform:default", "fs-hpc-login": "slurm:hpc"}
    assert ssh_config.managed_aliases(exclude="slurm:hpc") == {"fs-b": "platform:default"}
    assert _mode(managed) == 0o600
    assert _mode(managed.parent) == 0o700
    assert not [p for p in managed.parent.iterdir() if p.name.endswith(".tmp")]
    # No entries: the section goes, the file (the record of consent) stays.
    ssh_config.write_section("platform:default", [])
    assert set(ssh_config.read_sections()) == {"slurm:hpc"}
    assert ssh_config.remove_section("slurm:hpc") is True
    assert ssh_config.remove_section("slurm:hpc") is False
    assert managed.exists()
    assert ssh_config.read_sections() == {}


def test_an_alias_is_never_written_twice(paths: tuple) -> None:
    ssh_config.write_section("a", [SshHost("fs-x", "h")])
    with pytest.raises(ValueError, match="already in section 'a'"):
        ssh_config.write_section("b", [SshHost("fs-x", "h")])
    with pytest.raises(ValueError, match="given twice"):
        ssh_config.write_section("b", [SshHost("fs-y", "h"), SshHost("fs-y", "i")])
    assert set(ssh_config.read_sections()) == {"a"}


def test_the_include_line_goes_first_once_and_leaves_the_rest_byte_identical(
    paths: tuple,
) -> None:
    user, managed = paths
    user.parent.mkdir(mode=0o755)
    original = b"# mine\nHost work\n    User me\n\xff odd bytes\r\nMatch all\n"
    user.write_bytes(original)
    os.chmod(user, 0o644)
    assert ssh_config.has_include() is False
    assert ssh_config.add_include() is True
    assert ssh_config.add_include() is False  # never duplicated
    text = user.read_bytes()
    assert text == f"Include {managed}\n".encode() + original
    assert _mode(user) == 0o644  # the user's mode is kept
    assert ssh_config.has_include() is True
    assert ssh_config.remove_include() is True
    assert user.read_bytes() == original
    assert ssh_config.remove_include() is False


def test_an_include_the_user_wrote_counts_and_a_new_file_is_private(
    paths: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, managed = paths
    assert ssh_config.add_include() is True
    assert _mode(user) == 0o600
    assert _mode(user.parent) == 0o700
    user.write_text(f"Host x\n  User y\ninclude={managed}\n")
    assert ssh_config.has_include() is True
    assert ssh_config.add_include() is False
    # Written as OpenSSH reads it: ~ for the home folder, relative to ~/.ssh.
    monkeypatch.delenv("XDG_CONFIG_HOME")
    user.write_text('Include "~/.config/fluidstack/ssh_config"\n')
    assert ssh_config.has_include() is True
    user.write_text("Include ../.config/fluidstack/ssh_config other\n")
    assert ssh_config.has_include() is True
    user.write_text("Include ../.config/fluidstack/ssh_config.d\n")
    assert ssh_config.has_include() is False


def test_a_symlinked_ssh_config_is_written_through(paths: tuple, tmp_path: Path) -> None:
    user, _ = paths
    real = tmp_path / "dotfiles" / "ssh_config"
    real.parent.mkdir()
    real.write_text("Host a\n")
    user.parent.mkdir()
    user.symlink_to(real)
    ssh_config.add_include()
    assert user.is_symlink()
    assert real.read_text().startswith("Include ")


def test_remove_all_takes_out_the_line_and_the_file_only(paths: tuple) -> None:
    user, managed = paths
    user.parent.mkdir()
    user.write_text("Host a\n    User b\n")
    ssh_config.write_section("platform:default", [SshHost("fs-a", "h")])
    ssh_config.add_include()
    assert ssh_config.remove_all() == (True, True)
    assert user.read_text() == "Host a\n    User b\n"
    assert not managed.exists()
    assert sorted(p.name for p in managed.parent.iterdir()) == []
    assert ssh_config.remove_all() == (False, False)


def test_a_section_keeps_its_settings_even_with_no_hosts(paths: tuple) -> None:
    settings = {"identity": "/k e y/id", "ssh-port": "2222"}
    ssh_config.write_section("atlas:default", [SshHost("fs-a", "h")], settings=settings)
    assert ssh_config.section_settings("atlas:default") == settings
    assert ssh_config.managed_aliases() == {"fs-a": "atlas:default"}
    ssh_config.write_section("atlas:default", [], settings=settings)
    assert ssh_config.section_settings("atlas:default") == settings
    assert ssh_config.managed_aliases() == {}
    assert ssh_config.section_settings("other") == {}
    with pytest.raises(ValueError):
        ssh_config.write_section("atlas:default", [], settings={"Bad Key": "x"})
