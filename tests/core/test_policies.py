"""The pure policies: retry classification and delays, waiter intervals, launch plans, cost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest

from fluidstack.core.errors import BadRequestError, ConflictError, InstanceFailedError
from fluidstack.core.retries import (
    MAX_DELAY,
    Outcome,
    classify_exception,
    classify_status,
    retry_after,
    retry_delay,
)
from fluidstack.core.waiters import WaitPolicy, wait_goals
from fluidstack.cost import instance_cost
from fluidstack.platform.launch import is_out_of_stock, plan_launch
from fluidstack.types import ConfigurationResponse, GPUType, InstanceResponse, InstanceStatus


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SUCCESS),
        (202, Outcome.SUCCESS),
        (204, Outcome.SUCCESS),
        (301, Outcome.FATAL),
        (400, Outcome.FATAL),
        (404, Outcome.FATAL),
        (408, Outcome.NOT_PERFORMED),
        (429, Outcome.NOT_PERFORMED),
        (500, Outcome.AMBIGUOUS),
        (501, Outcome.FATAL),
        (504, Outcome.AMBIGUOUS),
    ],
)
def test_classify_status(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (httpx.ConnectError("x"), Outcome.NOT_PERFORMED),
        (httpx.ConnectTimeout("x"), Outcome.NOT_PERFORMED),
        (httpx.PoolTimeout("x"), Outcome.NOT_PERFORMED),
        (httpx.ReadTimeout("x"), Outcome.AMBIGUOUS),
        (httpx.WriteTimeout("x"), Outcome.AMBIGUOUS),
        (httpx.ReadError("x"), Outcome.AMBIGUOUS),
        (httpx.RemoteProtocolError("x"), Outcome.AMBIGUOUS),
        (httpx.UnsupportedProtocol("x"), Outcome.FATAL),
        (httpx.DecodingError("x"), Outcome.FATAL),
    ],
)
def test_classify_exception(exc: Exception, outcome: Outcome) -> None:
    assert classify_exception(exc) is outcome


def test_retry_delay_grows_and_is_capped_for_any_count() -> None:
    no_jitter = lambda: 0.0  # noqa: E731
    assert [retry_delay(n, jitter=no_jitter) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert retry_delay(5000, jitter=no_jitter) == MAX_DELAY
    assert retry_delay(0, jitter=lambda: 1.0) == 0.375


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after": "7"}) == 7
    assert retry_after({"retry-after-ms": "20"}) == 0.02
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412490.0) == 0
    assert retry_after({"retry-after": "nan"}) is None
    assert retry_after({"retry-after-ms": "nan"}) is None
    assert retry_after({}) is None
    assert retry_after(None) is None


def _instance(status: str) -> SimpleNamespace:
    return SimpleNamespace(id="i-1", status=status)


def test_wait_policy_goals_failures_and_intervals() -> None:
    policy = WaitPolicy.build("running", 60, 2)
    assert policy.reached(_instance("running"))
    assert not policy.reached(_instance("provisioning"))
    with pytest.raises(InstanceFailedError):
        policy.reached(_instance("failed"))
    assert [policy.interval(n) for n in (1, 2, 3)] == [2, 3, 4.5]
    assert policy.interval(10_000) == 30
    stopped = WaitPolicy.build({"stopped", "terminated"}, None, 1)
    assert stopped.reached(_instance("terminated"))
    with pytest.raises(ValueError, match="at least one"):
        WaitPolicy.build([], 10, 1)


def _config(gpu: str, price: str, counts: list[int], regions: list[str]) -> ConfigurationResponse:
    return ConfigurationResponse(
        gpu_type=gpu,
        gpu_counts=counts,
        price_per_gpu_hr=price,
        stopped_price_per_hour="0.1",
        regions=regions,
    )


def test_plan_launch_skips_junk_prices_and_unknown_counts() -> None:
    configs = [
        _config("A", "junk", [1], ["X"]),
        _config("B", "1.5", [2], ["X"]),
        _config("C", "0.5", [1], ["Y", "X"]),
    ]
    plan = plan_launch(configs, gpu_type=None, gpu_count=1, regions=None, max_price_per_hour=None)
    assert [(str(o.gpu_type), str(o.region)) for o in plan] == [("C", "Y"), ("C", "X")]
    assert plan.cheapest is not None
    assert plan.cheapest.price_per_hour == Decimal("0.5")
    with pytest.raises(ValueError, match="gpu_count"):
        plan_launch(configs, gpu_type=None, gpu_count=0, regions=None, max_price_per_hour=None)
    with pytest.raises(ValueError, match="empty"):
        plan_launch(configs, gpu_type=[], gpu_count=1, regions=None, max_price_per_hour=None)


def test_out_of_stock_detection() -> None:
    assert is_out_of_stock(ConflictError(status_code=409, body={"message": "Out of stock"}))
    assert is_out_of_stock(BadRequestError(status_code=400, body={"message": "No capacity left"}))
    assert not is_out_of_stock(BadRequestError(status_code=400, body={"message": "bad ssh key"}))


def test_instance_cost() -> None:
    instance = InstanceResponse.model_validate(
        {
            "id": "i-1",
            "status": "running",
            "current_gpu_hr_cost": 2.5,
            "created_at": "2024-01-01T00:00:00",
            "configuration": {
                "id": "c",
                "gpu_count": 4,
                "cpu_count": 1,
                "nvme_storage_size_gb": 1,
                "memory_size_gb": 1,
                "region": "NORWAY",
            },
        }
    )
    cost = instance_cost(instance, now=dt.datetime(2024, 1, 1, 3, tzinfo=dt.timezone.utc))
    assert cost.hourly == Decimal("10.0")
    assert cost.hours == 3.0
    assert cost.accrued == Decimal("30.0")


def test_prices_are_exact_decimals_and_numbers_in_json() -> None:
    config = ConfigurationResponse(
        gpu_type="A100_PCIE_80GB",
        gpu_counts=[1, 8],
        price_per_gpu_hr="0.10",
        stopped_price_per_hour=0.015,
        regions=["NORWAY"],
    )
    assert config.price_per_gpu_hr == Decimal("0.10")
    assert sum([config.price_per_gpu_hr] * 3) == Decimal("0.30")  # no float drift
    assert config.stopped_price(8) == Decimal("0.120")
    dumped = config.model_dump(mode="json")
    assert dumped["price_per_gpu_hr"] == 0.1
    assert dumped["stopped_price_per_hour"] == 0.015
    junk = config.model_copy(update={"price_per_gpu_hr": Decimal("NaN")})
    assert junk.model_dump(mode="json")["price_per_gpu_hr"] is None
    instance = InstanceResponse.model_validate({"id": "i", "current_gpu_hr_cost": 0.4})
    assert instance.current_gpu_hr_cost == Decimal("0.4")
    bare = instance_cost(InstanceResponse(id="i-2"))
    assert (bare.hourly, bare.hours, bare.accrued) == (None, None, None)


def test_open_enums() -> None:
    assert GPUType("H100_PCIE_80GB") is GPUType.H100_PCIE_80GB
    new = GPUType("B200_192GB")
    assert new == "B200_192GB"
    assert str(new) == "B200_192GB"
    assert f"{new}" == "B200_192GB"
    assert not new.is_known
    assert InstanceStatus.RUNNING.is_known
    assert str(InstanceStatus.RUNNING) == "running"


def test_large_parses_pause_the_collector_and_always_restore_it() -> None:
    import gc
    import json

    from fluidstack.platform.endpoints import INSTANCES as LIST

    big = json.dumps([{"id": f"i-{n}", "status": "running"} for n in range(20_000)]).encode()
    assert len(big) > 256 * 1024
    assert len(LIST.parse(big)) == 20_000
    assert gc.isenabled()
    with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
        LIST.parse(big[:-10])
    assert gc.isenabled()
    gc.disable()
    try:
        LIST.parse(big)
        assert not gc.isenabled()  # a caller's choice to run without the collector stands
    finally:
        gc.enable()


def test_wait_goals_refuse_typos_and_take_enum_members() -> None:
    assert wait_goals("running", InstanceStatus, "ssh") == {"running"}
    assert wait_goals(["ssh", InstanceStatus.STOPPED], InstanceStatus, "ssh") == {"ssh", "stopped"}
    assert wait_goals(InstanceStatus("resizing"), InstanceStatus) == {"resizing"}
    with pytest.raises(
        ValueError,
        match=r"until='stoped' is not a state to wait for \(did you mean 'stopped'\?\)\. Known: ",
    ):
        wait_goals("stoped", InstanceStatus)
    with pytest.raises(ValueError, match=r"until='zzz' is not a state to wait for\. Known: "):
        wait_goals(("running", "zzz"), InstanceStatus)
    with pytest.raises(ValueError, match=r"pass InstanceStatus\('ssh'\)"):
        wait_goals("ssh", InstanceStatus)  # "ssh" only where the caller allows it
