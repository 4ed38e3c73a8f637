"""Kubernetes and Slurm clusters on a region's API, as the Infrastructure API describes
them: clusters (create, list, get, delete), their node pools, a Kubernetes cluster's
kubeconfig, and the flat node-pool listings older clients read.

Every node of a pool is backed by a real instance of the project (tagged
``fluidstack.node-pool=<pool id>``): it is listed by ``GET /instances``, holds capacity
and is billed like any other, and the node is ready when its instance runs. A Slurm
cluster's login node is an instance too (with ``--ssh`` it answers SSH). The views are
in :mod:`~fluidstack.emulator.atlas.nodes`.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Tuple

from fluidstack.emulator.atlas.instances import InstancesMixin
from fluidstack.emulator.atlas.nodes import (
    CLUSTER_TAG,
    DEFAULT_VERSIONS,
    NODE_POOL_TAG,
    cluster_view,
    kubeconfig,
    legacy_pool_view,
    node_pool_view,
)
from fluidstack.emulator.atlas.organization import OrganizationMixin
from fluidstack.emulator.atlas.records import (
    DELETING_SECONDS,
    GONE,
    Cluster,
    Instance,
    NodePool,
    Organization,
    Project,
    Region,
)
from fluidstack.emulator.responses import ApiError

__all__ = ["MAX_NODES", "OrchestratorsMixin"]

MAX_NODES = 64
"""The most nodes one pool may ask for (inferred: the contract states no limit)."""
LOGIN_IMAGE = "image://ubuntu22.04"


def _noun(kind: str) -> str:
    return "Kubernetes" if kind == "kubernetes" else "Slurm"


class OrchestratorsMixin(InstancesMixin, OrganizationMixin):
    """Kubernetes and Slurm clusters and node pools of a project in a region."""

    # -- lookups ------------------------------------------------------------------------

    def _orchestrator(
        self, org: Organization, project: Project, region: Region, kind: str, cluster_id: str
    ) -> Cluster:
        cluster = self.clusters.get(cluster_id)
        if (
            cluster is None
            or cluster.org_id != org.id
            or cluster.region != region.name
            or cluster.type != kind
            or cluster.project_id not in (None, project.id)
        ):
            raise ApiError(404, f"{_noun(kind)} cluster {cluster_id[:100]!r} not found")
        return cluster

    def _seen(
        self, org: Organization, project: Project, region: Region, kind: str
    ) -> List[Cluster]:
        """The clusters of a kind a project sees: its own, and the organization's shared
        ones (seeds, the control API's without a project)."""
        return [
            c
            for c in self.clusters.values()
            if c.org_id == org.id
            and c.region == region.name
            and c.type == kind
            and c.project_id in (None, project.id)
        ]

    def _pools_of(self, cluster: Cluster, project: Optional[Project]) -> List[NodePool]:
        return [
            p
            for p in self.node_pools.values()
            if p.cluster_id == cluster.id and (project is None or p.project_id == project.id)
        ]

    def _pool_view(self, cluster: Cluster, pool: NodePool, region: Region) -> Dict[str, Any]:
        return node_pool_view(
            cluster, pool, self.instances, region.instance_type(pool.type), self.clock.now()
        )

    # -- clusters -----------------------------------------------------------------------

    def orchestrator_clusters(
        self, org: Organization, project: Project, region: Region, kind: str
    ) -> List[Dict[str, Any]]:
        with self.lock:
            return [cluster_view(c) for c in self._seen(org, project, region, kind)]

    def orchestrator_cluster(
        self, org: Organization, project: Project, region: Region, kind: str, cluster_id: str
    ) -> Dict[str, Any]:
        with self.lock:
            return cluster_view(self._orchestrator(org, project, region, kind, cluster_id))

    def create_orchestrator_cluster(
        self,
        org: Organization,
        project: Project,
        region: Region,
        kind: str,
        name: str,
        version: Optional[str],
    ) -> Dict[str, Any]:
        with self.lock:
            taken = any(c.name == name for c in self._seen(org, project, region, kind))
            if taken:
                # The contract declares 409 for Kubernetes only; Slurm's create lists 400.
                status = 409 if kind == "kubernetes" else 400
                raise ApiError(status, f"A {_noun(kind)} cluster named {name!r} already exists")
            login_type = None
            if kind == "slurm":
                login_type = next((t for t in region.offer.types if not t.gpu_count), None)
                if login_type is None:
                    raise ApiError(400, f"{region.name} has no CPU type for a login node")
            now = self.clock.now()
            cluster = Cluster(
                id=self._uuid("cluster"),
                org_id=org.id,
                region=region.name,
                type=kind,
                name=name,
                project_id=project.id,
                health="healthy",
                updated_at=now,
                version=version or DEFAULT_VERSIONS[kind],
                token=secrets.token_urlsafe(32) if kind == "kubernetes" else "",
            )
            login: Optional[Instance] = None
            if login_type is not None:
                login = self._launch(
                    org,
                    project,
                    region,
                    name=f"{name}-login-01",
                    type_name=login_type.name,
                    image=LOGIN_IMAGE,
                    preemptible=False,
                    ephemeral=False,
                    user_data=None,
                    filesystems=[],
                    # Its address is drawn as an instance's: a documentation one without
                    # --ssh (127.0.0.1 sent `atlas slurm ssh` to the user's own port 22).
                    tags={CLUSTER_TAG: cluster.id, "fluidstack.role": "login"},
                )
                cluster.login_nodes = [
                    {"name": "login-01", "instance_id": login.id, "ip": login.ip}
                ]
            self.clusters[cluster.id] = cluster
            self._touch("cluster", cluster.id, asdict(cluster))
            self._commit()
            if login is not None and self.ssh is not None:
                self.ssh.atlas_created(login.id, login.ip)
            return cluster_view(cluster)

    def delete_orchestrator_cluster(
        self, org: Organization, project: Project, region: Region, kind: str, cluster_id: str
    ) -> None:
        with self.lock:
            cluster = self._orchestrator(org, project, region, kind, cluster_id)
            pools = len(self._pools_of(cluster, None)) + len(cluster.node_pools)
            if pools:
                # Inferred: the contract lists no 409 here, and deleting the pools'
                # instances unasked would be the costlier surprise.
                raise ApiError(
                    409,
                    f"{_noun(kind)} cluster {cluster.id} still has {pools} node pool(s): "
                    "delete them first",
                )
            gone = [n["instance_id"] for n in cluster.login_nodes]
            self._retire(gone)
            del self.clusters[cluster.id]
            self._touch("cluster", cluster.id, None)
            self._commit()
            self._forget_machines(gone)

    def cluster_credentials(
        self, org: Organization, project: Project, region: Region, cluster_id: str
    ) -> Dict[str, Any]:
        """The kubeconfig of a Kubernetes cluster, as data (routes render the YAML)."""
        with self.lock:
            cluster = self._orchestrator(org, project, region, "kubernetes", cluster_id)
            if not cluster.token:  # seeded before tokens existed: give it one now
                cluster.token = secrets.token_urlsafe(32)
                self._touch("cluster", cluster.id, asdict(cluster))
                self._commit()
            return kubeconfig(cluster)

    # -- node pools ---------------------------------------------------------------------

    def node_pools_of(
        self, org: Organization, project: Project, region: Region, kind: str, cluster_id: str
    ) -> List[Dict[str, Any]]:
        with self.lock:
            cluster = self._orchestrator(org, project, region, kind, cluster_id)
            views = [legacy_pool_view(cluster, p) for p in cluster.node_pools]
            views.extend(
                self._pool_view(cluster, p, region) for p in self._pools_of(cluster, project)
            )
            return views

    def _pool(
        self,
        org: Organization,
        project: Project,
        region: Region,
        kind: str,
        cluster_id: str,
        pool_id: str,
    ) -> Tuple[Cluster, Optional[NodePool], Optional[Dict[str, str]]]:
        cluster = self._orchestrator(org, project, region, kind, cluster_id)
        pool = self.node_pools.get(pool_id)
        if pool is not None and pool.cluster_id == cluster.id and pool.project_id == project.id:
            return cluster, pool, None
        legacy = next((p for p in cluster.node_pools if p["id"] == pool_id), None)
        if legacy is None:
            raise ApiError(404, f"Node pool {pool_id[:100]!r} not found")
        return cluster, None, legacy

    def node_pool(
        self,
        org: Organization,
        project: Project,
        region: Region,
        kind: str,
        cluster_id: str,
        pool_id: str,
    ) -> Dict[str, Any]:
        with self.lock:
            cluster, pool, legacy = self._pool(org, project, region, kind, cluster_id, pool_id)
            if pool is not None:
                return self._pool_view(cluster, pool, region)
            assert legacy is not None
            return legacy_pool_view(cluster, legacy)

    def create_node_pool(
        self,
        org: Organization,
        project: Project,
        region: Region,
        kind: str,
        cluster_id: str,
        *,
        name: str,
        type_name: str,
        count: int,
        version: Optional[str],
    ) -> Dict[str, Any]:
        with self.lock:
            cluster = self._orchestrator(org, project, region, kind, cluster_id)
            if region.instance_type(type_name) is None:
                names = ", ".join(t.name for t in region.offer.types)
                raise ApiError(
                    400,
                    f"Unknown instance type {type_name[:100]!r} in {region.name}; "
                    f"available: {names}",
                )
            names_taken = {p.name for p in self._pools_of(cluster, None)}
            names_taken.update(p["name"] for p in cluster.node_pools)
            if name in names_taken:
                raise ApiError(
                    409, f"Cluster {cluster.name!r} already has a node pool named {name!r}"
                )
            now = self.clock.now()
            pool = NodePool(
                id=self._uuid("node-pool"),
                org_id=org.id,
                project_id=project.id,
                region=region.name,
                cluster_id=cluster.id,
                kind=kind,
                name=name,
                type=type_name,
                count=count,
                version=(version or cluster.version or DEFAULT_VERSIONS[kind]),
                nodes=[],
                created_at=now,
            )
            launched: List[Instance] = []
            for number in range(1, count + 1):
                node_name = f"{cluster.name}-{name}-{number}"
                instance = self._launch(
                    org,
                    project,
                    region,
                    name=node_name,
                    type_name=type_name,
                    image="image://ubuntu22.04",
                    preemptible=False,
                    ephemeral=False,
                    user_data=None,
                    filesystems=[],
                    tags={NODE_POOL_TAG: pool.id, CLUSTER_TAG: cluster.id},
                )
                launched.append(instance)
                pool.nodes.append({"name": node_name, "instance_id": instance.id})
            self.node_pools[pool.id] = pool
            self._touch("nodepool", pool.id, asdict(pool))
            self._commit()
            if self.ssh is not None:
                for instance in launched:
                    self.ssh.atlas_created(instance.id, instance.ip)
            return self._pool_view(cluster, pool, region)

    def delete_node_pool(
        self,
        org: Organization,
        project: Project,
        region: Region,
        kind: str,
        cluster_id: str,
        pool_id: str,
    ) -> None:
        """Delete a pool and, with it, the instances of its nodes."""
        with self.lock:
            cluster, pool, legacy = self._pool(org, project, region, kind, cluster_id, pool_id)
            if pool is None:
                cluster.node_pools = [p for p in cluster.node_pools if p is not legacy]
                self._touch("cluster", cluster.id, asdict(cluster))
                self._commit()
                return
            gone = [n["instance_id"] for n in pool.nodes]
            self._retire(gone)
            del self.node_pools[pool.id]
            self._touch("nodepool", pool.id, None)
            self._commit()
            self._forget_machines(gone)

    def flat_node_pools(
        self, org: Organization, project: Project, region: Region, kind: str
    ) -> List[Dict[str, Any]]:
        """The old ``GET /kubernetes/node-pools`` (``/slurm/node-pools``): every pool of
        every cluster of the kind the project sees, 404 when it sees none."""
        with self.lock:
            clusters = self._seen(org, project, region, kind)
            if not clusters:
                raise ApiError(404, f"No {kind} cluster in this project and region")
            views: List[Dict[str, Any]] = []
            for cluster in clusters:
                views.extend(dict(p) for p in cluster.node_pools)
                views.extend(
                    self._pool_view(cluster, p, region) for p in self._pools_of(cluster, project)
                )
            return views

    def remove_cluster(self, cluster_id: str) -> None:
        """The control API's removal: the cluster goes with its node pools, and the
        instances behind its nodes and login nodes start deleting."""
        with self.lock:
            cluster = self.clusters.get(cluster_id)
            gone: List[str] = []
            if cluster is not None:
                gone = [n["instance_id"] for n in cluster.login_nodes]
                for pool in self._pools_of(cluster, None):
                    gone.extend(n["instance_id"] for n in pool.nodes)
                    del self.node_pools[pool.id]
                    self._touch("nodepool", pool.id, None)
                self._retire(gone)
            super().remove_cluster(cluster_id)  # 404 when there is none; commits
        self._forget_machines(gone)

    # -- the instances behind nodes -----------------------------------------------------

    def _retire(self, instance_ids: List[str]) -> None:
        """Start deleting these instances (those not already going)."""
        now = self.clock.now()
        for instance_id in instance_ids:
            instance = self.instances.get(instance_id)
            if instance is None or instance.state_at(now) in ("deleting", GONE):
                continue
            instance.plan(now, [("deleting", 0.0), (GONE, DELETING_SECONDS)])
            self._replanned(instance, now)

    def _forget_machines(self, instance_ids: List[str]) -> None:
        if self.ssh is not None:  # their boot disks are lost at once
            for instance_id in instance_ids:
                self.ssh.deleted("atlas", instance_id)
