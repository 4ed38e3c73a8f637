"""What the control API (``/_emulator/...``) does to platform state beyond one
resource: full and per-account resets, capacity, bulk-made instances in any status, and
statuses no request can cause (``unhealthy``, ``shutting_down``).
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Optional, Tuple

from fluidstack.emulator.journaled import uuid4_text
from fluidstack.emulator.platform.catalog import OS_LABELS
from fluidstack.emulator.platform.instances import InstancesMixin
from fluidstack.emulator.platform.ledger import CAPACITY_FREE_STATUSES
from fluidstack.emulator.platform.records import (
    GONE_STATUSES,
    PENDING_SECONDS,
    SHUTDOWN_SECONDS,
    STARTING_SECONDS,
    STOPPING_SECONDS,
    Account,
    BulkGroup,
    Instance,
    random_name,
)
from fluidstack.emulator.responses import ApiError

__all__ = ["AdminMixin"]


class AdminMixin(InstancesMixin):
    """Resets, capacity, bulk creation and forced statuses."""

    def reset(self, api_key: Optional[str] = None) -> Optional[Account]:
        """Clear everything (bootstrap accounts come back fresh) or one account's state."""
        with self.lock:
            if api_key is None:
                self._empty()
                self._bootstrap_accounts()
                self._commit(clear=True)
                if self.ssh is not None:
                    self.ssh.sync()
                return None
            account = self.require_account_for_key(api_key)
            now = self.clock.now()
            for instance_id in self.account_instances.get(account.id, []):
                self.ledger.forget(instance_id, now)
                self.instances.pop(instance_id, None)
                self._instance_json.pop(instance_id, None)
                self._touch("instance", instance_id, None)
            self.account_instances[account.id] = []
            for name in self.ssh_keys.get(account.id, {}):
                self._touch("sshkey", f"{account.id} {name}", None)
            self.ssh_keys[account.id] = {}
            for key_hash, record in list(self.api_keys.items()):
                if record.account_id == account.id and not record.primary:
                    del self.api_keys[key_hash]
                    self._touch("apikey", key_hash, None)
            for idem in [k for k in self.idempotency if k[0] == account.id]:
                del self.idempotency[idem]
                self._touch("idem", f"{idem[0]} {idem[1]}", None)
            for token in [t for t, s in self.sessions.items() if s.account_id == account.id]:
                del self.sessions[token]
                self._touch("session", token, None)
            for intent_id, intent in list(self.payment_intents.items()):
                if intent.account_id == account.id:
                    del self.payment_intents[intent_id]
                    self._touch("payment", intent_id, None)
            account.balance_base, account.balance_time = account.initial_balance, now
            account.company = {}
            account.auto_terminate_on_depletion = True
            account.updated_at = now
            self.ledger.clear_account(account, now)
            self._touch_account(account)
            self._commit()
            if self.ssh is not None:
                self.ssh.sync()
            return account

    def set_capacity(self, gpu_type: str, region: str, gpus: int) -> Dict[str, Any]:
        with self.lock:
            offer = self.catalog.offer(gpu_type)
            if offer is None or region not in offer.regions:
                raise ApiError(400, f"{gpu_type} is not offered in {region}")
            self.capacity[(gpu_type, region)] = gpus
            self._commit()
            return self.capacity_view(gpu_type, region)

    def capacity_view(self, gpu_type: str, region: str) -> Dict[str, Any]:
        total = self.capacity.get((gpu_type, region), 0)
        used = self._used_gpus(gpu_type, region, self.clock.now())
        return {
            "gpu_type": gpu_type,
            "region": region,
            "gpus": total,
            "in_use": used,
            "available": max(0, total - used),
        }

    def capacity_report(self) -> List[Dict[str, Any]]:
        with self.lock:
            return [self.capacity_view(t, r) for (t, r) in self.capacity]

    def bulk_create(self, groups: List[BulkGroup]) -> List[str]:
        """``POST /_emulator/instances``: create every group's instances in one step,
        directly in their status (no request, no balance check, no idempotency key).

        Everything is checked first (accounts, offers, counts, capacity); a refusal
        raises :class:`ApiError` naming the group and changes nothing. Each instance is
        ``age`` seconds old (``created_at``); its status begins now, and so does its
        billing, so seeding does not charge for the age. ``pending``, ``provisioning``,
        ``stopping``, ``starting`` and ``shutting_down`` carry on as they would (and never
        fail); ``unhealthy`` stays so until healed.
        """
        with self.lock:
            now = self.clock.now()
            accounts: List[Account] = []
            needed: Dict[Tuple[str, str], int] = {}
            for index, group in enumerate(groups):
                where = f"instances[{index}]"
                account = self.account_for_key(group.api_key)
                if account is None:
                    raise ApiError(404, f"{where}.api_key: no account has this API key")
                offer = self.catalog.offer(group.gpu_type)
                if offer is None:
                    raise ApiError(400, f"{where}.gpu_type: {group.gpu_type[:80]!r} is not offered")
                if group.gpu_count not in offer.gpu_counts:
                    counts = ", ".join(str(c) for c in offer.gpu_counts)
                    raise ApiError(
                        400,
                        f"{where}.gpu_count: {group.gpu_type} is offered with {counts} GPUs "
                        f"per instance, not {group.gpu_count}",
                    )
                region = group.region if group.region is not None else offer.regions[0]
                if region not in offer.regions:
                    raise ApiError(
                        400,
                        f"{where}.region: {group.gpu_type} is not offered in {region[:80]!r}; "
                        f"available regions: {', '.join(offer.regions)}",
                    )
                if group.operating_system_label not in OS_LABELS:
                    raise ApiError(
                        400,
                        f"{where}.operating_system_label: unknown "
                        f"{group.operating_system_label[:80]!r}; available: {', '.join(OS_LABELS)}",
                    )
                if group.ssh_key is not None and group.ssh_key not in self.ssh_keys.get(
                    account.id, {}
                ):
                    raise ApiError(
                        400, f"{where}.ssh_key: the account has no SSH key {group.ssh_key[:80]!r}"
                    )
                if group.status not in CAPACITY_FREE_STATUSES:
                    key = (group.gpu_type, region)
                    needed[key] = needed.get(key, 0) + group.count * group.gpu_count
                accounts.append(account)
            for (gpu_type, region), gpus in needed.items():
                free = self._free_gpus(gpu_type, region, now)
                if gpus > free:
                    raise ApiError(
                        409,
                        f"Out of stock: these instances need {gpus} x {gpu_type} in {region}, "
                        f"{max(free, 0)} are free; raise it first with PUT /_emulator/capacity",
                    )
            created: List[str] = []
            rng = self._random("bulk")
            for group, account in zip(groups, accounts):
                created.extend(self._bulk_group(group, account, now, rng))
            self._commit()
            return created

    def _bulk_group(
        self, group: BulkGroup, account: Account, now: float, rng: random.Random
    ) -> List[str]:
        offer = self.catalog.offer(group.gpu_type)
        assert offer is not None
        region = group.region if group.region is not None else offer.regions[0]
        shape = offer.shapes[group.gpu_count]
        provisioning = max(offer.provisioning_minutes * 60.0, PENDING_SECONDS + 1.0)
        plans: Dict[str, List[Tuple[str, float]]] = {
            "pending": [("provisioning", PENDING_SECONDS), ("running", provisioning)],
            "provisioning": [("running", provisioning - PENDING_SECONDS)],
            "stopping": [("stopped", STOPPING_SECONDS)],
            "starting": [("running", STARTING_SECONDS)],
            "shutting_down": [("terminated", SHUTDOWN_SECONDS)],
        }
        plan = [(group.status, now)] + [
            (status, now + offset) for status, offset in plans.get(group.status, [])
        ]
        created_at = now - group.age
        ids: List[str] = []
        instances, mine = self.instances, self.account_instances.setdefault(account.id, [])
        for number in range(1, group.count + 1):
            self.seq += 1
            instance_id = uuid4_text(rng.getrandbits(128))
            if group.name_prefix is not None:
                name = f"{group.name_prefix}-{number}"
            else:
                name = random_name(rng)
            octet = rng.randint(2, 254)
            instance = Instance(
                id=instance_id,
                seq=self.seq,
                account_id=account.id,
                name=name,
                gpu_type=group.gpu_type,
                gpu_memory_gb=offer.gpu_memory_gb,
                gpu_count=group.gpu_count,
                region=region,
                operating_system_label=group.operating_system_label,
                ssh_keys=[group.ssh_key] if group.ssh_key is not None else [],
                volumes=[],
                configuration_id=f"c-{instance_id[:8]}-{group.gpu_type.lower()}-{group.gpu_count}",
                cpu_count=shape.cpu_count,
                memory_size_gb=shape.memory_size_gb,
                nvme_storage_size_gb=shape.nvme_storage_size_gb,
                provisioning_minutes=offer.provisioning_minutes,
                price_per_gpu_hr=offer.price_per_gpu_hr,
                stopped_price_per_hour=offer.stopped_price_per_hour,
                ip_address=f"198.51.100.{octet}" if octet % 2 else f"203.0.113.{octet}",
                created_at=created_at,
                segments=list(plan),
            )
            instances[instance_id] = instance
            mine.append(instance_id)
            self._replanned(instance, now)
            ids.append(instance_id)
        return ids

    # -- statuses the control API sets --------------------------------------------------

    def set_instance_status(
        self, instance_id: str, status: str, seconds: Optional[float]
    ) -> Dict[str, Any]:
        """Put an instance into ``unhealthy`` (back to ``running`` after ``seconds``, if
        given), ``shutting_down`` (terminated after ``seconds``, 30 by default), or heal
        an unhealthy one (``running``)."""
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                raise ApiError(404, f"Instance {instance_id[:100]!r} not found")
            now = self.clock.now()
            current = instance.status_at(now)
            if status == "unhealthy":
                if current not in ("running", "unhealthy"):
                    raise ApiError(
                        409,
                        f"Instance {instance.id} is {current}; "
                        "only a running instance can become unhealthy",
                    )
                plan = [("unhealthy", now)]
                if seconds is not None:
                    plan.append(("running", now + seconds))
            elif status == "running":
                if current != "unhealthy":
                    raise ApiError(
                        409,
                        f"Instance {instance.id} is {current}; "
                        "only an unhealthy instance can be healed",
                    )
                plan = [("running", now)]
            else:  # shutting_down
                if current in GONE_STATUSES:
                    raise ApiError(409, f"Instance {instance.id} is already {current}")
                delay = SHUTDOWN_SECONDS if seconds is None else seconds
                plan = [("shutting_down", now), ("terminated", now + delay)]
            instance.cut_future(now)
            instance.segments.extend(plan)
            self._replanned(instance, now)
            self._commit()
            return self.instance_view(instance, now)
