"""The Atlas Management API (``/api/v1alpha1/...``): regions, clusters, the
organization, members, invitations, instances across regions, and users' SSH keys.
"""

from __future__ import annotations

from fluidstack.emulator.atlas.call import (
    EMAIL,
    Call,
    Reply,
    Table,
    field_name,
    field_string,
    ok,
    parse_uuid,
)
from fluidstack.emulator.atlas.state import ROLES
from fluidstack.emulator.responses import ApiError
from fluidstack.emulator.sshkeys import validate_public_key

__all__ = ["MANAGEMENT"]


def list_regions(call: Call) -> Reply:
    return ok(
        200,
        [{"name": name, "url": f"{call.base}/regions/{name}"} for name in call.state.regions],
    )


def list_clusters(call: Call) -> Reply:
    return ok(200, call.state.list_clusters(call.org))


def list_organizations(call: Call) -> Reply:
    return ok(200, [call.org.view()])


def create_organization(call: Call) -> Reply:
    display_name = field_string(call.json(), "display_name", required=True)
    assert display_name is not None
    return ok(201, call.state.organization_from_api(display_name).view())


def list_members(call: Call) -> Reply:
    return ok(200, call.state.list_members(call.org))


def update_member(call: Call) -> Reply:
    data = call.json()
    role = data.get("role")
    if role is not None and role not in ROLES:
        raise ApiError(400, f"'role' must be one of {', '.join(ROLES)}")
    if "role" in data and role is None:
        raise ApiError(400, f"'role' must be one of {', '.join(ROLES)}")
    call.state.update_member(call.org, call.param, role)
    return 200, None


def delete_member(call: Call) -> Reply:
    call.state.delete_member(call.org, call.param)
    return 204, None


def list_invitations(call: Call) -> Reply:
    return ok(200, call.state.list_invitations(call.org))


def create_invitation(call: Call) -> Reply:
    data = call.json()
    email = field_string(data, "email", required=True, max_length=320)
    assert email is not None
    if not EMAIL.match(email):
        raise ApiError(400, "'email' must be an email address")
    role = data.get("role", "viewer")
    if role not in ROLES:
        raise ApiError(400, f"'role' must be one of {', '.join(ROLES)}")
    call.state.invite(call.org, email, str(role))
    return 201, None


def delete_invitation(call: Call) -> Reply:
    call.state.delete_invitation(call.org, call.param)
    return 204, None


def list_all_instances(call: Call) -> Reply:
    header = call.headers.get("x-project-id")
    project_id = None
    if header is not None:
        project_id = parse_uuid(header.strip())
        if project_id is None:
            return 200, b"[]"
    return 200, call.state.list_all_instances(call.org, project_id)


def get_any_instance(call: Call) -> Reply:
    return ok(200, call.state.get_any_instance(call.org, call.param))


def list_user_keys(call: Call) -> Reply:
    return ok(200, call.state.list_user_keys(call.org, call.subject))


def add_user_key(call: Call) -> Reply:
    data = call.json()
    name = field_name(data)
    if "/" in name or name != name.strip():
        raise ApiError(400, "'name' must not contain '/' or surrounding spaces")
    key = data.get("key")
    if not isinstance(key, str):
        raise ApiError(400, "'key' is required: an OpenSSH public key line")
    if len(key) > 16384:
        raise ApiError(400, "'key' is too long for a public key")
    try:
        key = validate_public_key(key)
    except ValueError as exc:
        raise ApiError(400, f"'key': {exc}") from None
    call.state.add_user_key(call.org, call.subject, name, key)
    return 200, None


def delete_user_key(call: Call) -> Reply:
    call.state.delete_user_key(call.org, call.subject, call.param)
    return 204, None


MANAGEMENT: Table = {
    ("regions",): {"GET": list_regions},
    ("clusters",): {"GET": list_clusters},
    ("organizations",): {"GET": list_organizations, "POST": create_organization},
    ("members",): {"GET": list_members},
    ("members", "{}"): {"PATCH": update_member, "DELETE": delete_member},
    ("invitations",): {"GET": list_invitations, "POST": create_invitation},
    ("invitations", "{}"): {"DELETE": delete_invitation},
    ("instances",): {"GET": list_all_instances},
    ("instances", "{}"): {"GET": get_any_instance},
    ("user", "keys"): {"GET": list_user_keys, "POST": add_user_key},
    ("user", "keys", "{}"): {"DELETE": delete_user_key},
}
