"""The platform API's endpoints: what each one is, and the request bodies they take.

One table for the whole API, as ``fluidstack.atlas.endpoints`` is for Atlas. The
resource classes users call (``client.instances`` and friends, in ``_async`` and its
generated ``_sync`` twin) are thin: each method is a typed signature, a docstring and one
call into the shared pipeline with an endpoint declared here. The account and SSH-key
rows are declared in :mod:`fluidstack.platform.account_endpoints` and imported from here
on first use, so that a call on instances does not build them.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Union

from .._lazy import lazy_attributes
from ..core.endpoint import Endpoint
from .types.enums import GPUType, Region, SupportedOperatingSystem
from .types.instances import (
    ConfigurationResponse,
    CreateInstanceResponse,
    InstanceResponse,
    ListInstanceResponse,
    OperatingSystemResponse,
    VolumeInstanceRequest,
)

if TYPE_CHECKING:
    from .account_endpoints import AUTH_CALLBACK as AUTH_CALLBACK
    from .account_endpoints import AUTH_SESSION as AUTH_SESSION
    from .account_endpoints import AUTH_URL as AUTH_URL
    from .account_endpoints import AUTH_USER as AUTH_USER
    from .account_endpoints import CREATE_API_KEY as CREATE_API_KEY
    from .account_endpoints import CREATE_PAYMENT_INTENT as CREATE_PAYMENT_INTENT
    from .account_endpoints import DELETE_API_KEY as DELETE_API_KEY
    from .account_endpoints import GET_BALANCE as GET_BALANCE
    from .account_endpoints import HEALTHCHECK as HEALTHCHECK
    from .account_endpoints import LIST_API_KEYS as LIST_API_KEYS
    from .account_endpoints import SSH_KEY_CREATE as SSH_KEY_CREATE
    from .account_endpoints import SSH_KEY_DELETE as SSH_KEY_DELETE
    from .account_endpoints import SSH_KEYS as SSH_KEYS
    from .account_endpoints import UPDATE_COMPANY_DETAILS as UPDATE_COMPANY_DETAILS
    from .account_endpoints import find_stored as find_stored

# -- The account (user details, balance, API keys, the browser login flow, payments,
# health) and SSH keys: in fluidstack.platform.account_endpoints, loaded on first use with
# the account models they parse into; a listing of instances needs neither (issue 24,
# sixth round). Every name still imports from here.

_ACCOUNT_NAMES = (
    "HEALTHCHECK",
    "UPDATE_COMPANY_DETAILS",
    "GET_BALANCE",
    "LIST_API_KEYS",
    "CREATE_API_KEY",
    "DELETE_API_KEY",
    "AUTH_URL",
    "AUTH_CALLBACK",
    "AUTH_SESSION",
    "AUTH_USER",
    "CREATE_PAYMENT_INTENT",
    "SSH_KEYS",
    "SSH_KEY_CREATE",
    "SSH_KEY_DELETE",
    "find_stored",
)
__getattr__, __dir__ = lazy_attributes(
    __name__, dict.fromkeys(_ACCOUNT_NAMES, ".account_endpoints")
)

# -- The catalog: configurations (GPU offers) and operating-system templates.

CONFIGURATIONS: Endpoint[List[ConfigurationResponse]] = Endpoint(
    "configurations.list", "GET", "/list_available_configurations", List[ConfigurationResponse]
)
TEMPLATES: Endpoint[List[OperatingSystemResponse]] = Endpoint(
    "templates.list", "GET", "/list_available_os_templates", List[OperatingSystemResponse]
)

# -- Instances.

INSTANCES: Endpoint[List[ListInstanceResponse]] = Endpoint(
    "instances.list", "GET", "/instances", List[ListInstanceResponse]
)
# Creating an instance is billed: never repeat it blindly (see `recover` in the pipeline).
INSTANCE_CREATE: Endpoint[CreateInstanceResponse] = Endpoint(
    "instances.create", "POST", "/instances", CreateInstanceResponse, idempotent=False
)
INSTANCE: Endpoint[InstanceResponse] = Endpoint(
    "instances.get", "GET", "/instances/{instance_id}", InstanceResponse
)
# Answers 200 with JSON (newest spec) or 204 with no body (docs): the body is not used.
INSTANCE_DELETE: Endpoint[None] = Endpoint(
    "instances.delete", "DELETE", "/instances/{instance_id}", None
)
INSTANCE_STOP: Endpoint[ListInstanceResponse] = Endpoint(
    "instances.stop", "PUT", "/instances/{instance_id}/stop", ListInstanceResponse
)
INSTANCE_START: Endpoint[ListInstanceResponse] = Endpoint(
    "instances.start", "PUT", "/instances/{instance_id}/start", ListInstanceResponse
)
INSTANCE_RENAME: Endpoint[ListInstanceResponse] = Endpoint(
    "instances.rename", "PUT", "/instances/{instance_id}/rename", ListInstanceResponse
)

GENERATED_NAME_PREFIX = "fs-"


def generated_name() -> str:
    """A unique instance name, used as the create's client token when none is given."""
    return GENERATED_NAME_PREFIX + secrets.token_hex(6)


def create_body(
    *,
    gpu_type: Union[GPUType, str],
    ssh_key: str,
    name: str,
    gpu_count: Optional[int],
    operating_system_label: Union[SupportedOperatingSystem, str, None],
    region: Union[Region, str, None],
    volumes: Optional[Sequence[Union[VolumeInstanceRequest, Mapping[str, Any]]]],
) -> Dict[str, Any]:
    """The JSON body of ``POST /instances``; unset optional fields are left out."""
    if not str(gpu_type):
        raise ValueError("gpu_type must be a non-empty string")
    if not ssh_key:
        raise ValueError("ssh_key must be the name of an SSH key in your account")
    if gpu_count is not None and (isinstance(gpu_count, bool) or gpu_count < 1):
        raise ValueError("gpu_count must be a positive integer")
    # The API's names are upper case; people type them in any case.
    body: Dict[str, Any] = {
        "gpu_type": str(GPUType.canonical(gpu_type)),
        "ssh_key": ssh_key,
        "name": name,
    }
    if gpu_count is not None:
        body["gpu_count"] = gpu_count
    if operating_system_label is not None:
        body["operating_system_label"] = str(operating_system_label)
    if region is not None:
        body["region"] = str(Region.canonical(region))
    if volumes is not None:
        body["volumes"] = [
            v.model_dump(mode="json", exclude_unset=True)
            if isinstance(v, VolumeInstanceRequest)
            else dict(v)
            for v in volumes
        ]
    return body


def find_created(
    instances: Sequence[ListInstanceResponse], name: str
) -> Optional[ListInstanceResponse]:
    """The instance a create with this ``name`` made, if the listing shows it.

    With a generated name there is at most one. With a name the caller chose and reused,
    the newest instance of that name is taken.
    """
    matches = [i for i in instances if i.name == name]
    if not matches:
        return None
    return max(matches, key=lambda i: (i.created_at is not None, i.created_at or 0, i.id))


def find_all_created(
    instances: Sequence[ListInstanceResponse], name: str
) -> List[ListInstanceResponse]:
    """Every instance a create with this ``name`` made, the newest first."""
    matches = [i for i in instances if i.name == name]
    matches.sort(key=lambda i: (i.created_at is not None, i.created_at or 0, i.id), reverse=True)
    return matches


def as_create_response(
    instance: InstanceResponse, gpu_type: Union[GPUType, str]
) -> CreateInstanceResponse:
    """The response a create would have given, rebuilt from the instance it made."""
    gpu = gpu_type
    if instance.configuration is not None and instance.configuration.gpu_model is not None:
        gpu = instance.configuration.gpu_model.name
    return CreateInstanceResponse(
        id=instance.id,
        name=instance.name or "",
        gpu_type=GPUType(str(gpu)),
        operating_system_label=instance.operating_system_label,
    )
