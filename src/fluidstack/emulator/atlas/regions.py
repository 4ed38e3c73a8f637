"""Regions: capacity per instance type (and what is in use), capabilities, and
provisioning failures the control API schedules.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from fluidstack.emulator.atlas.base import AtlasBase
from fluidstack.emulator.atlas.records import ProvisioningFailure, Region
from fluidstack.emulator.responses import ApiError

__all__ = ["RegionsMixin"]


class RegionsMixin(AtlasBase):
    """Capacity, capabilities and scheduled failures."""

    def _used(self, region: str, type_name: str, now: float) -> int:
        return self.ledger.in_use(region, type_name, now)

    def _available(self, region: Region, type_name: str, now: float) -> int:
        return region.capacity.get(type_name, 0) - self._used(region.name, type_name, now)

    def capacity(self, region: Region) -> List[Dict[str, Any]]:
        with self.lock:
            now = self.clock.now()
            return [
                {"name": t.name, "capacity": max(0, self._available(region, t.name, now))}
                for t in region.offer.types
            ]

    def require_capability(self, region: Region, capability: str) -> None:
        if capability not in region.capabilities:
            raise ApiError(501, f"{capability} is not available in region {region.name}")

    def capacity_report(self) -> List[Dict[str, Any]]:
        with self.lock:
            now = self.clock.now()
            return [
                self._capacity_entry(region, t.name, now)
                for region in self.regions.values()
                for t in region.offer.types
            ]

    def _capacity_entry(self, region: Region, type_name: str, now: float) -> Dict[str, Any]:
        total = region.capacity.get(type_name, 0)
        used = self._used(region.name, type_name, now)
        return {
            "region": region.name,
            "instance_type": type_name,
            "total": total,
            "used": used,
            "available": max(0, total - used),
        }

    def set_capacity(self, region_name: str, type_name: str, total: int) -> Dict[str, Any]:
        with self.lock:
            region = self.region(region_name)
            if region.instance_type(type_name) is None:
                raise ApiError(400, f"{type_name!r} is not an instance type of {region.name}")
            region.capacity[type_name] = total
            self._touch_region(region)
            self._commit()
            return self._capacity_entry(region, type_name, self.clock.now())

    def set_capabilities(self, region_name: str, capabilities: List[str]) -> Dict[str, Any]:
        with self.lock:
            region = self.region(region_name)
            region.capabilities = list(dict.fromkeys(capabilities))
            self._touch_region(region)
            self._commit()
            return {"region": region.name, "capabilities": list(region.capabilities)}

    def fail_next(self, region_name: str, type_name: Optional[str], times: int) -> Dict[str, Any]:
        with self.lock:
            region = self.region(region_name)
            if type_name is not None and region.instance_type(type_name) is None:
                raise ApiError(400, f"{type_name!r} is not an instance type of {region.name}")
            self.failures.append(ProvisioningFailure(region.name, type_name, times))
            self._commit()
            return {"region": region.name, "instance_type": type_name, "times": times}

    def _take_failure(self, region: str, type_name: str) -> bool:
        for failure in self.failures:
            if failure.region == region and failure.instance_type in (None, type_name):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self.failures.remove(failure)
                return True
        return False
