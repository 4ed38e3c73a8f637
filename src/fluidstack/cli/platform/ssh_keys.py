"""``fluidstack ssh-keys``: the public keys instances are created with."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Optional, Tuple

import click

from ..state import AliasedGroup, CliError, CliState, InputError, output_options, pass_state

__all__ = ["DEFAULT_KEY_FILES", "read_public_key", "ssh_keys"]

DEFAULT_KEY_FILES = ("~/.ssh/id_ed25519.pub", "~/.ssh/id_rsa.pub")
"""Tried in order when ``ssh-keys add`` is given no file."""

KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)
"""Public key formats the API accepts."""


def _bad_input(message: str) -> CliError:
    return InputError(message)


def _check_public_key(text: str, source: str, path: Optional[Path]) -> str:
    """The key line of ``text``, or a clear error if it is a private key or not a key."""
    if "PRIVATE KEY" in text or text.lstrip().startswith("-----BEGIN"):
        hint = ""
        if path is not None and path.suffix != ".pub":
            public = path.with_name(path.name + ".pub")
            if public.is_file():
                hint = f"; its public key is {public}"
        raise _bad_input(
            f"{source} is a private key: never upload it. Pass the public key (the .pub file){hint}"
        )
    lines = [line.strip() for line in text.splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    if not keys:
        raise _bad_input(f"{source} is empty")
    if len(keys) > 1:
        raise _bad_input(f"{source} holds {len(keys)} keys; pass a file with exactly one")
    key = keys[0]
    parts = key.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise _bad_input(
            f"{source} is not an OpenSSH public key (expected a line like "
            f"'ssh-ed25519 AAAA... comment'; accepted types: {', '.join(KEY_TYPES)})"
        )
    return key


def read_public_key(source: Optional[str]) -> Tuple[str, str]:
    """Read the key to upload: from ``source`` (a path, or ``-`` for stdin), else from
    the first of :data:`DEFAULT_KEY_FILES` that exists. Returns ``(key, where)``."""
    if source == "-":
        text = sys.stdin.read()
        return _check_public_key(text, "standard input", None), "standard input"
    if source is None:
        candidates = [Path(p).expanduser() for p in DEFAULT_KEY_FILES]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise _bad_input(
                f"no public key at {' or '.join(DEFAULT_KEY_FILES)}: create one with "
                "`ssh-keygen -t ed25519`, or pass a PUBLIC_KEY_FILE (or - for stdin)"
            )
        path = found
    else:
        path = Path(source).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _bad_input(f"{path}: no such file") from None
    except IsADirectoryError:
        raise _bad_input(f"{path} is a directory, not a public key file") from None
    except UnicodeDecodeError:
        raise _bad_input(f"{path} is not a text file, so not an OpenSSH public key") from None
    except OSError as exc:
        raise _bad_input(f"cannot read {path}: {exc.strerror or exc}") from None
    return _check_public_key(text, str(path), path), str(path)


@click.group("ssh-keys", cls=AliasedGroup)
def ssh_keys() -> None:
    """Manage the SSH public keys installed on new instances."""


@ssh_keys.command("list")
@output_options
@pass_state
def list_keys(state: CliState) -> None:
    """List the SSH keys of your account."""
    keys = state.client.ssh_keys.list()
    if not keys and state.output == "table":
        state.info("No SSH keys. Add yours with: fluidstack ssh-keys add NAME")
        return

    def table() -> Any:
        from ..render import simple_table

        rows: List[List[Any]] = []
        for key in keys:
            public = (key.public_key or "").split()
            kind = public[0] if public else "-"
            comment = " ".join(public[2:]) if len(public) > 2 else ""
            fingerprint = _fingerprint(key.public_key)
            rows.append([key.name, kind, fingerprint, comment or "-"])
        return simple_table(["NAME", "TYPE", "FINGERPRINT", "COMMENT"], rows)

    state.emit(keys, table=table, ids=[k.name for k in keys])


def _fingerprint(public_key: Optional[str]) -> str:
    """``SHA256:...`` as ``ssh-keygen -l`` prints it, or ``-``."""
    import base64
    import binascii
    import hashlib

    parts = (public_key or "").split()
    if len(parts) < 2:
        return "-"
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return "-"
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


@ssh_keys.command("add")
@click.argument("name")
@click.argument("public_key_file", required=False, metavar="[PUBLIC_KEY_FILE | -]")
@output_options
@pass_state
def add_key(state: CliState, name: str, public_key_file: Optional[str]) -> None:
    """Upload a public key under NAME.

    Reads PUBLIC_KEY_FILE, or standard input with -, or by default
    ~/.ssh/id_ed25519.pub then ~/.ssh/id_rsa.pub. Private keys are refused.
    """
    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="NAME")
    key, where = read_public_key(public_key_file)
    created = state.client.ssh_keys.create(name=name, public_key=key)
    state.info(f"Added SSH key {created.name!r} from {where}.")
    state.emit(created, table=None, ids=[created.name])


def _complete_key_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    from .completion import completion_client

    try:
        found = completion_client(ctx).ssh_keys.list()
    except Exception:
        return []
    return [k.name for k in found if k.name.startswith(incomplete)]


@ssh_keys.command("delete")
@click.argument("name", shell_complete=_complete_key_names)
@output_options
@pass_state
def delete_key(state: CliState, name: str) -> None:
    """Delete the SSH key NAME (instances that have it keep it)."""
    state.client.ssh_keys.delete(name)
    state.info(f"Deleted SSH key {name!r}.")
    state.emit({"deleted": [name]}, table=None, ids=[name])
