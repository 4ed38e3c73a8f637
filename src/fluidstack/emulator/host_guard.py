"""The served emulator's ``Host`` check as the middleware runs it: the policy of
:class:`~fluidstack.emulator.hosts.HostPolicy` (which names are answered, the defence
against DNS rebinding) plus the refusal itself, a 421 answer and one warning in the log.
"""

from __future__ import annotations

import logging
from typing import Iterable

from fluidstack.emulator.hosts import HostPolicy
from fluidstack.emulator.responses import Send, send_json

__all__ = ["HostGuard"]

logger = logging.getLogger("fluidstack.emulator")


class HostGuard(HostPolicy):
    """A :class:`HostPolicy` that also answers the requests it refuses (a subclass, not
    a wrapper: :meth:`allows` runs on every served request, and a wrapper would add a
    call to each)."""

    def __init__(self, bound: str, allowed: Iterable[str] = ()) -> None:
        super().__init__(bound, allowed)
        self.refused = 0
        """Requests refused so far (only the first is logged)."""

    async def refuse(self, host: str, send: Send) -> None:
        """Answer 421 (and say so): the request's ``Host`` is not one served here."""
        if not self.refused:
            logger.warning(
                "refused a request for Host %r (DNS rebinding?); --allowed-host accepts a "
                "name (logged once; later refusals are not)",
                host[:100],
            )
        self.refused += 1
        await send_json(send, 421, {"message": HostPolicy.refusal(host)})
