"""A region's Atlas API (``/regions/<name>/api/v1alpha1/...``): capabilities,
capacity, instance types, projects, instances, filesystems, and the Kubernetes and
Slurm routes of :mod:`~fluidstack.emulator.atlas.regional_orchestrators`.
"""

from __future__ import annotations

import base64
import binascii
from typing import List

from fluidstack.emulator.atlas.call import (
    SIZE,
    Call,
    Reply,
    Table,
    field_boolean,
    field_name,
    field_string,
    field_tags,
    ok,
    parse_uuid,
)
from fluidstack.emulator.atlas.regional_orchestrators import ORCHESTRATOR_ROUTES
from fluidstack.emulator.responses import ApiError

__all__ = ["REGIONAL", "UUID_PARAMETERS"]


def get_capabilities(call: Call) -> Reply:
    return ok(200, list(call.where().capabilities))


def get_capacity(call: Call) -> Reply:
    call.project()
    return ok(200, call.state.capacity(call.where()))


def get_instance_types(call: Call) -> Reply:
    return ok(200, [t.view() for t in call.where().offer.types])


def list_projects(call: Call) -> Reply:
    return ok(200, call.state.list_projects(call.org))


def create_project(call: Call) -> Reply:
    data = call.json()
    name, tags = field_name(data), field_tags(data)
    return ok(201, call.state.create_project(call.org, name, tags))


def get_project(call: Call) -> Reply:
    return ok(200, call.state.get_project(call.org, call.param))


def delete_project(call: Call) -> Reply:
    call.state.delete_project(call.org, call.param)
    return 204, None


def list_instances(call: Call) -> Reply:
    return 200, call.state.list_instances_json(call.org, call.project(), call.where())


def create_instance(call: Call) -> Reply:
    project, region = call.project(), call.where()
    data = call.json()
    name = field_name(data)
    type_name = field_string(data, "type", required=True)
    assert type_name is not None
    image = field_string(data, "image", max_length=2048) or "image://ubuntu22.04"
    preemptible, ephemeral = field_boolean(data, "preemptible"), field_boolean(data, "ephemeral")
    user_data = data.get("userData")
    if user_data is not None:
        if not isinstance(user_data, str):
            raise ApiError(400, "'userData' must be a base64 string or null")
        try:
            base64.b64decode(user_data.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise ApiError(400, "'userData' is not valid base64") from None
    filesystems = data.get("filesystems", ())
    if filesystems != () and (
        not isinstance(filesystems, list) or not all(isinstance(f, str) for f in filesystems)
    ):
        raise ApiError(400, "'filesystems' must be a list of filesystem ids")
    normalised: List[str] = []
    for filesystem_id in filesystems:
        parsed = parse_uuid(filesystem_id)
        if parsed is None:
            raise ApiError(400, f"Filesystem id {filesystem_id[:80]!r} is not a uuid")
        normalised.append(parsed)
    tags = field_tags(data)
    answer = call.state.create_instance(
        call.org,
        project,
        region,
        name=name,
        type_name=type_name,
        image=image,
        preemptible=preemptible,
        ephemeral=ephemeral,
        user_data=user_data,
        filesystems=normalised,
        tags=tags,
    )
    return 201, answer


def get_instance(call: Call) -> Reply:
    return ok(200, call.state.get_instance(call.org, call.project(), call.where(), call.param))


def delete_instance(call: Call) -> Reply:
    project, region = call.project(), call.where()
    call.state.delete_instance(call.org, project, region, call.param)
    return 204, None


def start_instance(call: Call) -> Reply:
    call.state.start_instance(call.org, call.project(), call.where(), call.param)
    return 202, None


def stop_instance(call: Call) -> Reply:
    call.state.stop_instance(call.org, call.project(), call.where(), call.param)
    return 202, None


def list_filesystems(call: Call) -> Reply:
    return ok(200, call.state.list_filesystems(call.org, call.project(), call.where()))


def create_filesystem(call: Call) -> Reply:
    project, region = call.project(), call.where()
    data = call.json()
    name = field_name(data)
    size = data.get("size")
    if not isinstance(size, str) or not SIZE.match(size):
        raise ApiError(
            400,
            "'size' must be a positive size such as '512Gi' or '1Ti' "
            "(suffix Gi, Ti, G or T; a bare number means GB)",
        )
    return ok(201, call.state.create_filesystem(call.org, project, region, name, size))


def get_filesystem(call: Call) -> Reply:
    return ok(200, call.state.get_filesystem(call.org, call.project(), call.where(), call.param))


def delete_filesystem(call: Call) -> Reply:
    call.state.delete_filesystem(call.org, call.project(), call.where(), call.param)
    return 204, None


REGIONAL: Table = {
    ("capabilities",): {"GET": get_capabilities},
    ("capacity",): {"GET": get_capacity},
    ("instance-types",): {"GET": get_instance_types},
    ("projects",): {"GET": list_projects, "POST": create_project},
    ("projects", "{}"): {"GET": get_project, "DELETE": delete_project},
    ("instances",): {"GET": list_instances, "POST": create_instance},
    ("instances", "{}"): {"GET": get_instance, "DELETE": delete_instance},
    ("instances", "{}", "actions", "start"): {"POST": start_instance},
    ("instances", "{}", "actions", "stop"): {"POST": stop_instance},
    ("filesystems",): {"GET": list_filesystems, "POST": create_filesystem},
    ("filesystems", "{}"): {"GET": get_filesystem, "DELETE": delete_filesystem},
    **ORCHESTRATOR_ROUTES,
}
UUID_PARAMETERS = frozenset({"projects", "instances", "filesystems"})
"""Collections whose ``{id}`` is a uuid in the specs: anything else is a 404 at once."""
