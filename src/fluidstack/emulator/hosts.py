"""Which ``Host`` headers the emulator answers: the defence against DNS rebinding.

A web page on ``evil.example`` whose name is made to resolve to 127.0.0.1 can send
requests to the emulator from the victim's browser, and the browser treats the answers
as the page's own (same origin). The request then carries ``Host: evil.example``: a
server that answers only the names it is really reached by (loopback names, the address
it listens on, names its operator allowed) gives such a page nothing to read or drive.
An IP literal is never a rebinding vector (there is no DNS name to rebind), so the
address a connection arrived on is accepted as well.
"""

from __future__ import annotations

import ipaddress
from typing import Dict, FrozenSet, Iterable, Optional, Tuple, Union

__all__ = ["HostPolicy", "split_host"]

_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def split_host(value: str) -> Optional[Tuple[str, Optional[str]]]:
    """``"Name:PORT"`` → ``("name", "PORT")``; ``"[::1]"`` → ``("[::1]", None)``;
    ``None`` for what no client sends as a ``Host`` (a bare IPv6 address, a bad port)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
        if not rest:
            return name, None
        if not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        name, sep, port = value.partition(":")
        if not sep:
            return (name, None) if name else None
        if ":" in port:  # an IPv6 address without brackets
            return None
    if not port.isdigit() or len(port) > 5:
        return None
    return name, port


def _address(name: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    try:
        return ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
    except ValueError:
        return None


def _is_loopback(name: str) -> bool:
    if name == "localhost":
        return True
    address = _address(name)
    if address is None:
        return False
    # "[127.0.0.1]" is no Host a client sends: IPv4 without brackets, IPv6 within them.
    if (address.version == 6) != name.startswith("["):
        return False
    return address.is_loopback


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class HostPolicy:
    """The ``Host`` values one emulator answers.

    Accepted, with any port: ``localhost``, every ``127.x.y.z``, ``[::1]``, the address
    the emulator listens on (unless it listens on every interface), and the address a
    connection arrived on (``local``). Accepted as given: each ``allowed`` name (with a
    port, only that port). A request without ``Host`` (HTTP/1.0) is accepted: it names
    nobody else, and no browser sends one.
    """

    def __init__(self, bound: str, allowed: Iterable[str] = ()) -> None:
        names = set()
        exact = set()
        if bound.lower() not in _WILDCARDS:
            names.add(_bracketed(bound.lower()))
        for entry in allowed:
            parts = split_host(entry)
            if parts is None:
                continue
            if parts[1] is None:
                names.add(parts[0])
            else:
                exact.add(f"{parts[0]}:{parts[1]}")
        self.names: FrozenSet[str] = frozenset(names)
        self.exact: FrozenSet[str] = frozenset(exact)
        self._decided: Dict[Tuple[str, Optional[str]], bool] = {}

    def allows(self, host: Optional[str], local: Optional[str] = None) -> bool:
        """Whether a request with this ``Host`` value (``None``: absent), arriving on the
        local address ``local``, is served."""
        if host is None:
            return True
        # Decided once per value (parsing was 3 % of a create's server time, profiled):
        # clients send the same few. Bounded, since the header is the client's to choose.
        key = (host, local)
        decided = self._decided.get(key)
        if decided is None:
            if len(self._decided) >= 256:
                self._decided.clear()
            decided = self._decided[key] = self._allows(host, local)
        return decided

    def _allows(self, host: str, local: Optional[str]) -> bool:
        parts = split_host(host)
        if parts is None:
            return False
        name, port = parts
        if _is_loopback(name) or name in self.names:
            return True
        if port is not None and f"{name}:{port}" in self.exact:
            return True
        return local is not None and _address(name) is not None and name == _bracketed(local)

    @staticmethod
    def refusal(host: str) -> str:
        """The message of the 421 answer: what was refused, and the flag that accepts it."""
        parts = split_host(host)
        name = parts[0] if parts is not None else host.strip()
        return (
            f"Host {host[:100]!r} is not served here: the emulator answers only localhost, "
            "127.x.y.z, [::1] and the address it listens on (so that a web page whose name "
            "resolves to this machine cannot drive it). To accept this name, start it with "
            f"--allowed-host {name[:100]}"
        )
