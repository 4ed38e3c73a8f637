"""The Kubernetes and Slurm routes of a region's API (``/kubernetes/...``,
``/slurm/...``), as ``infrastructure.openapi.yaml`` lists them, plus the flat
``GET /kubernetes/node-pools`` and ``GET /slurm/node-pools`` of the older contract.
:data:`ORCHESTRATOR_ROUTES` is part of :data:`~fluidstack.emulator.atlas.regional.REGIONAL`.

The kubeconfig (``GET /kubernetes/clusters/{id}/credentials``) is sent as the contract
declares it: ``application/yaml`` whose body is the *base64* of the YAML document
(``format: byte``, "Base64-encoded kubeconfig file"), with ``Content-Disposition`` and
``Cache-Control: no-store``. The SDK accepts that and plain YAML alike.
"""

from __future__ import annotations

import base64
from typing import Callable, Tuple

from fluidstack.emulator.atlas.call import (
    Call,
    Reply,
    Table,
    field_name,
    field_string,
    ok,
    parse_uuid,
)
from fluidstack.emulator.atlas.orchestrators import MAX_NODES
from fluidstack.emulator.responses import ApiError

__all__ = ["CREDENTIALS_HEADERS", "ORCHESTRATOR_ROUTES"]

CREDENTIALS_HEADERS = (
    (b"content-type", b"application/yaml"),
    (b"content-disposition", b"attachment; filename=kubeconfig"),
    (b"cache-control", b"no-store, no-cache, must-revalidate"),
    (b"pragma", b"no-cache"),
)

Handler = Callable[[Call], Reply]


def _noun(kind: str) -> str:
    return "Kubernetes" if kind == "kubernetes" else "Slurm"


def _cluster_id(call: Call, kind: str) -> str:
    """The cluster of the path (a uuid, or 404 as for any unknown cluster)."""
    cluster_id = parse_uuid(call.params[0])
    if cluster_id is None:
        raise ApiError(404, f"{_noun(kind)} cluster {call.params[0][:100]!r} not found")
    return cluster_id


def _ids(call: Call, kind: str) -> Tuple[str, str]:
    cluster_id = _cluster_id(call, kind)
    pool_id = parse_uuid(call.params[1])
    if pool_id is None:
        raise ApiError(404, f"Node pool {call.params[1][:100]!r} not found")
    return cluster_id, pool_id


def _list_clusters(kind: str) -> Handler:
    def handler(call: Call) -> Reply:
        return ok(
            200, call.state.orchestrator_clusters(call.org, call.project(), call.where(), kind)
        )

    return handler


def _create_cluster(kind: str) -> Handler:
    def handler(call: Call) -> Reply:
        project, region = call.project(), call.where()
        data = call.json()
        name = field_name(data)
        version = field_string(data, "version", max_length=64)
        view = call.state.create_orchestrator_cluster(
            call.org, project, region, kind, name, version
        )
        return ok(201, view)

    return handler


def _get_cluster(kind: str) -> Handler:
    def handler(call: Call) -> Reply:
        project, region = call.project(), call.where()
        cluster_id = _cluster_id(call, kind)
        return ok(200, call.state.orchestrator_cluster(call.org, project, region, kind, cluster_id))

    return handler


def _delete_cluster(kind: str) -> Handler:
    def handler(call: Call) -> Reply:
        project, region = call.project(), call.where()
        cluster_id = _cluster_id(call, kind)
        call.state.delete_orchestrator_cluster(call.org, project, region, kind, cluster_id)
        return 204, None

    return handler


def _list_pools(kind: str) -> Handler:
    def handler(call: Call) -> Reply:
        project, region = call.project(), call.where()
        cluster_id = _cluster_id(call, kind)
        return ok(200, call.state.node_pools_of(call.org, project, region, kind, cluster_id))

    return handler


def _create_pool(kind: str) -> Handler:
    def handler(call: Call) -> Reply:
        project, region = call.project(), call.where()
        cluster_id = _cluster_id(call, kind)
        data = call.json()
        name = field_name(data)
        type_name = field_string(data, "type", required=True)
        assert type_name is not None
        count = data.get("count")
        if isinstance(count, bool) or not isinstance(count, int):
            raise ApiError(400, "'count' is required: the number of nodes (an integer)")
        if not 0 <= count <= MAX_NODES:
            raise ApiError(400, f"'count' must be between 0 and {MAX_NODES}")
        version = field_string(data, "version", max_length=64) if kind == "kubernetes" else None
        view = call.state.create_node_pool(
            call.org,
            project,
            region,
            kind,
            cluster_id,
            name=name,
            type_name=type_name,
            count=count,
            version=version,
        )
        return ok(201, view)

    return handler


def _get_pool(kind: str) -> Handler:
    def handler(call: Call) -> Reply:
        project, region = call.project(), call.where()
        cluster_id, pool_id = _ids(call, kind)
        return ok(200, call.state.node_pool(call.org, project, region, kind, cluster_id, pool_id))

    return handler


def _delete_pool(kind: str) -> Handler:
    def handler(call: Call) -> Reply:
        project, region = call.project(), call.where()
        cluster_id, pool_id = _ids(call, kind)
        call.state.delete_node_pool(call.org, project, region, kind, cluster_id, pool_id)
        return 204, None

    return handler


def _flat_pools(kind: str) -> Handler:
    def handler(call: Call) -> Reply:
        return ok(200, call.state.flat_node_pools(call.org, call.project(), call.where(), kind))

    return handler


def get_credentials(call: Call) -> Reply:
    import yaml

    project, region = call.project(), call.where()
    cluster_id = _cluster_id(call, "kubernetes")
    config = call.state.cluster_credentials(call.org, project, region, cluster_id)
    document = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    call.response_headers.extend(CREDENTIALS_HEADERS)
    return 200, base64.b64encode(document.encode("utf-8"))


def _routes(kind: str) -> Table:
    return {
        (kind, "clusters"): {"GET": _list_clusters(kind), "POST": _create_cluster(kind)},
        (kind, "clusters", "{}"): {"GET": _get_cluster(kind), "DELETE": _delete_cluster(kind)},
        (kind, "clusters", "{}", "node-pools"): {
            "GET": _list_pools(kind),
            "POST": _create_pool(kind),
        },
        (kind, "clusters", "{}", "node-pools", "{}"): {
            "GET": _get_pool(kind),
            "DELETE": _delete_pool(kind),
        },
        # The older contract's flat listing (gone from the Infrastructure API): kept for
        # the clients built on it.
        (kind, "node-pools"): {"GET": _flat_pools(kind)},
    }


ORCHESTRATOR_ROUTES: Table = {
    **_routes("kubernetes"),
    **_routes("slurm"),
    ("kubernetes", "clusters", "{}", "credentials"): {"GET": get_credentials},
}
