"""The old home of ``fluidstack ssh-keys``, kept so that imports from here
still work: the commands live in :mod:`fluidstack.cli.platform.ssh_keys`."""

from .platform.ssh_keys import DEFAULT_KEY_FILES, read_public_key, ssh_keys

__all__ = ["DEFAULT_KEY_FILES", "read_public_key", "ssh_keys"]
