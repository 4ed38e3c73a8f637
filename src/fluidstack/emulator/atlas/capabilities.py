"""Region capabilities: the Infrastructure API's 31 values, and which one each regional
operation needs.

``GET /capabilities`` lists what a region offers (all 31 by default). The control API
(``PUT /_emulator/atlas/regions/<name>/capabilities``) can withhold some; an operation
whose capability is withheld then answers 501 with the ``Error`` body. The contract
enumerates the values and declares 501 on every operation, but never ties the two
together: the mapping below follows the names (``instances:create`` for
``POST /instances``, ...) and is *inferred* (docs/emulator.md).

The mapping works on the request's path parts, not on the route table, so routes added
later (clusters, node pools, credentials) are covered without registering anything.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

__all__ = ["CAPABILITIES", "capability_for"]

CAPABILITIES: Tuple[str, ...] = (
    "instances:list",
    "instances:create",
    "instances:delete",
    "instances:read",
    "instances:update",
    "instances:start",
    "instances:stop",
    "filesystems:list",
    "filesystems:create",
    "filesystems:delete",
    "filesystems:read",
    "filesystems:update",
    "projects:list",
    "projects:create",
    "projects:delete",
    "projects:read",
    "projects:update",
    "kubernetes:clusters:list",
    "kubernetes:clusters:create",
    "kubernetes:clusters:delete",
    "kubernetes:clusters:read",
    "kubernetes:node-pools:list",
    "kubernetes:node-pools:create",
    "kubernetes:node-pools:delete",
    "kubernetes:node-pools:read",
    "kubernetes:credentials:read",
    "slurm:clusters:list",
    "slurm:clusters:read",
    "slurm:clusters:proxy",
    "slurm:node-pools:list",
    "slurm:node-pools:read",
)
"""The Infrastructure API's ``Capability`` enumeration, in its order."""

_VERBS = {
    # (method, addresses one item) -> verb
    ("GET", False): "list",
    ("POST", False): "create",
    ("GET", True): "read",
    ("DELETE", True): "delete",
    ("PUT", True): "update",
    ("PATCH", True): "update",
}


def _verb(method: str, item: bool) -> Optional[str]:
    return _VERBS.get((method, item))


def capability_for(method: str, parts: Sequence[str]) -> Optional[str]:
    """The capability a regional request needs, from its path after ``/api/v1alpha1``
    (``("instances", "<id>", "actions", "start")``), or ``None`` when none applies
    (capabilities, capacity, instance types, and what the enumeration does not name,
    such as creating a Slurm cluster)."""
    if not parts:
        return None
    head = parts[0]
    if head in ("instances", "filesystems", "projects"):
        if len(parts) == 4 and head == "instances" and parts[2] == "actions":
            if method == "POST" and parts[3] in ("start", "stop"):
                return f"instances:{parts[3]}"
            return None
        if len(parts) > 2:
            return None
        verb = _verb(method, len(parts) == 2)
        return None if verb is None else f"{head}:{verb}"
    if head not in ("kubernetes", "slurm") or len(parts) < 2:
        return None
    rest = tuple(parts[1:])
    if rest[0] == "node-pools" and len(rest) == 1:  # the older flat listing
        capability = f"{head}:node-pools:list" if method == "GET" else None
    elif rest[0] != "clusters":
        return None
    elif len(rest) <= 2:
        verb = _verb(method, len(rest) == 2)
        capability = None if verb is None else f"{head}:clusters:{verb}"
    elif len(rest) == 3 and rest[2] == "credentials":
        capability = f"{head}:credentials:read" if method == "GET" else None
    elif rest[2] == "node-pools" and len(rest) <= 4:
        verb = _verb(method, len(rest) == 4)
        capability = None if verb is None else f"{head}:node-pools:{verb}"
    else:
        return None
    return capability if capability in CAPABILITIES else None
