"""What the provider's two backends share: the :class:`Backend` interface the provider
(:mod:`fluidstack.integrations.ray.provider`) asks things of, the :class:`Node` it gets
back, :class:`LaunchError`, and the phases and failure categories in Ray's terms.

A backend knows one API and nothing of Ray's autoscaler: the provider keeps the cache,
the state file and Ray's contract, and asks a backend only these few things. Every
create goes through the SDK's safe creates (a lost answer never makes a second
instance); every failure to provision is cleaned up by the backend, and the instance's
deletion confirmed, before it is reported. The backends are
:mod:`~fluidstack.integrations.ray._atlas_backend` and
:mod:`~fluidstack.integrations.ray._platform_backend`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from fluidstack.core.errors import ApiError, InstanceFailedError

from ._config import NodeSpec, ProviderSettings

__all__ = [
    "API_FAILURE",
    "FAILED",
    "NO_CAPACITY",
    "OBJECT_STORE_SHARE",
    "PENDING",
    "PROVISION_FAILED",
    "PROVISION_TIMEOUT",
    "RUNNING",
    "STOPPED",
    "TERMINATED",
    "Backend",
    "LaunchError",
    "Node",
    "read_public_key",
    "state_of",
]

logger = logging.getLogger(__name__)

# Where a node is, in Ray's terms.
PENDING = "pending"
RUNNING = "running"
STOPPED = "stopped"
FAILED = "failed"
TERMINATED = "terminated"

# Ray's NodeLaunchException categories (short labels, under 20 characters).
NO_CAPACITY = "NoCapacity"
PROVISION_FAILED = "ProvisionFailed"
PROVISION_TIMEOUT = "ProvisionTimeout"
API_FAILURE = "ApiError"

# Ray's own estimate of the memory its object store takes (DEFAULT_OBJECT_STORE_MEMORY_
# PROPORTION): the rest is what the autoscaler may count as the "memory" resource.
OBJECT_STORE_SHARE = 0.3


@dataclass
class Node:
    """One instance of the cluster, as the API last described it."""

    id: str
    name: str
    status: str
    """The API's own state or status (``running``, ``out-of-stock``, ``provisioning``...)."""
    phase: str
    """``pending``, ``running``, ``stopped``, ``failed`` or ``terminated``."""
    ip: Optional[str]
    region: Optional[str]
    api_tags: Dict[str, str] = field(default_factory=dict)
    """The Ray tags the API itself keeps for this node (Atlas tags; the platform name)."""


class LaunchError(Exception):
    """A node could not be provisioned; whatever was created for it has been deleted."""

    def __init__(self, category: str, message: str, *, region: Optional[str] = None) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.region = region


class Backend:
    """What the provider needs of an API."""

    api: str

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self._client_lock = threading.Lock()

    def close(self) -> None:
        raise NotImplementedError

    def list_nodes(self) -> List[Node]:
        """Every instance of the cluster the API still lists (terminated ones included
        when the API lists them)."""
        raise NotImplementedError

    def get_node(self, node_id: str, region: Optional[str]) -> Optional[Node]:
        """One instance, or ``None`` once it is gone."""
        raise NotImplementedError

    def launch(
        self,
        spec: NodeSpec,
        tags: Mapping[str, str],
        uid: str,
        regions: Optional[Sequence[str]],
    ) -> Node:
        """Create one instance and return it once it runs; on failure, delete what was
        made, confirm it is gone, and raise :class:`LaunchError`."""
        raise NotImplementedError

    def delete(self, node: Node) -> None:
        """Ask for the instance's deletion (an instance already gone is not an error)."""
        raise NotImplementedError

    def wait_gone(self, node: Node) -> None:
        """Return once the instance is gone (Atlas: its GET answers 404; the platform:
        ``terminated``); raise at ``terminate_timeout``."""
        raise NotImplementedError

    def resources(self, spec: NodeSpec) -> Dict[str, int]:
        """Ray resources of a node type, from the API's catalog."""
        raise NotImplementedError

    def bootstrap(self, config: Dict[str, Any]) -> None:
        """Fill in what ``ray up`` needs before anything is created (project, SSH key)."""
        raise NotImplementedError

    def _clean_up(self, node_ids: Sequence[Tuple[str, Optional[str]]], why: str) -> None:
        """Delete instances made for a launch that failed and wait until they are gone.
        A cleanup that fails is logged with the ids, never swallowed silently."""
        for node_id, region in node_ids:
            node = Node(node_id, "", "", PENDING, None, region)
            try:
                self.delete(node)
                self.wait_gone(node)
                logger.info("deleted instance %s after %s", node_id, why)
            except ApiError as exc:
                logger.error(
                    "could not confirm the deletion of instance %s after %s (%s): it may "
                    "still be billing; the provider deletes it again when it next lists it",
                    node_id,
                    why,
                    exc,
                )


def read_public_key(config: Mapping[str, Any]) -> Optional[str]:
    """The public key of the cluster config's ``auth.ssh_public_key`` file, if it names one."""
    path = (config.get("auth") or {}).get("ssh_public_key")
    if not path:
        return None
    return Path(str(path)).expanduser().read_text(encoding="utf-8").strip()


def state_of(exc: InstanceFailedError) -> str:
    """The state (Atlas) or status (platform) a failed instance ended in."""
    instance = exc.instance
    state = getattr(instance, "state", None) or getattr(instance, "status", None)
    return str(state) if state is not None else "failed"
