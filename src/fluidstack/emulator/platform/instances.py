"""Platform instances: create, list, get, stop, start, rename, delete.

The one home of each operation's behaviour: the FastAPI routes
(:mod:`~fluidstack.emulator.platform.routes`) and the fast path
(:mod:`~fluidstack.emulator.platform.fast`) both call these methods, and build no
answer of their own.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from fluidstack.emulator.clock import iso
from fluidstack.emulator.encoding import dumps
from fluidstack.emulator.journaled import draw_int, uuid4_text
from fluidstack.emulator.platform.billing import BillingMixin
from fluidstack.emulator.platform.catalog import OS_LABELS, Offer
from fluidstack.emulator.platform.idempotency import IdempotencyMixin
from fluidstack.emulator.platform.records import (
    PENDING_SECONDS,
    STARTING_SECONDS,
    STOPPING_SECONDS,
    UP_STATUSES,
    Account,
    Instance,
    Stored,
    random_name,
)
from fluidstack.emulator.responses import ApiError

__all__ = ["InstancesMixin"]


class InstancesMixin(BillingMixin, IdempotencyMixin):
    """The instance operations of the platform API."""

    def _choose_region(
        self, offer: Offer, gpu_count: int, region: Optional[str], now: float
    ) -> str:
        if region is not None:
            if region not in offer.regions:
                raise ApiError(
                    400,
                    f"{offer.gpu_type} is not offered in {region}; "
                    f"available regions: {', '.join(offer.regions)}",
                )
            if self._free_gpus(offer.gpu_type, region, now) < gpu_count:
                raise ApiError(
                    409,
                    f"Out of stock: no capacity for {gpu_count} x {offer.gpu_type} in {region}",
                )
            return region
        for candidate in offer.regions:
            if self._free_gpus(offer.gpu_type, candidate, now) >= gpu_count:
                return candidate
        raise ApiError(
            409,
            f"Out of stock: no capacity for {gpu_count} x {offer.gpu_type} in any region "
            f"({', '.join(offer.regions)})",
        )

    def create_instance(
        self,
        account: Account,
        *,
        name: Optional[str],
        gpu_type: str,
        gpu_count: int,
        ssh_key: str,
        operating_system_label: str,
        region: Optional[str],
        volumes: List[Dict[str, Any]],
        idempotency_key: Optional[str],
        fingerprint: str,
    ) -> Stored:
        """``POST /instances`` (202). Replays the original answer for a repeated key."""
        with self.lock:
            replay = self.idempotent_replay(account, idempotency_key, fingerprint)
            if replay is not None:
                return replay
            now = self.clock.now()
            if ssh_key not in self.ssh_keys.get(account.id, {}):
                raise ApiError(
                    400, f"SSH key {ssh_key!r} not found; create it first with POST /ssh_keys"
                )
            offer = self.catalog.offer(gpu_type)
            if offer is None:
                raise ApiError(
                    400,
                    f"GPU type {gpu_type} is not currently offered; "
                    "see GET /list_available_configurations",
                )
            if gpu_count not in offer.gpu_counts:
                counts = ", ".join(str(c) for c in offer.gpu_counts)
                raise ApiError(
                    400,
                    f"{gpu_type} is offered with {counts} GPUs per instance, not {gpu_count}",
                )
            if operating_system_label not in OS_LABELS:
                raise ApiError(
                    400,
                    f"Unknown operating_system_label {operating_system_label[:80]!r}; "
                    f"available: {', '.join(OS_LABELS)}",
                )
            if self._balance_for_sign(account, now) <= 0:
                raise ApiError(402, "Insufficient balance: top up your account to create instances")
            chosen_region = self._choose_region(offer, gpu_count, region, now)

            rng = self._random("instance")
            instance_id = uuid4_text(rng.getrandbits(128))
            if not name:
                name = random_name(rng)
            fails = rng.random() < self.settings.failure_rate
            provisioning = max(offer.provisioning_minutes * 60.0, PENDING_SECONDS + 1.0)
            ready = now + provisioning
            shape = offer.shapes[gpu_count]
            vol_status = "attaching"
            instance = Instance(
                id=instance_id,
                seq=self.seq,
                account_id=account.id,
                name=name,
                gpu_type=gpu_type,
                gpu_memory_gb=offer.gpu_memory_gb,
                gpu_count=gpu_count,
                region=chosen_region,
                operating_system_label=operating_system_label,
                ssh_keys=[ssh_key],
                volumes=[dict(v, status=v.get("status") or vol_status) for v in volumes],
                configuration_id=f"c-{instance_id[:8]}-{gpu_type.lower()}-{gpu_count}",
                cpu_count=shape.cpu_count,
                memory_size_gb=shape.memory_size_gb,
                nvme_storage_size_gb=shape.nvme_storage_size_gb,
                provisioning_minutes=offer.provisioning_minutes,
                price_per_gpu_hr=offer.price_per_gpu_hr,
                stopped_price_per_hour=offer.stopped_price_per_hour,
                ip_address=f"198.51.100.{draw_int(rng, 2, 254)}"
                if rng.random() < 0.5
                else f"203.0.113.{draw_int(rng, 2, 254)}",
                created_at=now,
                segments=[
                    ("pending", now),
                    ("provisioning", now + PENDING_SECONDS),
                    ("failed" if fails else "running", ready),
                ],
            )
            self.instances[instance.id] = instance
            self.account_instances.setdefault(account.id, []).append(instance.id)
            self._replanned(instance, now)
            body = {
                "id": instance.id,
                "name": instance.name,
                "gpu_type": instance.gpu_type,
                "operating_system_label": instance.operating_system_label,
            }
            self._remember(account, idempotency_key, fingerprint, 202, body)
            self._commit()
            return Stored(202, body)

    def instance_view(self, instance: Instance, now: float) -> Dict[str, Any]:
        """``InstanceResponse`` / ``ListInstanceResponse`` at simulated ``now``."""
        status = instance.status_at(now)
        up = status in UP_STATUSES
        account = self.accounts.get(instance.account_id)
        if status in ("terminated", "failed"):
            volume_status = "deleted"
        else:
            volume_status = "attached" if up else "attaching"
        address, port = instance.ip_address, "22"
        if up and self.ssh is not None:  # a real sshd on this machine's loopback
            address, port = "127.0.0.1", str(self.ssh.platform_port(instance.id))
        return {
            "id": instance.id,
            "status": status,
            "username": "ubuntu" if up else None,
            "ssh_port": port if up else None,
            "ssh_keys": list(instance.ssh_keys),
            "ip_address": address if up else None,
            "name": instance.name,
            "current_gpu_hr_cost": instance.rate_per_gpu(status),
            "configuration": {
                "id": instance.configuration_id,
                "gpu_model": {"name": instance.gpu_type, "memory_size_gb": instance.gpu_memory_gb},
                "cpu_model": "generic",
                "gpu_count": instance.gpu_count,
                "cpu_count": instance.cpu_count,
                "nvme_storage_size_gb": instance.nvme_storage_size_gb,
                "memory_size_gb": instance.memory_size_gb,
                "estimated_provisioning_time_minutes": instance.provisioning_minutes,
                "region": instance.region,
            },
            "created_at": iso(instance.created_at),
            "volumes": [
                {
                    "id": f"{v['id']['prefix']}-{v['id']['value']}",
                    "name": v["name"],
                    "size_gb": v["size_gb"],
                    "status": volume_status,
                    "cost_gb_hr": str(v["cost_gb_hr"]),
                    "created_at": v.get("created_at"),
                    "updated_at": v.get("updated_at"),
                }
                for v in instance.volumes
            ],
            "operating_system_label": instance.operating_system_label,
            "user_email": account.email if account is not None else None,
        }

    def get_instance(self, account: Account, instance_id: str) -> Tuple[str, Dict[str, Any]]:
        """The instance's status and view."""
        with self.lock:
            instance = self._own_instance(account, instance_id)
            now = self.clock.now()
            view = self.instance_view(instance, now)
            return str(view["status"]), view

    def list_instances_json(self, account: Account, page: int, include_failed: bool) -> bytes:
        """One page as JSON, in creation order (oldest first), so pages are stable."""
        with self.lock:
            now = self.clock.now()
            size = self.settings.page_size
            ids = self.ledger.page(account.id, (page - 1) * size, size, include_failed, now)
            instances = self.instances
            entries = [self._encoded_instance(instances[i], now) for i in ids]
            return b"[" + b",".join(entries) + b"]"

    def _encoded_instance(self, instance: Instance, now: float) -> bytes:
        # Clients poll listings: re-encode an instance only when something its view is
        # made of has changed. Everything else in the view is fixed at creation.
        account = self.accounts.get(instance.account_id)
        inputs = (
            instance.status_at(now),
            instance.name,
            account.email if account is not None else None,
        )
        cached = self._instance_json.get(instance.id)
        if cached is not None and cached[0] == inputs:
            return cached[1]
        encoded = dumps(self.instance_view(instance, now))
        self._instance_json[instance.id] = (inputs, encoded)
        return encoded

    def _transition(
        self,
        account: Account,
        instance_id: str,
        required: str,
        verb: str,
        plan: List[Tuple[str, float]],
    ) -> Dict[str, Any]:
        with self.lock:
            instance = self._own_instance(account, instance_id)
            now = self.clock.now()
            status = instance.status_at(now)
            if status != required:
                raise ApiError(
                    409,
                    f"Instance {instance.id} is {status}; only a {required} instance can be {verb}",
                )
            instance.cut_future(now)
            instance.segments.extend((s, now + offset) for s, offset in plan)
            self._replanned(instance, now)
            self._commit()
            return self.instance_view(instance, now)

    def stop_instance(self, account: Account, instance_id: str) -> Dict[str, Any]:
        return self._transition(
            account,
            instance_id,
            "running",
            "stopped",
            [("stopping", 0.0), ("stopped", STOPPING_SECONDS)],
        )

    def start_instance(self, account: Account, instance_id: str) -> Dict[str, Any]:
        return self._transition(
            account,
            instance_id,
            "stopped",
            "started",
            [("starting", 0.0), ("running", STARTING_SECONDS)],
        )

    def rename_instance(self, account: Account, instance_id: str, name: str) -> Dict[str, Any]:
        with self.lock:
            instance = self._own_instance(account, instance_id)
            now = self.clock.now()
            if instance.status_at(now) == "terminated":
                raise ApiError(409, f"Instance {instance.id} is terminated and cannot be renamed")
            instance.name = name
            self._touch_instance(instance)
            self._commit()
            return self.instance_view(instance, now)

    def delete_instance(self, account: Account, instance_id: str) -> Dict[str, Any]:
        with self.lock:
            instance = self._own_instance(account, instance_id)
            now = self.clock.now()
            if instance.status_at(now) == "terminated":
                # Orchestrators tear down by deleting every instance of a name, gone ones
                # included, and stop at the first non-2xx: deleting twice must succeed.
                # (A failed instance is deleted as usual: it ends terminated.)
                return {"message": f"Instance {instance.id} terminated"}
            instance.cut_future(now)
            instance.segments.append(("terminated", now))
            self._replanned(instance, now)
            self._commit()
            if self.ssh is not None:
                self.ssh.deleted("platform", instance.id)
            return {"message": f"Instance {instance.id} terminated"}
