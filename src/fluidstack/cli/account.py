"""The old home of ``fluidstack balance`` and ``api-keys``, kept so that imports from here
still work: the commands live in :mod:`fluidstack.cli.platform.account`."""

from .platform.account import api_keys, balance

__all__ = ["api_keys", "balance"]
