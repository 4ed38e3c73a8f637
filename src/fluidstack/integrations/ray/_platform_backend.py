"""The platform API's backend of the Ray provider: the cluster is the instances whose
name says so (see :mod:`fluidstack.integrations.ray._backend` for what a backend does)."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from fluidstack.core.errors import (
    ApiError,
    ConflictError,
    InstanceFailedError,
    NoCapacityError,
    NotFoundError,
    WaitTimeoutError,
)
from fluidstack.platform.client import FluidStack
from fluidstack.platform.types import InstanceResponse, ListInstanceResponse

from ._backend import (
    API_FAILURE,
    FAILED,
    NO_CAPACITY,
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
from ._config import NodeSpec, PlatformNodeSpec, ProviderSettings
from ._naming import PlatformName

__all__ = ["PlatformBackend", "make_platform_client"]

logger = logging.getLogger(__name__)

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


def make_platform_client(settings: ProviderSettings) -> FluidStack:
    """A platform client from the provider settings; the key and URL default to
    ``FLUIDSTACK_API_KEY`` and ``FLUIDSTACK_BASE_URL``, exactly as ``FluidStack()`` reads them."""
    options: Dict[str, Any] = {
        key: getattr(settings, key) for key in ("api_key", "base_url") if getattr(settings, key)
    }
    return FluidStack(**options)


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
                f"{_gpus(spec)} in {region or 'its region'} went {state_of(exc)}",
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
        public_key = read_public_key(config)
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


def _platform_region(instance: Any) -> Optional[str]:
    configuration = getattr(instance, "configuration", None)
    region = getattr(configuration, "region", None)
    return str(region) if region is not None else None


def _gpus(spec: PlatformNodeSpec) -> str:
    return f"{spec.gpu_count} x {' or '.join(spec.gpu_types)}"
