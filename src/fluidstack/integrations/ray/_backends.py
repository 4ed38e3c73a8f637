"""The two APIs behind the provider: list a cluster's instances, launch one, delete one.

A backend knows one API and nothing of Ray's autoscaler: the provider
(:mod:`fluidstack.integrations.ray.provider`) keeps the cache, the state file and Ray's
contract, and asks a backend only these few things. Every create goes through the SDK's
safe creates (a lost answer never makes a second instance); every failure to provision
is cleaned up here, and the instance's deletion confirmed, before it is reported.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from fluidstack.atlas import Atlas
from fluidstack.atlas.types import GlobalInstance, Instance
from fluidstack.client import FluidStack
from fluidstack.core.errors import (
    ApiError,
    ConflictError,
    InstanceFailedError,
    NoCapacityError,
    NotFoundError,
    OutOfStockError,
    WaitTimeoutError,
)
from fluidstack.types import InstanceResponse, ListInstanceResponse

from ._config import API_ATLAS, AtlasNodeSpec, NodeSpec, PlatformNodeSpec, ProviderSettings
from ._naming import (
    TAG_CLUSTER_NAME,
    PlatformName,
    atlas_instance_name,
    from_atlas_tags,
    to_atlas_tags,
)

__all__ = [
    "AtlasBackend",
    "Backend",
    "LaunchError",
    "Node",
    "PlatformBackend",
    "make_atlas_client",
    "make_backend",
    "make_platform_client",
]

logger = logging.getLogger(__name__)

# Where a node is, in Ray's terms.
PENDING = "pending"
RUNNING = "running"
STOPPED = "stopped"
FAILED = "failed"
TERMINATED = "terminated"

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
_PLATFORM_PHASES = {
    "pending": PENDING,
    "provisioning": PENDING,
    "starting": PENDING,
    "running": RUNNING,
    "stopping": STOPPED,
    "stopped": STOPPED,
    "failed": FAILED,
    "terminated": TERMINATED,
}

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


def make_platform_client(settings: ProviderSettings) -> FluidStack:
    """A platform client from the provider settings; the key and URL default to
    ``FLUIDSTACK_API_KEY`` and ``FLUIDSTACK_BASE_URL``, exactly as ``FluidStack()`` reads them."""
    options: Dict[str, Any] = {
        key: getattr(settings, key) for key in ("api_key", "base_url") if getattr(settings, key)
    }
    return FluidStack(**options)


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
                f"{spec.type} in {region or 'its region'} went {_state_of(exc)}",
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
        public_key = _public_key(config)
        if public_key:
            for node_type in config.get("available_node_types", {}).values():
                node_config = node_type.setdefault("node_config", {})
                node_config.setdefault("user_data", cloud_config_with_key(public_key))


class PlatformBackend(Backend):
    """The platform API: the cluster is the instances whose name says so."""

    api = "platform"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self._client: Optional[FluidStack] = None

    @property
    def client(self) -> FluidStack:
        with self._client_lock:
            if self._client is None:
                self._client = make_platform_client(self.settings)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _node(self, instance: Union[InstanceResponse, ListInstanceResponse]) -> Optional[Node]:
        parsed = PlatformName.parse(instance.name)
        if parsed is None or parsed.cluster != self.settings.cluster_name:
            return None
        status = str(instance.status)
        region = instance.configuration.region if instance.configuration else None
        return Node(
            id=instance.id,
            name=instance.name or "",
            status=status,
            phase=_PLATFORM_PHASES.get(status, PENDING),
            ip=instance.ip_address,
            region=str(region) if region is not None else None,
            api_tags=parsed.tags(),
        )

    def list_nodes(self) -> List[Node]:
        nodes = []
        for instance in self.client.instances.iter(include_failed_instances=True):
            node = self._node(instance)
            if node is not None:
                nodes.append(node)
        return nodes

    def get_node(self, node_id: str, region: Optional[str]) -> Optional[Node]:
        try:
            return self._node(self.client.instances.get(node_id))
        except NotFoundError:
            return None

    def launch(
        self,
        spec: NodeSpec,
        tags: Mapping[str, str],
        uid: str,
        regions: Optional[Sequence[str]],
    ) -> Node:
        assert isinstance(spec, PlatformNodeSpec)
        client = self.client
        name = PlatformName.for_node(self.settings.cluster_name, tags, uid).render()
        ssh_key = spec.ssh_key or self.settings.ssh_key
        if not ssh_key:
            raise LaunchError(
                API_FAILURE, "no SSH key: set provider.ssh_key or auth.ssh_public_key"
            )
        wanted = spec.gpu_types[0] if len(spec.gpu_types) == 1 else list(spec.gpu_types)
        try:
            created = client.instances.launch(
                gpu_type=wanted,
                ssh_key=ssh_key,
                gpu_count=spec.gpu_count,
                regions=list(regions) if regions else None,
                max_price_per_hour=spec.max_price_per_hour or self.settings.max_price_per_hour,
                name=name,
                operating_system_label=spec.operating_system_label,
                request_options={"idempotency_key": f"ray-{uid}"},
            )
        except NoCapacityError as exc:
            # Nothing was created: every option answered out of stock (or none matched).
            raise LaunchError(NO_CAPACITY, f"no capacity for {_gpus(spec)}: {exc}") from exc
        except ApiError as exc:
            self._clean_up(self._named(name), "a failed launch")
            raise LaunchError(API_FAILURE, f"launching {_gpus(spec)} failed: {exc}") from exc
        try:
            running = client.instances.wait(
                created.id,
                until="running",
                timeout=self.settings.provision_timeout,
                poll_interval=self.settings.poll_interval,
            )
        except InstanceFailedError as exc:
            region = _platform_region(exc.instance)
            self._clean_up([(created.id, None)], "a failed provision")
            raise LaunchError(
                PROVISION_FAILED,
                f"{_gpus(spec)} in {region or 'its region'} went {_state_of(exc)}",
                region=region,
            ) from exc
        except WaitTimeoutError as exc:
            self._clean_up([(created.id, None)], "a provision that took too long")
            raise LaunchError(
                PROVISION_TIMEOUT,
                f"{_gpus(spec)} was not running after {self.settings.provision_timeout:g} s",
                region=_platform_region(exc.instance),
            ) from exc
        except ApiError as exc:
            self._clean_up([(created.id, None)], "a failed wait")
            raise LaunchError(API_FAILURE, f"waiting for {created.id} failed: {exc}") from exc
        node = self._node(running)
        assert node is not None
        return node

    def _named(self, name: str) -> List[Tuple[str, Optional[str]]]:
        try:
            listed = self.list_nodes()
        except ApiError as exc:
            logger.error(
                "could not look for instances named %s left by a failed launch: %s", name, exc
            )
            return []
        return [(n.id, None) for n in listed if n.name == name and n.phase != TERMINATED]

    def delete(self, node: Node) -> None:
        try:
            self.client.instances.delete(node.id)
        except NotFoundError:
            return
        except ConflictError:
            # 409: already terminated (it stays listed); the wait below confirms it.
            return

    def wait_gone(self, node: Node) -> None:
        try:
            self.client.instances.wait(
                node.id,
                until="terminated",
                timeout=self.settings.terminate_timeout,
                poll_interval=self.settings.poll_interval,
            )
        except NotFoundError:
            return

    def resources(self, spec: NodeSpec) -> Dict[str, int]:
        assert isinstance(spec, PlatformNodeSpec)
        offers = [c for c in self.client.configurations.list() if str(c.gpu_type) in spec.gpu_types]
        if not offers:
            raise ValueError(f"GPU type {_gpus(spec)} is not in the platform's catalog")
        if not any(spec.gpu_count in c.gpu_counts for c in offers):
            counts = sorted({n for c in offers for n in c.gpu_counts})
            raise ValueError(
                f"{_gpus(spec)} comes with {', '.join(map(str, counts))} GPUs, not {spec.gpu_count}"
            )
        # The catalog says nothing of CPUs or memory: give "CPU" in the YAML.
        return {"GPU": spec.gpu_count}

    def bootstrap(self, config: Dict[str, Any]) -> None:
        provider = config["provider"]
        names = {
            node_type.get("node_config", {}).get("ssh_key")
            for node_type in config.get("available_node_types", {}).values()
        }
        if self.settings.ssh_key:
            names.add(self.settings.ssh_key)
        names.discard(None)
        stored = {key.name: key for key in self.client.ssh_keys.list()}
        missing = sorted(str(n) for n in names if n not in stored)
        if missing:
            raise ValueError(
                f"SSH key {missing[0]!r} is not in the account (its keys: "
                f"{', '.join(sorted(stored)) or 'none'})"
            )
        if self.settings.ssh_key:
            return
        every_type_has_one = all(
            node_type.get("node_config", {}).get("ssh_key")
            for node_type in config.get("available_node_types", {}).values()
        )
        if every_type_has_one:
            return
        public_key = _public_key(config)
        if not public_key:
            raise ValueError(
                "platform instances need an SSH key: set provider.ssh_key to a key of the "
                "account, or auth.ssh_public_key to a public key file to register"
            )
        name = f"ray-{self.settings.cluster_name}"
        existing = stored.get(name)
        if existing is None:
            self.client.ssh_keys.create(name=name, public_key=public_key)
        elif (existing.public_key or "").split()[:2] != public_key.split()[:2]:
            raise ValueError(
                f"the account already has another SSH key named {name!r}: set "
                "provider.ssh_key to the key to use"
            )
        provider["ssh_key"] = name


def make_backend(settings: ProviderSettings) -> Backend:
    return AtlasBackend(settings) if settings.api == API_ATLAS else PlatformBackend(settings)


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


def _public_key(config: Mapping[str, Any]) -> Optional[str]:
    path = (config.get("auth") or {}).get("ssh_public_key")
    if not path:
        return None
    return Path(str(path)).expanduser().read_text(encoding="utf-8").strip()


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


def _state_of(exc: InstanceFailedError) -> str:
    instance = exc.instance
    state = getattr(instance, "state", None) or getattr(instance, "status", None)
    return str(state) if state is not None else "failed"


def _platform_region(instance: Any) -> Optional[str]:
    configuration = getattr(instance, "configuration", None)
    region = getattr(configuration, "region", None)
    return str(region) if region is not None else None


def _gpus(spec: PlatformNodeSpec) -> str:
    return f"{spec.gpu_count} x {' or '.join(spec.gpu_types)}"
