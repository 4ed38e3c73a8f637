"""What the APIs' states call when the emulator serves SSH (``--ssh``).

Kept apart from the server (no asyncssh here) so that the states import only this.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["SshHooks"]


class SshHooks(Protocol):
    """The emulator's sshd as the states see it (see ``ssh.machines.SshMachines``)."""

    def platform_port(self, instance_id: str) -> int:
        """The platform instance's SSH port on 127.0.0.1 (listening from now on)."""

    def atlas_address(self) -> str:
        """A loopback address for a new Atlas instance."""

    def atlas_created(self, instance_id: str, address: str) -> None:
        """An Atlas instance exists: its sshd listens on ``address``."""

    def deleted(self, api: str, instance_id: str) -> None:
        """An instance was deleted: end its sessions, remove its directory."""

    def sync(self) -> None:
        """State was reset: forget the instances that no longer exist."""
