"""One function per platform instance operation: validated input in, the HTTP answer
out. The FastAPI routes (:mod:`~fluidstack.emulator.platform.routes`) and the fast path
(:mod:`~fluidstack.emulator.platform.fast`) both call these, so that a change to what
an instance operation answers is made here, once, and both stay byte-for-byte equal
(``tests/emulator/platform/test_emulator_fast_routes.py``).

What differs between the two callers is only how the input is read and validated:
FastAPI's parameter machinery, or the fast path's parser for the common well-formed
requests (anything else goes on to FastAPI).
"""

from __future__ import annotations

import json
from typing import Optional

from pydantic import BaseModel
from starlette.responses import Response

from fluidstack.emulator.platform.models import CreateInstanceRequest
from fluidstack.emulator.platform.records import Account, Stored
from fluidstack.emulator.platform.state import PlatformState
from fluidstack.emulator.responses import json_response

__all__ = [
    "create_instance",
    "delete_instance",
    "fingerprint",
    "get_instance",
    "list_instances",
    "rename_instance",
    "start_instance",
    "stop_instance",
    "stored_response",
]


def fingerprint(method: str, path: str, model: BaseModel) -> str:
    """What identifies a request for its ``Idempotency-Key``: the same key with a
    different fingerprint is refused (409)."""
    return f"{method} {path} " + json.dumps(model.model_dump(mode="json"), sort_keys=True)


def stored_response(result: Stored) -> Response:
    """The answer of an operation that may be replayed for an ``Idempotency-Key``."""
    if result.status == 204:
        return Response(status_code=204)
    return json_response(result.status, result.body)


def list_instances(
    state: PlatformState, account: Account, page: int, include_failed: bool
) -> Response:
    """``GET /instances``: one page, oldest first."""
    body = state.list_instances_json(account, page, include_failed)
    return Response(body, 200, media_type="application/json")


def create_instance(
    state: PlatformState,
    account: Account,
    body: CreateInstanceRequest,
    idempotency_key: Optional[str],
) -> Response:
    """``POST /instances`` (202; the first answer again for a repeated key)."""
    result = state.create_instance(
        account,
        name=body.name,
        gpu_type=body.gpu_type.value,
        gpu_count=body.gpu_count,
        ssh_key=body.ssh_key,
        operating_system_label=body.operating_system_label,
        region=body.region.value if body.region is not None else None,
        volumes=[v.model_dump(mode="json") for v in body.volumes],
        idempotency_key=idempotency_key,
        # Only a keyed create is ever compared with an earlier one.
        fingerprint=(
            fingerprint("POST", "/instances", body) if idempotency_key is not None else ""
        ),
    )
    return stored_response(result)


def get_instance(state: PlatformState, account: Account, instance_id: str) -> Response:
    """``GET /instances/{id}``: 202 while it is still being made, else 200."""
    status, view = state.get_instance(account, instance_id)
    return json_response(202 if status in ("pending", "provisioning") else 200, view)


def delete_instance(state: PlatformState, account: Account, instance_id: str) -> Response:
    return json_response(200, state.delete_instance(account, instance_id))


def stop_instance(state: PlatformState, account: Account, instance_id: str) -> Response:
    return json_response(200, state.stop_instance(account, instance_id))


def start_instance(state: PlatformState, account: Account, instance_id: str) -> Response:
    return json_response(200, state.start_instance(account, instance_id))


def rename_instance(
    state: PlatformState, account: Account, instance_id: str, name: str
) -> Response:
    return json_response(200, state.rename_instance(account, instance_id, name))
