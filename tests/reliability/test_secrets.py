"""The API key never appears in logs (any level, any library), reprs, exception text,
tracebacks, or the emulator's request journal."""

from __future__ import annotations

import json
import logging
import traceback
from typing import List

import pytest

from fluidstack.client import AsyncFluidStack, FluidStack
from fluidstack.core import ApiError
from fluidstack.testing.handle import EmulatorHandle

pytestmark = pytest.mark.anyio

SECRET = "fs-live-SECRET-5f2b9c0d1e"
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)


async def test_key_never_leaks(emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture) -> None:
    emulator.create_account(SECRET)
    texts: List[str] = []
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx, httpcore, uvicorn, ...
    with FluidStack(api_key=SECRET, base_url=emulator.base_url) as client:
        texts.append(repr(client))
        client.ssh_keys.create(name="k", public_key=PUBLIC_KEY)
        created = client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="k")
        texts.append(repr(created))
        raw = client.instances.with_raw_response.get(created.id)
        texts.append(repr(raw))
        texts.append(repr(raw.http_response.request))
        emulator.add_fault(method="GET", path="/instances", action="error", status=503, times=3)
        for call in (
            lambda: client.instances.get("missing"),
            lambda: client.instances.list(),
            lambda: client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="nope"),
        ):
            with pytest.raises(ApiError) as info:
                call()
            texts += [str(info.value), repr(info.value)]
            texts.append(_traceback(info.value))
    async with AsyncFluidStack(api_key=SECRET, base_url=emulator.base_url) as aclient:
        texts.append(repr(aclient))
        with pytest.raises(ApiError) as info:
            await aclient.instances.stop("missing")
        texts.append(_traceback(info.value))
    with FluidStack(api_key=SECRET + "x", base_url=emulator.base_url) as wrong:
        with pytest.raises(ApiError) as info:
            wrong.instances.list()
        texts.append(_traceback(info.value))

    texts += [record.getMessage() for record in caplog.records]
    texts.append(caplog.text)
    journal = json.dumps(emulator.journal())
    texts.append(journal)
    assert len(caplog.records) > 10
    assert "/instances" in journal
    leaks = [t for t in texts if SECRET in t]
    assert leaks == []


def _traceback(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))
