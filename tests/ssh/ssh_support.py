"""Helpers of the SSH tests: client keys, and clients of the ``--ssh`` emulator."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import asyncssh


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 key written to disk as ssh-keygen would (private 0600, ``.pub``)."""

    private: Path
    public: str


def make_key(folder: Path, name: str = "id_ed25519") -> KeyPair:
    folder.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{name}@tests")
    private = folder / name
    key.write_private_key(str(private))
    os.chmod(private, 0o600)
    public = key.export_public_key().decode().strip()
    (folder / f"{name}.pub").write_text(public + "\n")
    return KeyPair(private, public)
