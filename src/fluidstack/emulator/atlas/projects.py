"""Projects (Management API) and the filesystems of a project in a region.

A deleted project answers ``deleting`` for a while, then is gone; a project or a
filesystem still in use cannot be deleted (409).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Dict, List, Optional

from fluidstack.emulator.atlas.base import AtlasBase
from fluidstack.emulator.atlas.limits import check_project_count
from fluidstack.emulator.atlas.records import (
    GONE,
    Filesystem,
    Organization,
    Project,
    Region,
    parse_uuid,
)
from fluidstack.emulator.responses import ApiError

__all__ = ["ProjectsMixin"]


class ProjectsMixin(AtlasBase):
    """Projects and filesystems."""

    def project_for_header(self, org: Organization, header: Optional[str]) -> Project:
        """The project named by ``X-PROJECT-ID`` (400 missing or not a uuid, else 404)."""
        if header is None or not header.strip():
            raise ApiError(400, "The X-PROJECT-ID header is required (a project id)")
        project_id = parse_uuid(header.strip())
        if project_id is None:
            raise ApiError(400, "X-PROJECT-ID must be a uuid")
        return self._active_project(org, project_id)

    def list_projects(self, org: Organization) -> List[Dict[str, Any]]:
        with self.lock:
            now = self.clock.now()
            views = []
            for project in self.projects.values():
                state = project.state_at(now) if project.org_id == org.id else None
                if state is not None:
                    views.append(project.view(state))
            return views

    def get_project(self, org: Organization, project_id: str) -> Dict[str, Any]:
        with self.lock:
            project = self.projects.get(project_id)
            state = project.state_at(self.clock.now()) if project is not None else None
            if project is None or project.org_id != org.id or state is None:
                raise ApiError(404, f"Project {project_id[:100]!r} not found")
            return project.view(state)

    def create_project(self, org: Organization, name: str, tags: Dict[str, str]) -> Dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            held = sum(1 for p in self.projects.values() if p.org_id == org.id and p.state_at(now))
            check_project_count(held, self.settings.atlas_max_projects)
            project = Project(self._uuid("project"), org.id, name, tags, now)
            self.projects[project.id] = project
            self._touch("project", project.id, asdict(project))
            self._commit()
            return project.view("active")

    def delete_project(self, org: Organization, project_id: str) -> None:
        with self.lock:
            now = self.clock.now()
            project = self.projects.get(project_id)
            state = project.state_at(now) if project is not None else None
            if project is None or project.org_id != org.id or state is None:
                raise ApiError(404, f"Project {project_id[:100]!r} not found")
            if state == "deleting":
                return
            live = sum(
                1
                for i in self.org_instances.get(org.id, [])
                if self.instances[i].project_id == project.id
                and self.instances[i].state_at(now) != GONE
            )
            if live:
                raise ApiError(
                    409, f"Project {project.id} still has {live} instance(s): delete them first"
                )
            filesystems = sum(1 for f in self.filesystems.values() if f.project_id == project.id)
            if filesystems:
                raise ApiError(
                    409,
                    f"Project {project.id} still has {filesystems} filesystem(s): "
                    "delete them first",
                )
            clusters = sum(1 for c in self.clusters.values() if c.project_id == project.id)
            if clusters:  # inferred, as for instances and filesystems
                raise ApiError(
                    409,
                    f"Project {project.id} still has {clusters} Kubernetes or Slurm "
                    "cluster(s): delete them first",
                )
            project.deleted_at = now
            self._touch("project", project.id, asdict(project))
            self._commit()

    def list_filesystems(
        self, org: Organization, project: Project, region: Region
    ) -> List[Dict[str, Any]]:
        with self.lock:
            return [
                f.view()
                for f in self.filesystems.values()
                if f.org_id == org.id and f.project_id == project.id and f.region == region.name
            ]

    def _scoped_filesystem(
        self, org: Organization, project: Project, region: Region, filesystem_id: str
    ) -> Filesystem:
        filesystem = self.filesystems.get(filesystem_id)
        if (
            filesystem is None
            or filesystem.org_id != org.id
            or filesystem.project_id != project.id
            or filesystem.region != region.name
        ):
            raise ApiError(404, f"Filesystem {filesystem_id[:100]!r} not found")
        return filesystem

    def get_filesystem(
        self, org: Organization, project: Project, region: Region, filesystem_id: str
    ) -> Dict[str, Any]:
        with self.lock:
            return self._scoped_filesystem(org, project, region, filesystem_id).view()

    def create_filesystem(
        self, org: Organization, project: Project, region: Region, name: str, size: str
    ) -> Dict[str, Any]:
        with self.lock:
            filesystem = Filesystem(
                self._uuid("filesystem"),
                org.id,
                project.id,
                region.name,
                name,
                size,
                self.clock.now(),
            )
            self.filesystems[filesystem.id] = filesystem
            self._touch("filesystem", filesystem.id, asdict(filesystem))
            self._commit()
            return filesystem.view()

    def delete_filesystem(
        self, org: Organization, project: Project, region: Region, filesystem_id: str
    ) -> None:
        with self.lock:
            filesystem = self._scoped_filesystem(org, project, region, filesystem_id)
            now = self.clock.now()
            users = [
                i.id
                for i in (self.instances[x] for x in self.org_instances.get(org.id, []))
                if filesystem.id in i.filesystems and i.state_at(now) != GONE
            ]
            if users:
                raise ApiError(
                    409,
                    f"Filesystem {filesystem.id} is attached to instance(s) "
                    f"{', '.join(users[:5])}: delete them first",
                )
            del self.filesystems[filesystem.id]
            self._touch("filesystem", filesystem.id, None)
            self._commit()
