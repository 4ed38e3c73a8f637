"""The old home of ``fluidstack instances``, kept so that imports from here
still work: the commands live in :mod:`fluidstack.cli.platform.instances`."""

from .platform.instances import build_ssh_argv, instances

__all__ = ["build_ssh_argv", "instances"]
