"""The Atlas backend of the Ray provider: the cluster is the instances of the project
tagged ``ray-cluster-name``, launched with the SDK's ``instances.launch`` across the
regions allowed (see :mod:`fluidstack.integrations.ray._backend` for what a backend does)."""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from fluidstack.atlas import Atlas
from fluidstack.atlas.types import GlobalInstance, Instance
from fluidstack.core.errors import (
    ApiError,
    InstanceFailedError,
    NoCapacityError,
    NotFoundError,
    OutOfStockError,
    WaitTimeoutError,
)

from ._backend import (
    API_FAILURE,
    FAILED,
    NO_CAPACITY,
    OBJECT_STORE_SHARE,
    PENDING,
    PROVISION_FAILED,
    PROVISION_TIMEOUT,
    RUNNING,
    STOPPED,
    TERMINATED,
    Backend,
    LaunchError,
    Node,
    read_public_key,
    state_of,
)
from ._config import API_ATLAS, AtlasNodeSpec, NodeSpec, ProviderSettings
from ._naming import TAG_CLUSTER_NAME, atlas_instance_name, from_atlas_tags, to_atlas_tags

__all__ = [
    "AtlasBackend",
    "cloud_config_with_key",
    "find_or_create_project",
    "make_atlas_client",
    "memory_bytes",
]

logger = logging.getLogger(__name__)

_ATLAS_PHASES = {
    "creating": PENDING,
    "starting": PENDING,
    "running": RUNNING,
    "stopping": STOPPED,
    "stopped": STOPPED,
    "out-of-stock": FAILED,
    "error": FAILED,
    "deleting": TERMINATED,
}


_ATLAS_CLIENT_SETTINGS = (
    "client_id",
    "client_secret",
    "region",
    "project_id",
    "management_url",
    "token_url",
)


def make_atlas_client(settings: ProviderSettings) -> Atlas:
    """An Atlas client from the provider settings; what they leave out comes from the
    environment (``FLUIDSTACK_CLIENT_ID``, ``_CLIENT_SECRET``, ``_REGION``,
    ``_PROJECT_ID``, ``_ATLAS_URL``...), exactly as ``Atlas()`` reads it."""
    options: Dict[str, Any] = {
        key: getattr(settings, key)
        for key in (
            "client_id",
            "client_secret",
            "region",
            "project_id",
            "management_url",
            "token_url",
        )
        if getattr(settings, key) is not None
    }
    return Atlas(**options)


class AtlasBackend(Backend):
    """Atlas: the cluster is the instances of the project tagged ``ray-cluster-name``."""

    api = API_ATLAS

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self._client: Optional[Atlas] = None

    @property
    def client(self) -> Atlas:
        with self._client_lock:
            if self._client is None:
                client = make_atlas_client(self.settings)
                if client.project_id is None and self.settings.project:
                    project_id = find_or_create_project(client, self.settings.project)
                    client = client.with_options(project_id=project_id)
                self._client = client
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _in(self, region: Optional[str]) -> Atlas:
        client = self.client
        if region is None or region == client.region:
            return client
        return client.with_options(region=region)

    def _node(self, instance: Union[Instance, GlobalInstance]) -> Node:
        state = str(instance.state)
        return Node(
            id=instance.id,
            name=instance.name,
            status=state,
            phase=_ATLAS_PHASES.get(state, PENDING),
            ip=instance.ip,
            region=instance.region,
            api_tags=from_atlas_tags(instance.tags),
        )

    def list_nodes(self) -> List[Node]:
        client = self.client
        project = client.project_id
        cluster = self.settings.cluster_name
        return [
            self._node(instance)
            for instance in client.instances.list(all_regions=True)
            if (project is None or instance.project_id == project)
            and instance.tags.get(TAG_CLUSTER_NAME) == cluster
        ]

    def get_node(self, node_id: str, region: Optional[str]) -> Optional[Node]:
        try:
            if region is None:
                return self._node(self.client.instances.get(node_id, all_regions=True))
            return self._node(self._in(region).instances.get(node_id))
        except NotFoundError:
            return None

    def launch(
        self,
        spec: NodeSpec,
        tags: Mapping[str, str],
        uid: str,
        regions: Optional[Sequence[str]],
    ) -> Node:
        assert isinstance(spec, AtlasNodeSpec)
        client = self.client
        atlas_tags, left_out = to_atlas_tags(tags)
        if left_out:
            logger.debug("tags kept only in the state file: %s", sorted(left_out))
        kind = tags.get("ray-node-type", "worker")
        name = atlas_instance_name(self.settings.cluster_name, kind, uid)
        try:
            instance = client.instances.launch(
                type=spec.type,
                regions=list(regions) if regions else None,
                name=name,
                image=spec.image,
                tags={**spec.tags, **atlas_tags},
                user_data=spec.user_data,
                filesystems=list(spec.filesystems) or None,
                ephemeral=spec.ephemeral,
                preemptible=spec.preemptible,
                timeout=self.settings.provision_timeout,
                poll_interval=self.settings.poll_interval,
                request_options={"idempotency_key": f"ray-{uid}"},
            )
        except NoCapacityError as exc:
            # launch deleted every out-of-stock instance it made: confirm they are gone.
            self._clean_up(_failed_instances(exc.attempts), "running out of stock")
            raise LaunchError(NO_CAPACITY, f"no capacity for {spec.type}: {exc}") from exc
        except OutOfStockError as exc:  # pragma: no cover - launch turns this into NoCapacity
            region = getattr(exc.instance, "region", None)
            self._clean_up(_instances_of(exc), "running out of stock")
            raise LaunchError(NO_CAPACITY, str(exc), region=region) from exc
        except InstanceFailedError as exc:
            region = getattr(exc.instance, "region", None)
            self._clean_up(_instances_of(exc), "a failed provision")
            raise LaunchError(
                PROVISION_FAILED,
                f"{spec.type} in {region or 'its region'} went {state_of(exc)}",
                region=region,
            ) from exc
        except WaitTimeoutError as exc:
            self._clean_up(_instances_of(exc), "a provision that took too long")
            raise LaunchError(
                PROVISION_TIMEOUT,
                f"{spec.type} was not running after {self.settings.provision_timeout:g} s",
                region=getattr(exc.instance, "region", None),
            ) from exc
        except ApiError as exc:
            self._clean_up(self._named(name), "a failed launch")
            raise LaunchError(API_FAILURE, f"launching {spec.type} failed: {exc}") from exc
        return self._node(instance)

    def _named(self, name: str) -> List[Tuple[str, Optional[str]]]:
        """Instances a failed launch may have left (its name is unique to it)."""
        try:
            listed = self.list_nodes()
        except ApiError as exc:
            logger.error(
                "could not look for instances named %s left by a failed launch: %s", name, exc
            )
            return []
        return [(n.id, n.region) for n in listed if n.name == name and n.phase != TERMINATED]

    def delete(self, node: Node) -> None:
        try:
            self._in(node.region).instances.delete(node.id)
        except NotFoundError:
            return

    def wait_gone(self, node: Node) -> None:
        self._in(node.region).instances.wait(
            node.id,
            until="deleted",
            timeout=self.settings.terminate_timeout,
            poll_interval=self.settings.poll_interval,
        )

    def _regions_for(self, spec: AtlasNodeSpec) -> List[str]:
        regions = spec.regions or self.settings.regions
        if regions:
            return list(regions)
        client = self.client
        return [client.region] if client.region else [r.name for r in client.regions.list()]

    def resources(self, spec: NodeSpec) -> Dict[str, int]:
        assert isinstance(spec, AtlasNodeSpec)
        known: List[str] = []
        for region in self._regions_for(spec):
            for kind in self._in(region).instance_types.list():
                if kind.name == spec.type:
                    resources = {"CPU": kind.cpu}
                    if kind.gpu_count:
                        resources["GPU"] = kind.gpu_count
                    memory = memory_bytes(kind.memory)
                    if memory:
                        resources["memory"] = int(memory * (1 - OBJECT_STORE_SHARE))
                    return resources
                known.append(kind.name)
        raise ValueError(
            f"instance type {spec.type!r} is not offered in {', '.join(self._regions_for(spec))}"
            f" (offered: {', '.join(sorted(set(known))) or 'nothing'})"
        )

    def bootstrap(self, config: Dict[str, Any]) -> None:
        provider = config["provider"]
        client = self.client  # resolves provider.project (a name) to an id
        if client.project_id is None:
            raise ValueError(
                "Atlas instances belong to a project: set provider.project_id (or "
                "FLUIDSTACK_PROJECT_ID), or provider.project to a name (found or created)"
            )
        provider["project_id"] = client.project_id
        public_key = read_public_key(config)
        if public_key:
            for node_type in config.get("available_node_types", {}).values():
                node_config = node_type.setdefault("node_config", {})
                node_config.setdefault("user_data", cloud_config_with_key(public_key))


def find_or_create_project(client: Atlas, name: str) -> str:
    """The id of the active project named ``name``, created when there is none."""
    for project in client.projects.list():
        if project.name == name and str(project.state) == "active":
            return project.id
    logger.info("creating the Atlas project %s", name)
    return client.projects.create(name=name).id


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]i?)?B?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "t": 1000**4,
    "p": 1000**5,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
    "pi": 1024**5,
}


def memory_bytes(text: str) -> Optional[int]:
    """Bytes in an Atlas memory figure (``"8Gi"``, ``"1Ti"``, ``"512M"``); ``None`` if it
    cannot be read."""
    match = _MEMORY.match(text or "")
    if not match:
        return None
    unit = (match.group(2) or "").lower()
    return int(float(match.group(1)) * _UNITS[unit])


def cloud_config_with_key(public_key: str) -> str:
    """cloud-init user data that authorizes ``public_key`` for SSH."""
    return "#cloud-config\nssh_authorized_keys:\n  - " + public_key.strip() + "\n"


def _instances_of(
    exc: Union[InstanceFailedError, WaitTimeoutError],
) -> List[Tuple[str, Optional[str]]]:
    instance = exc.instance
    node_id = getattr(instance, "id", None)
    return [(node_id, getattr(instance, "region", None))] if node_id else []


def _failed_instances(attempts: Sequence[Any]) -> List[Tuple[str, Optional[str]]]:
    found: List[Tuple[str, Optional[str]]] = []
    for attempt in attempts:
        error = attempt[1] if isinstance(attempt, tuple) and len(attempt) == 2 else None
        if isinstance(error, (InstanceFailedError, WaitTimeoutError)):
            found.extend(_instances_of(error))
    return found
