"""Atlas instances: the regional API (list, get, create, stop, start, delete), the
Management API's cross-region view, and what the control API does to them (preempt,
fail).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from fluidstack.emulator.atlas.records import (
    CREATING_SECONDS,
    DELETING_SECONDS,
    GONE,
    STARTING_SECONDS,
    STOPPING_SECONDS,
    Instance,
    Organization,
    Project,
    Region,
)
from fluidstack.emulator.atlas.regions import RegionsMixin
from fluidstack.emulator.encoding import dumps
from fluidstack.emulator.journaled import draw_int, uuid4_text
from fluidstack.emulator.responses import ApiError

__all__ = ["InstancesMixin"]

_STARTED = CREATING_SECONDS + STARTING_SECONDS
"""Seconds from a create to the end of ``starting`` (the one sum the steps made)."""


class InstancesMixin(RegionsMixin):
    """Instances, regional and management."""

    def list_instances_json(self, org: Organization, project: Project, region: Region) -> bytes:
        """Regional ``GET /instances`` as JSON, in creation order.

        Each instance's encoding is cached with the state it was made in: its view
        changes only with its state (everything else is fixed at create).
        """
        with self.lock:
            now = self.clock.now()
            encoded = self._encoded
            entries: List[bytes] = []
            for instance_id in self.scoped_instances.get((org.id, project.id, region.name), ()):
                instance = self.instances[instance_id]
                state = instance.state_at(now)
                if state == GONE:
                    continue
                cached = encoded.get(instance_id)
                if cached is None or cached[0] != state:
                    cached = (state, instance.view_json(state))
                    encoded[instance_id] = cached
                entries.append(cached[1])
            return b"[" + b",".join(entries) + b"]"

    def _scoped_instance(
        self, org: Organization, project: Project, region: Region, instance_id: str
    ) -> Instance:
        instance = self.instances.get(instance_id)
        if (
            instance is None
            or instance.org_id != org.id
            or instance.project_id != project.id
            or instance.region != region.name
            or instance.state_at(self.clock.now()) == GONE
        ):
            raise ApiError(404, f"Instance {instance_id[:100]!r} not found")
        return instance

    def get_instance(
        self, org: Organization, project: Project, region: Region, instance_id: str
    ) -> Dict[str, Any]:
        with self.lock:
            instance = self._scoped_instance(org, project, region, instance_id)
            return instance.view(instance.state_at(self.clock.now()))

    def create_instance(
        self,
        org: Organization,
        project: Project,
        region: Region,
        *,
        name: str,
        type_name: str,
        image: str,
        preemptible: bool,
        ephemeral: bool,
        user_data: Optional[str],
        filesystems: List[str],
        tags: Dict[str, str],
    ) -> bytes:
        """Regional ``POST /instances``: the new instance's answer, as JSON."""
        with self.lock:
            if region.instance_type(type_name) is None:
                names = ", ".join(t.name for t in region.offer.types)
                raise ApiError(
                    400,
                    f"Unknown instance type {type_name[:100]!r} in {region.name}; "
                    f"available: {names}",
                )
            for filesystem_id in filesystems:
                filesystem = self.filesystems.get(filesystem_id)
                if (
                    filesystem is None
                    or filesystem.org_id != org.id
                    or filesystem.project_id != project.id
                    or filesystem.region != region.name
                ):
                    raise ApiError(
                        400,
                        f"Filesystem {filesystem_id} is not a filesystem of this project "
                        f"in {region.name}",
                    )
            instance = self._launch(
                org,
                project,
                region,
                name=name,
                type_name=type_name,
                image=image,
                preemptible=preemptible,
                ephemeral=ephemeral,
                user_data=user_data,
                filesystems=filesystems,
                tags=tags,
            )
            self._commit()
            if self.ssh is not None:
                self.ssh.atlas_created(instance.id, instance.ip)
            return instance.view_json("creating")

    def _launch(
        self,
        org: Organization,
        project: Project,
        region: Region,
        *,
        name: str,
        type_name: str,
        image: str,
        preemptible: bool,
        ephemeral: bool,
        user_data: Optional[str],
        filesystems: List[str],
        tags: Dict[str, str],
        ip: Optional[str] = None,
    ) -> Instance:
        """Make and index a checked instance (the caller commits, then tells the sshd);
        also how node pools and Slurm login nodes get theirs. ``ip``: a fixed address
        (a login node's loopback one) instead of a drawn one."""
        with self.lock:
            now = self.clock.now()
            rng = self._random("instance")
            instance_id = uuid4_text(rng.getrandbits(128))
            # RFC 5737 documentation ranges, as the platform side: a private-range address
            # may be someone's real network. (Three draws, as before: seeded runs keep ids.)
            net = ("192.0.2", "198.51.100", "203.0.113")[draw_int(rng, 0, 255) % 3]
            draw_int(rng, 0, 255)  # the draw the old 10.x address took: seeded runs keep ids
            drawn = f"{net}.{draw_int(rng, 2, 254)}"
            if self.ssh is not None:  # an address of its own, where its sshd listens
                drawn = self.ssh.atlas_address()
            in_stock = self._available(region, type_name, now) > 0
            # What plan(now, steps) makes of no segments: (state, now + seconds) each.
            if not in_stock:
                segments = [("creating", now + 0.0), ("out-of-stock", now + CREATING_SECONDS)]
            else:
                end = "error" if self._take_failure(region.name, type_name) else "running"
                segments = [
                    ("creating", now + 0.0),
                    ("starting", now + CREATING_SECONDS),
                    (end, now + _STARTED),
                ]
            instance = Instance(
                id=instance_id,
                seq=self.seq,
                org_id=org.id,
                project_id=project.id,
                region=region.name,
                name=name,
                type=type_name,
                image=image,
                preemptible=preemptible,
                ephemeral=ephemeral,
                user_data=user_data,
                filesystems=list(filesystems),
                tags=dict(tags),
                ip=drawn if ip is None or self.ssh is not None else ip,
                created_at=now,
                segments=segments,
                reserved=in_stock,
            )
            self._index(instance)
            self._replanned(instance, now)
            return instance

    def stop_instance(
        self, org: Organization, project: Project, region: Region, instance_id: str
    ) -> None:
        with self.lock:
            instance = self._scoped_instance(org, project, region, instance_id)
            now = self.clock.now()
            state = instance.state_at(now)
            if state != "running":
                raise ApiError(
                    409, f"Instance {instance.id} is {state}; only a running instance can stop"
                )
            instance.plan(now, [("stopping", 0.0), ("stopped", STOPPING_SECONDS)])
            self._replanned(instance, now)
            self._commit()

    def start_instance(
        self, org: Organization, project: Project, region: Region, instance_id: str
    ) -> None:
        with self.lock:
            instance = self._scoped_instance(org, project, region, instance_id)
            now = self.clock.now()
            state = instance.state_at(now)
            if state not in ("stopped", "out-of-stock"):
                raise ApiError(
                    409,
                    f"Instance {instance.id} is {state}; only a stopped or out-of-stock "
                    "instance can start",
                )
            in_stock = self._available(region, instance.type, now) > 0
            end = "running" if in_stock else "out-of-stock"
            instance.reserved = in_stock
            instance.plan(now, [("starting", 0.0), (end, STARTING_SECONDS)])
            self._replanned(instance, now)
            self._commit()

    def delete_instance(
        self, org: Organization, project: Project, region: Region, instance_id: str
    ) -> None:
        with self.lock:
            instance = self._scoped_instance(org, project, region, instance_id)
            now = self.clock.now()
            if instance.state_at(now) == "deleting":
                return
            instance.plan(now, [("deleting", 0.0), (GONE, DELETING_SECONDS)])
            self._replanned(instance, now)
            self._commit()
            if self.ssh is not None:  # its boot disk is lost at once
                self.ssh.deleted("atlas", instance.id)

    def _any_instance(self, instance_id: str) -> Instance:
        instance = self.instances.get(instance_id)
        if instance is None or instance.state_at(self.clock.now()) == GONE:
            raise ApiError(404, f"Instance {instance_id[:100]!r} not found")
        return instance

    def preempt(self, instance_id: str) -> Dict[str, Any]:
        with self.lock:
            instance = self._any_instance(instance_id)
            now = self.clock.now()
            state = instance.state_at(now)
            if not instance.preemptible:
                raise ApiError(409, f"Instance {instance.id} is not preemptible")
            if state != "running":
                raise ApiError(409, f"Instance {instance.id} is {state}; only a running one")
            instance.plan(now, [("stopping", 0.0), ("stopped", STOPPING_SECONDS)])
            self._replanned(instance, now)
            self._commit()
            return instance.view("stopping")

    def fail(self, instance_id: str) -> Dict[str, Any]:
        with self.lock:
            instance = self._any_instance(instance_id)
            now = self.clock.now()
            instance.plan(now, [("error", 0.0)])
            self._replanned(instance, now)
            self._commit()
            return instance.view("error")

    def list_all_instances(self, org: Organization, project_id: Optional[str]) -> bytes:
        """Management ``GET /instances``: every region, optionally one project."""
        with self.lock:
            now = self.clock.now()
            views = []
            for instance_id in self.org_instances.get(org.id, []):
                instance = self.instances[instance_id]
                if project_id is not None and instance.project_id != project_id:
                    continue
                state = instance.state_at(now)
                if state == GONE:
                    continue
                views.append(instance.management_view(state, instance.segment_start(now)))
            return dumps(views)

    def get_any_instance(self, org: Organization, instance_id: str) -> Dict[str, Any]:
        with self.lock:
            instance = self.instances.get(instance_id)
            now = self.clock.now()
            if instance is None or instance.org_id != org.id or instance.state_at(now) == GONE:
                raise ApiError(404, f"Instance {instance_id[:100]!r} not found")
            state = instance.state_at(now)
            return instance.management_view(state, instance.segment_start(now))
