"""``FluidStackNodeProvider``: Ray's cluster launcher and autoscaler on FluidStack.

Ray loads it from a cluster YAML::

    provider:
      type: external
      module: fluidstack.integrations.ray.FluidStackNodeProvider
      api: atlas            # or: platform

One class serves both APIs; ``api`` picks the backend
(:mod:`fluidstack.integrations.ray._backends`). Everything Ray's contract asks for (the
cache of the last listing, tag filters, the state file, launch failures reported as
``NodeLaunchException``, confirmed terminations, thread safety) is written once here.

**Which nodes exist** is always the API's listing: the instances tagged
``ray-cluster-name: <cluster>`` in the project (Atlas) or named ``ray.<cluster>.…``
(platform). **Their tags** are what the API keeps (Atlas tags set at create; the
platform name) overlaid with the state file, which holds every tag Ray set since (Atlas
cannot change an instance's tags, the platform has none). A restarted provider therefore
finds every node again and counts each once; entries of the file whose instance is gone
are dropped; an instance the file does not know is adopted with the tags the API kept.
"""

from __future__ import annotations

import copy
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Mapping, Optional

from ray.autoscaler.node_launch_exception import NodeLaunchException
from ray.autoscaler.node_provider import NodeProvider

from fluidstack.core.errors import ApiError

from ._backends import (
    FAILED,
    PENDING,
    RUNNING,
    STOPPED,
    TERMINATED,
    Backend,
    LaunchError,
    Node,
    make_backend,
)
from ._config import (
    NodeSpec,
    ProviderSettings,
    parse_node_config,
    parse_provider_config,
)
from ._naming import TAG_CLUSTER_NAME, TAG_NODE_KIND
from ._state import StateFile

__all__ = ["FluidStackNodeProvider"]

logger = logging.getLogger(__name__)

FRESH_SECONDS = 600.0
"""How long a node this provider created is trusted to exist although a listing does not
show it yet (a listing taken while the create was under way, or a lagging API)."""
MAX_PARALLEL_LAUNCHES = 16


class FluidStackNodeProvider(NodeProvider):
    """A Ray ``NodeProvider`` for FluidStack Atlas and the FluidStack platform API.

    ``provider_config`` is the YAML's ``provider:`` section (see ``docs/ray.md``):
    ``api`` (``atlas`` or ``platform``), credentials (or the environment), ``regions``
    (fallback order), ``state_file``, ``provision_timeout``, ``terminate_timeout``,
    ``poll_interval``; for Atlas ``region``, ``project_id`` or ``project``; for the
    platform ``ssh_key`` and ``max_price_per_hour``.

    All public methods are thread-safe: Ray calls them from its main loop, its node
    launcher threads and its updater threads at once.
    """

    def __init__(self, provider_config: Dict[str, Any], cluster_name: str) -> None:
        super().__init__(provider_config, cluster_name)
        self.settings: ProviderSettings = parse_provider_config(provider_config, cluster_name)
        self.backend: Backend = make_backend(self.settings)
        self.state = StateFile(
            self.settings.state_file, api=self.settings.api, cluster=cluster_name
        )
        self._lock = threading.RLock()
        self._nodes: Dict[str, Node] = {}
        self._tags: Dict[str, Dict[str, str]] = self.state.read()
        self._fresh: Dict[str, float] = {}

    def __repr__(self) -> str:
        return f"FluidStackNodeProvider(api={self.settings.api!r}, cluster={self.cluster_name!r})"

    # -- what exists ------------------------------------------------------------------

    def non_terminated_nodes(self, tag_filters: Dict[str, str]) -> List[str]:
        """Ids of the cluster's pending and running nodes whose tags match
        ``tag_filters``, from a fresh listing. Nodes that can no longer become part of
        the cluster (``error``, ``out-of-stock``, ``failed``; stopped workers, e.g.
        preempted) are deleted on the way, so Ray replaces them."""
        nodes = self._refresh()
        return [
            n.id
            for n in nodes
            if n.phase in (PENDING, RUNNING) and _matches(self._tags_of(n), tag_filters)
        ]

    def nodes_for_teardown(self, tag_filters: Dict[str, str]) -> List[str]:
        """What ``ray down`` deletes: every node of the cluster not already gone,
        stopped ones included."""
        nodes = self._refresh(clean_up=False)
        return [
            n.id for n in nodes if n.phase != TERMINATED and _matches(self._tags_of(n), tag_filters)
        ]

    def _refresh(self, clean_up: bool = True) -> List[Node]:
        listed = self.backend.list_nodes()
        seen = {n.id for n in listed}
        now = time.monotonic()
        with self._lock:
            fresh = [
                (node_id, self._nodes.get(node_id))
                for node_id, at in self._fresh.items()
                if now - at < FRESH_SECONDS and node_id not in seen
            ]
            self._fresh = {k: v for k, v in self._fresh.items() if now - v < FRESH_SECONDS}
        for node_id, known in fresh:  # created here, not listed yet: ask for it
            node = self.backend.get_node(node_id, known.region if known else None)
            if node is not None:
                listed.append(node)
        if clean_up:
            self._clean_up_dead(listed)
        alive = {n.id for n in listed if n.phase != TERMINATED}
        with self._lock:
            keep = alive | set(self._fresh)
            self._tags = self.state.update(keep_only=keep)
            self._nodes = {n.id: n for n in listed}
        return listed

    def _clean_up_dead(self, nodes: List[Node]) -> None:
        for node in nodes:
            kind = self._tags_of(node).get(TAG_NODE_KIND)
            dead = node.phase == FAILED or (node.phase == STOPPED and kind != "head")
            if not dead:
                continue
            logger.warning(
                "instance %s (%s) of cluster %s is %s: deleting it so that Ray replaces it",
                node.id,
                node.name,
                self.cluster_name,
                node.status,
            )
            try:
                self.backend.delete(node)
                node.phase = TERMINATED
            except ApiError as exc:
                logger.error("could not delete instance %s (%s); will try again", node.id, exc)

    def _node(self, node_id: str, *, refresh: bool = False) -> Optional[Node]:
        with self._lock:
            node = self._nodes.get(node_id)
        if node is not None and not refresh:
            return node
        fetched = self.backend.get_node(node_id, node.region if node else None)
        with self._lock:
            if fetched is None:
                if node is not None:
                    node.phase = TERMINATED
                return node
            self._nodes[node_id] = fetched
        return fetched

    def _tags_of(self, node: Node) -> Dict[str, str]:
        with self._lock:
            local = self._tags.get(node.id, {})
        return {**node.api_tags, **local}

    def is_running(self, node_id: str) -> bool:
        node = self._node(node_id)
        return node is not None and node.phase == RUNNING

    def is_terminated(self, node_id: str) -> bool:
        node = self._node(node_id)
        return node is None or node.phase in (TERMINATED, FAILED, STOPPED)

    def node_tags(self, node_id: str) -> Dict[str, str]:
        node = self._node(node_id)
        if node is None:
            with self._lock:
                return dict(self._tags.get(node_id, {}))
        return self._tags_of(node)

    def external_ip(self, node_id: str) -> Optional[str]:  # type: ignore[override]
        """The node's address (``None`` until it runs). Atlas gives instances one,
        private, address; the platform one, public: the same for both methods."""
        return self._ip(node_id)

    def internal_ip(self, node_id: str) -> Optional[str]:  # type: ignore[override]
        """See :meth:`external_ip`."""
        return self._ip(node_id)

    def _ip(self, node_id: str) -> Optional[str]:
        node = self._node(node_id)
        if node is not None and (node.ip is None or node.phase != RUNNING):
            node = self._node(node_id, refresh=True)
        return node.ip if node is not None else None

    # -- changing tags ---------------------------------------------------------------------

    def set_node_tags(self, node_id: str, tags: Dict[str, str]) -> None:
        """Record Ray's new tags for a node in the state file (atomically)."""
        with self._lock:
            node = self._nodes.get(node_id)
            current = self._tags_of(node) if node is not None else self._tags.get(node_id, {})
            merged = {**current, **tags}
            self._tags = self.state.update({node_id: merged})

    # -- creating ---------------------------------------------------------------------

    def create_node(
        self, node_config: Dict[str, Any], tags: Dict[str, str], count: int
    ) -> Optional[Dict[str, Any]]:
        """Create ``count`` nodes and return once they run, as ``{id: {...}}``.

        Each node is launched with the SDK's safe create, in the first region of
        ``regions`` that has capacity; a node that fails to provision (``error``,
        ``failed``, out of stock, too slow) is deleted, its deletion confirmed, and
        (for a failed provision, when several regions are listed) tried again in the
        next region. If any of the nodes could not be made, ``NodeLaunchException``
        says how many and why once all launches have ended; the nodes that were made
        stay and are listed.
        """
        spec = parse_node_config(self.settings.api, node_config)
        node_tags = {**tags, TAG_CLUSTER_NAME: self.cluster_name}
        if count < 1:
            return {}
        with ThreadPoolExecutor(
            max_workers=min(count, MAX_PARALLEL_LAUNCHES), thread_name_prefix="fluidstack-launch"
        ) as pool:
            futures = [pool.submit(self._launch_one, spec, node_tags) for _ in range(count)]
        created: Dict[str, Any] = {}
        failures: List[LaunchError] = []
        for future in futures:
            try:
                node = future.result()
            except LaunchError as exc:
                failures.append(exc)
            else:
                created[node.id] = {"name": node.name, "region": node.region, "ip": node.ip}
        if failures:
            reasons = "; ".join(sorted({f.message for f in failures}))
            raise NodeLaunchException(
                failures[0].category,
                f"{len(failures)} of {count} node(s) could not be provisioned: {reasons}",
                None,
            )
        return created

    def _launch_one(self, spec: NodeSpec, tags: Dict[str, str]) -> Node:
        regions = list(spec.regions or self.settings.regions or [])
        while True:
            uid = secrets.token_hex(4)
            try:
                node = self.backend.launch(spec, tags, uid, regions or None)
            except LaunchError as exc:
                if exc.category == "ProvisionFailed" and exc.region in regions and len(regions) > 1:
                    regions.remove(exc.region)
                    logger.warning("%s; trying %s", exc.message, ", ".join(regions))
                    continue
                logger.error("node launch failed (%s): %s", exc.category, exc.message)
                raise
            except Exception as exc:
                logger.exception("node launch failed")
                raise LaunchError("ApiError", f"{type(exc).__name__}: {exc}") from exc
            break
        with self._lock:
            self._nodes[node.id] = node
            self._fresh[node.id] = time.monotonic()
            self._tags = self.state.update({node.id: {**node.api_tags, **tags}})
        logger.info("node %s (%s) is running at %s", node.id, node.name, node.ip)
        return node

    # -- terminating --------------------------------------------------------------------------

    def terminate_node(self, node_id: str) -> Optional[Dict[str, Any]]:
        """Delete a node and return once it is gone (see :meth:`terminate_nodes`)."""
        return self.terminate_nodes([node_id])

    def terminate_nodes(self, node_ids: List[str]) -> Optional[Dict[str, Any]]:
        """Delete the nodes and return once every one is confirmed gone (Atlas: its
        GET answers 404; the platform: ``terminated``), within ``terminate_timeout``.

        All deletions are asked for first, then confirmed one by one, so a batch takes
        as long as its slowest node. A node whose deletion cannot be confirmed raises an
        ``ApiError`` naming it, after the others were done."""
        nodes: List[Node] = []
        for node_id in node_ids:
            node = self._node(node_id)
            nodes.append(node or Node(node_id, "", "", PENDING, None, None))
        errors: List[str] = []
        asked: List[Node] = []
        for node in nodes:
            logger.info("terminating node %s (%s)", node.id, node.name)
            try:
                self.backend.delete(node)
                asked.append(node)
            except ApiError as exc:
                errors.append(f"{node.id}: {exc}")
        done: List[str] = []
        for node in asked:
            try:
                self.backend.wait_gone(node)
                done.append(node.id)
            except ApiError as exc:
                errors.append(f"{node.id}: {exc}")
        with self._lock:
            for node_id in done:
                known = self._nodes.get(node_id)
                if known is not None:
                    known.phase = TERMINATED
                self._fresh.pop(node_id, None)
            self._tags = self.state.update(remove=done)
        if errors:
            raise ApiError(
                "could not confirm the deletion of "
                + "; ".join(errors)
                + " (they may still be billing: check with `fluidstack`)"
            )
        return {node_id: {"terminated": True} for node_id in done}

    # -- the cluster config --------------------------------------------------------------------

    @staticmethod
    def bootstrap_config(cluster_config: Dict[str, Any]) -> Dict[str, Any]:
        """Check the provider section and every ``node_config`` before anything is
        created, and fill in what the nodes need: the Atlas project's id (a
        ``project`` name is found or created) and SSH access (the platform: an account
        key, ``auth.ssh_public_key`` registered when ``ssh_key`` is not given; Atlas:
        the public key in cloud-init ``user_data`` unless a node type sets its own)."""
        config = copy.deepcopy(cluster_config)
        settings = parse_provider_config(config["provider"], config.get("cluster_name", "default"))
        for name, node_type in config.get("available_node_types", {}).items():
            parse_node_config(
                settings.api,
                node_type.get("node_config", {}),
                where=f"available_node_types.{name}.node_config",
            )
        backend = make_backend(settings)
        try:
            backend.bootstrap(config)
        finally:
            backend.close()
        return config

    @staticmethod
    def fillout_available_node_types_resources(cluster_config: Dict[str, Any]) -> Dict[str, Any]:
        """Fill each node type's ``resources`` from the catalog where the YAML leaves
        them out: Atlas ``CPU``, ``GPU`` and ``memory`` (less Ray's object-store share)
        from ``instance_types``; the platform ``GPU`` from the node's ``gpu_count``
        (checked against ``configurations``). Values in the YAML win."""
        if "available_node_types" not in cluster_config:
            return cluster_config
        config = copy.deepcopy(cluster_config)
        settings = parse_provider_config(config["provider"], config.get("cluster_name", "default"))
        backend = make_backend(settings)
        try:
            for name, node_type in config["available_node_types"].items():
                spec = parse_node_config(
                    settings.api,
                    node_type.get("node_config", {}),
                    where=f"available_node_types.{name}.node_config",
                )
                detected = backend.resources(spec)
                given = node_type.get("resources") or {}
                node_type["resources"] = {**detected, **given}
                logger.debug("resources of %s: %s", name, node_type["resources"])
        finally:
            backend.close()
        return config


def _matches(tags: Mapping[str, str], tag_filters: Mapping[str, str]) -> bool:
    return all(tags.get(key) == value for key, value in tag_filters.items())
