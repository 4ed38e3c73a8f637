"""asyncssh, imported without its noise: the one module of the emulator that imports it.

Importing asyncssh with cryptography >= 43 prints five ``CryptographyDeprecationWarning:
DSA is deprecated`` lines (asyncssh names the DSA classes in its type hints), which the
emulator's users can do nothing about. They are silenced here, around the import only,
by category and message: any other warning, and this one raised later by anything else,
still shows. asyncssh's logger (INFO lines per connection, per channel, per SFTP session)
is kept at WARNING unless the emulator runs with ``--log-level debug``
(:func:`quiet_asyncssh_logger`).

The SDK has the same guard in ``fluidstack.core.ssh`` (the SDK and the emulator never
import each other).
"""

from __future__ import annotations

import logging
import warnings
from typing import Type

__all__ = ["asyncssh", "quiet_asyncssh_logger"]


def _deprecation_category() -> Type[Warning]:
    try:
        from cryptography.utils import CryptographyDeprecationWarning
    except ImportError:  # an older or newer cryptography: the message alone then
        return Warning
    return CryptographyDeprecationWarning


with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "DSA is deprecated", _deprecation_category())
    import asyncssh


def quiet_asyncssh_logger() -> None:
    """asyncssh's logger at WARNING, unless logging was configured for debug (the
    emulator's ``--log-level debug``) or the application set asyncssh's level itself."""
    ssh_logger = logging.getLogger("asyncssh")
    if ssh_logger.level != logging.NOTSET:
        return
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return
    ssh_logger.setLevel(logging.WARNING)
