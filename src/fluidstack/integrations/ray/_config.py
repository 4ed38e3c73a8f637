"""The ``provider:`` section of a cluster YAML and each node type's ``node_config``, checked.

Mistakes are reported with the YAML key that holds them, when ``ray up`` bootstraps the
config (before anything is created), not at the first launch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._state import default_state_path

__all__ = [
    "API_ATLAS",
    "API_PLATFORM",
    "AtlasNodeSpec",
    "NodeSpec",
    "PlatformNodeSpec",
    "ProviderSettings",
    "parse_node_config",
    "parse_provider_config",
]

API_ATLAS = "atlas"
API_PLATFORM = "platform"
APIS = (API_ATLAS, API_PLATFORM)

DEFAULT_PROVISION_TIMEOUT = {API_ATLAS: 900.0, API_PLATFORM: 1800.0}
"""Seconds a node may take to run: Atlas instances run in about a minute, platform ones
take the offer's provisioning time (4 to 15 minutes)."""
DEFAULT_TERMINATE_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 5.0

_ATLAS_KEYS = (
    "client_id",
    "client_secret",
    "region",
    "project_id",
    "project",
    "management_url",
    "token_url",
)
_PLATFORM_KEYS = ("api_key", "base_url", "ssh_key", "max_price_per_hour")
_SECRET_KEYS = frozenset({"client_secret", "api_key"})

ATLAS_NODE_KEYS = (
    "type",
    "regions",
    "image",
    "user_data",
    "preemptible",
    "ephemeral",
    "filesystems",
    "tags",
)
PLATFORM_NODE_KEYS = (
    "gpu_type",
    "gpu_count",
    "regions",
    "operating_system_label",
    "ssh_key",
    "max_price_per_hour",
)


@dataclass(frozen=True)
class ProviderSettings:
    """The provider's settings. Credentials left out here are read from the environment
    by the SDK, exactly as ``Atlas()`` and ``FluidStack()`` read them."""

    api: str
    cluster_name: str
    state_file: Path
    provision_timeout: float
    terminate_timeout: float
    poll_interval: float
    regions: Optional[Tuple[str, ...]] = None
    # Atlas
    client_id: Optional[str] = None
    client_secret: Optional[str] = field(default=None, repr=False)
    region: Optional[str] = None
    project_id: Optional[str] = None
    project: Optional[str] = None
    management_url: Optional[str] = None
    token_url: Optional[str] = None
    # the platform API
    api_key: Optional[str] = field(default=None, repr=False)
    base_url: Optional[str] = None
    ssh_key: Optional[str] = None
    max_price_per_hour: Optional[float] = None


@dataclass(frozen=True)
class AtlasNodeSpec:
    """An Atlas node type: an instance type and how to create it."""

    type: str
    regions: Optional[Tuple[str, ...]] = None
    image: Optional[str] = None
    user_data: Optional[str] = None
    preemptible: Optional[bool] = None
    ephemeral: Optional[bool] = None
    filesystems: Tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlatformNodeSpec:
    """A platform node type: a GPU type (or several acceptable ones) and a GPU count."""

    gpu_types: Tuple[str, ...]
    gpu_count: int = 1
    regions: Optional[Tuple[str, ...]] = None
    operating_system_label: Optional[str] = None
    ssh_key: Optional[str] = None
    max_price_per_hour: Optional[float] = None


NodeSpec = Union[AtlasNodeSpec, PlatformNodeSpec]


def parse_provider_config(config: Mapping[str, Any], cluster_name: str) -> ProviderSettings:
    """Check the ``provider:`` section. Keys Ray itself puts there (``type``, ``module``,
    ``use_internal_ips``, ...) are left alone; the other API's keys are refused."""
    api = config.get("api")
    if api not in APIS:
        raise ValueError(
            f"provider.api must be 'atlas' or 'platform' (got {api!r}): which FluidStack "
            "API creates the cluster's instances"
        )
    other = _PLATFORM_KEYS if api == API_ATLAS else _ATLAS_KEYS
    wrong = [key for key in other if key in config]
    if wrong:
        raise ValueError(
            f"provider.{wrong[0]} is a setting of the other API; with api: {api} the "
            f"settings are {', '.join(_ATLAS_KEYS if api == API_ATLAS else _PLATFORM_KEYS)}"
        )
    own = _ATLAS_KEYS if api == API_ATLAS else _PLATFORM_KEYS
    values: Dict[str, Any] = {}
    for key in own:
        if key == "max_price_per_hour":
            values[key] = _number(config, key, "provider")
        else:
            values[key] = _text(config, key, "provider")
    state_file = _text(config, "state_file", "provider")
    return ProviderSettings(
        api=api,
        cluster_name=cluster_name,
        state_file=Path(state_file).expanduser()
        if state_file
        else default_state_path(api, cluster_name),
        provision_timeout=_positive(
            config, "provision_timeout", DEFAULT_PROVISION_TIMEOUT[api], "provider"
        ),
        terminate_timeout=_positive(
            config, "terminate_timeout", DEFAULT_TERMINATE_TIMEOUT, "provider"
        ),
        poll_interval=_positive(config, "poll_interval", DEFAULT_POLL_INTERVAL, "provider"),
        regions=_names(config, "regions", "provider"),
        **values,
    )


def parse_node_config(api: str, config: Mapping[str, Any], where: str = "node_config") -> NodeSpec:
    """Check one node type's ``node_config`` for ``api``."""
    allowed = ATLAS_NODE_KEYS if api == API_ATLAS else PLATFORM_NODE_KEYS
    unknown = sorted(key for key in config if key not in allowed)
    if unknown:
        raise ValueError(
            f"{where}.{unknown[0]} is not a FluidStack {api} setting; the settings are "
            f"{', '.join(allowed)}"
        )
    if api == API_ATLAS:
        kind = _text(config, "type", where)
        if not kind:
            raise ValueError(f"{where}.type is required: an Atlas instance type, e.g. cpu.8x")
        tags = config.get("tags") or {}
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise ValueError(f"{where}.tags must map strings to strings")
        reserved = sorted(k for k in tags if k.startswith("ray-") or k.startswith("fluidstack."))
        if reserved:
            raise ValueError(
                f"{where}.tags.{reserved[0]}: tags named ray-* or fluidstack.* are the provider's"
            )
        return AtlasNodeSpec(
            type=kind,
            regions=_names(config, "regions", where),
            image=_text(config, "image", where),
            user_data=_text(config, "user_data", where),
            preemptible=_flag(config, "preemptible", where),
            ephemeral=_flag(config, "ephemeral", where),
            filesystems=_names(config, "filesystems", where) or (),
            tags=dict(tags),
        )
    gpu_type = config.get("gpu_type")
    gpu_types = _names(config, "gpu_type", where)
    if not gpu_types:
        raise ValueError(
            f"{where}.gpu_type is required: a GPU type (e.g. RTX_A4000_16GB) or a list of "
            f"acceptable ones (got {gpu_type!r})"
        )
    count = config.get("gpu_count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"{where}.gpu_count must be a whole number of GPUs, 1 or more")
    return PlatformNodeSpec(
        gpu_types=gpu_types,
        gpu_count=count,
        regions=_names(config, "regions", where),
        operating_system_label=_text(config, "operating_system_label", where),
        ssh_key=_text(config, "ssh_key", where),
        max_price_per_hour=_number(config, "max_price_per_hour", where),
    )


def _text(config: Mapping[str, Any], key: str, where: str) -> Optional[str]:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}.{key} must be a non-empty string")
    return value


def _flag(config: Mapping[str, Any], key: str, where: str) -> Optional[bool]:
    value = config.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"{where}.{key} must be true or false")


def _number(config: Mapping[str, Any], key: str, where: str) -> Optional[float]:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{where}.{key} must be a positive number")
    return float(value)


def _positive(config: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = _number(config, key, where)
    return default if value is None else value


def _names(config: Mapping[str, Any], key: str, where: str) -> Optional[Tuple[str, ...]]:
    """A name or a list of names (order kept: it is an order of preference)."""
    value = config.get(key)
    if value is None:
        return None
    items: Sequence[Any] = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError(f"{where}.{key} must be a name or a non-empty list of names")
    names: List[str] = []
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValueError(f"{where}.{key} must be a name or a non-empty list of names")
        if item not in names:
            names.append(item)
    return tuple(names)


def redacted(config: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy of a provider section that can be logged: secrets replaced."""
    return {k: ("***" if k in _SECRET_KEYS and v else v) for k, v in config.items()}
