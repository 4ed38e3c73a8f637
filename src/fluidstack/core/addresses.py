"""Addresses no SSH connection is ever opened to.

The emulator gives its instances addresses from the ranges RFC 5737 reserves for
documentation (``192.0.2.0/24``, ``198.51.100.0/24``, ``203.0.113.0/24``) unless it runs
with ``--ssh``, when they answer on loopback. Nothing real is at a documentation address,
yet a packet sent to one still leaves the machine (and waits out a connect timeout), so
the SDK and the CLI refuse such an address at once, before any socket is opened, and say
how to get an instance that can be logged into.

Light to import (no asyncssh): the CLI calls this before it starts the system ``ssh``.
"""

from __future__ import annotations

import ipaddress

from .ssh import SshError

__all__ = [
    "DOCUMENTATION_NETWORKS",
    "EmulatorAddressError",
    "is_documentation_address",
    "refusal_message",
    "refuse_documentation_address",
]

DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
"""RFC 5737 (IPv4) and RFC 3849 (IPv6): reserved for examples, reached by no network."""


def is_documentation_address(host: str) -> bool:
    """Whether ``host`` is an IP address in a documentation range (a name never is)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(ip in net for net in DOCUMENTATION_NETWORKS if net.version == ip.version)


def refusal_message(instance_id: str, host: str) -> str:
    """Why an instance at documentation address ``host`` cannot be logged into."""
    return (
        f"instance {instance_id} has the documentation address {host} (RFC 5737), which "
        "no network reaches: it belongs to an emulator started without --ssh. Nothing was "
        "sent. To log into emulated instances, restart the emulator with "
        "`fluidstack-emulator --ssh`."
    )


class EmulatorAddressError(SshError):
    """An instance's address is a documentation address (an emulator without ``--ssh``):
    no connection was attempted. ``instance_id`` names the instance."""


def refuse_documentation_address(host: str, instance_id: str) -> None:
    """Raise :class:`EmulatorAddressError` when ``host`` is a documentation address.

    Called on every path that would open a connection to an instance (SSH sessions,
    copies, the SSH knock of ``wait(until="ssh")``), before any socket exists.
    """
    if is_documentation_address(host):
        raise EmulatorAddressError(refusal_message(instance_id, host), instance_id=instance_id)
