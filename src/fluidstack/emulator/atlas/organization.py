"""An organization's own resources on the Management API: members, invitations,
users' SSH keys, and orchestrator clusters (and the control API's way to add them).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Dict, List, Optional

from fluidstack.emulator.atlas.base import AtlasBase
from fluidstack.emulator.atlas.records import (
    Cluster,
    Invitation,
    Member,
    Organization,
    Project,
    Region,
    UserKey,
)
from fluidstack.emulator.atlas.roles import last_admin_guard
from fluidstack.emulator.responses import ApiError

__all__ = ["OrganizationMixin"]


class OrganizationMixin(AtlasBase):
    """Members, invitations, user keys and clusters."""

    def add_cluster(
        self,
        client_id: Optional[str],
        region_name: str,
        kind: str,
        name: str,
        project_id: Optional[str],
        health: str,
        node_pools: List[Dict[str, str]],
    ) -> Dict[str, Any]:
        with self.lock:
            org = self.require_org(client_id)
            region = self.region(region_name)
            if project_id is not None:
                self._active_project(org, project_id)
            for pool in node_pools:
                if region.instance_type(pool["type"]) is None:
                    raise ApiError(
                        400, f"{pool['type']!r} is not an instance type of {region.name}"
                    )
            cluster = self._add_cluster(
                org, region.name, kind, name, project_id, health, node_pools, self.clock.now()
            )
            self._commit()
            return {**cluster.view(), "node_pools": [dict(p) for p in cluster.node_pools]}

    def remove_cluster(self, cluster_id: str) -> None:
        with self.lock:
            if self.clusters.pop(cluster_id, None) is None:
                raise ApiError(404, f"Cluster {cluster_id[:100]!r} not found")
            self._touch("cluster", cluster_id, None)
            self._commit()

    def add_member(
        self, client_id: Optional[str], name: str, email: str, role: str
    ) -> Dict[str, Any]:
        with self.lock:
            org = self.require_org(client_id)
            member = self._add_member(org, name, email, role)
            self._commit()
            return member.view()

    def list_members(self, org: Organization) -> List[Dict[str, Any]]:
        with self.lock:
            return [m.view() for m in self.members.values() if m.org_id == org.id]

    def _own_member(self, org: Organization, member_id: str) -> Member:
        member = self.members.get(member_id)
        if member is None or member.org_id != org.id:
            raise ApiError(404, f"Member {member_id[:100]!r} not found")
        return member

    def update_member(self, org: Organization, member_id: str, role: Optional[str]) -> None:
        with self.lock:
            member = self._own_member(org, member_id)
            if role is not None and role != member.role:
                if role != "admin":
                    last_admin_guard(org, member, self.members)
                member.role = role
                self._touch("member", member.id, asdict(member))
                self._commit()

    def delete_member(self, org: Organization, member_id: str) -> None:
        with self.lock:
            member = self._own_member(org, member_id)
            last_admin_guard(org, member, self.members)
            del self.members[member.id]
            self._touch("member", member.id, None)
            # A member who logs in is a user: removing it revokes its logins.
            self.logins.remove_user(member.id)
            self._commit()

    def list_invitations(self, org: Organization) -> List[Dict[str, Any]]:
        with self.lock:
            return [i.view() for i in self.invitations.values() if i.org_id == org.id]

    def invite(self, org: Organization, email: str, role: str) -> None:
        with self.lock:
            existing = next(
                (
                    i
                    for i in self.invitations.values()
                    if i.org_id == org.id and i.email.lower() == email.lower()
                ),
                None,
            )
            if existing is not None:
                existing.role = role
                self._touch("invitation", existing.id, asdict(existing))
            else:
                invitation = Invitation(
                    self._uuid("invitation"), org.id, email, role, self.clock.now()
                )
                self.invitations[invitation.id] = invitation
                self._touch("invitation", invitation.id, asdict(invitation))
            self._commit()

    def delete_invitation(self, org: Organization, invitation_id: str) -> None:
        with self.lock:
            invitation = self.invitations.get(invitation_id)
            if invitation is None or invitation.org_id != org.id:
                raise ApiError(404, f"Invitation {invitation_id[:100]!r} not found")
            del self.invitations[invitation.id]
            self._touch("invitation", invitation.id, None)
            self._commit()

    def list_user_keys(self, org: Organization, subject: str) -> List[Dict[str, Any]]:
        with self.lock:
            keys = self.user_keys.get((org.id, subject), {})
            return [{"name": k.name, "key": k.key} for k in keys.values()]

    def add_user_key(self, org: Organization, subject: str, name: str, key: str) -> None:
        with self.lock:
            keys = self.user_keys.setdefault((org.id, subject), {})
            if name in keys:
                raise ApiError(409, f"An SSH key named {name!r} already exists")
            keys[name] = UserKey(org.id, subject, name, key, self.clock.now())
            self._touch("userkey", f"{org.id} {subject} {name}", asdict(keys[name]))
            self._commit()

    def delete_user_key(self, org: Organization, subject: str, name: str) -> None:
        with self.lock:
            keys = self.user_keys.get((org.id, subject), {})
            if name not in keys:
                raise ApiError(404, f"SSH key {name[:100]!r} not found")
            del keys[name]
            self._touch("userkey", f"{org.id} {subject} {name}", None)
            self._commit()

    def list_clusters(self, org: Organization) -> List[Dict[str, Any]]:
        with self.lock:
            return [c.view() for c in self.clusters.values() if c.org_id == org.id]

    # -- orchestrators ------------------------------------------------------------------

    def visible_clusters(
        self, org: Organization, project: Project, region: Region, kind: str
    ) -> List[Cluster]:
        with self.lock:
            return [
                c
                for c in self.clusters.values()
                if c.org_id == org.id
                and c.region == region.name
                and c.type == kind
                and c.project_id in (None, project.id)
            ]
