"""Resets of Atlas state (the control API): everything, or one organization's."""

from __future__ import annotations

from typing import Any, Dict, Optional

from fluidstack.emulator.atlas.base import AtlasBase
from fluidstack.emulator.atlas.records import Organization

__all__ = ["AdminMixin"]


class AdminMixin(AtlasBase):
    """Full and per-organization resets."""

    def reset(self, client_id: Optional[str] = None) -> Optional[Organization]:
        """Clear everything (command-line organizations come back fresh, same ids) or one
        organization's state (it keeps its id and client, and gets its seeds back)."""
        with self.lock:
            if client_id is None:
                self._empty()
                self.guesses.reset()
                self._bootstrap()
                self._commit(clear=True)
                if self.ssh is not None:
                    self.ssh.sync()
                return None
            org = self.require_org(client_id)
            self._drop_org_state(org)
            self._seed_org(org)
            self._commit()
            if self.ssh is not None:
                self.ssh.sync()
            return org

    def _drop_org_state(self, org: Organization) -> None:
        self.logins.drop_org(org)
        for table, kind in (
            (self.members, "member"),
            (self.invitations, "invitation"),
            (self.projects, "project"),
            (self.filesystems, "filesystem"),
            (self.clusters, "cluster"),
            (self.node_pools, "nodepool"),
        ):
            records: Dict[str, Any] = table
            for record_id in [k for k, v in records.items() if v.org_id == org.id]:
                del records[record_id]
                self._touch(kind, record_id, None)
        for owner in [s for s in self.user_keys if s[0] == org.id]:
            for name in self.user_keys.pop(owner):
                self._touch("userkey", f"{owner[0]} {owner[1]} {name}", None)
        now = self.clock.now()
        for instance_id in self.org_instances.pop(org.id, []):
            self.ledger.forget(instance_id, now)
            self.instances.pop(instance_id, None)
            self._encoded.pop(instance_id, None)
            self._touch("instance", instance_id, None)
        for scope in [s for s in self.scoped_instances if s[0] == org.id]:
            del self.scoped_instances[scope]
