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


ATLAS_CLIENT = "secrets-test-client"
ATLAS_SECRET = "atlas-SECRET-9a8b7c6d5e"


async def test_atlas_secret_and_tokens_never_leak(
    emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    from fluidstack.atlas import AsyncAtlas, Atlas

    emulator.atlas.create_organization(ATLAS_CLIENT, ATLAS_SECRET)
    texts: List[str] = []
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx, httpcore, uvicorn, ...
    settings = {
        "client_id": ATLAS_CLIENT,
        "client_secret": ATLAS_SECRET,
        "management_url": emulator.base_url,
        "region": "eu-north-1",
    }
    with Atlas(**settings) as atlas:
        texts += [repr(atlas), repr(atlas._settings), repr(vars(atlas._auth))]
        project = atlas.projects.create(name="p")
        atlas = atlas.with_options(project_id=project.id)
        created = atlas.instances.create(type="cpu.2x")
        texts.append(repr(created))
        raw = atlas.instances.with_raw_response.get(created.id)
        texts += [repr(raw), repr(raw.http_response.request)]
        tokens = list(atlas._auth.secrets())
        emulator.add_fault(
            method="GET", path="/regions/*/api/v1alpha1/instances", status=503, times=3
        )
        emulator.atlas.expire_tokens()  # the token expires: a 401, a new token, the call again
        for call in (
            lambda: atlas.instances.get("00000000-0000-4000-8000-000000000000"),
            lambda: atlas.instances.list(),
            lambda: atlas.instances.create(type="no-such-type"),
        ):
            with pytest.raises(ApiError) as info:
                call()
            texts += [str(info.value), repr(info.value), _traceback(info.value)]
        tokens += list(atlas._auth.secrets())
    async with AsyncAtlas(**settings) as aatlas:
        texts.append(repr(aatlas))
        with pytest.raises(ApiError) as info:
            await aatlas.with_options(project_id=project.id).instances.stop("nope")
        texts.append(_traceback(info.value))
    wrong = Atlas(**{**settings, "client_secret": ATLAS_SECRET + "x"})
    with pytest.raises(ApiError) as info:
        wrong.regions.list()
    texts += [str(info.value), repr(info.value), _traceback(info.value)]
    wrong.close()

    texts += [record.getMessage() for record in caplog.records]
    texts.append(caplog.text)
    journal = json.dumps(emulator.journal())
    texts.append(journal)
    assert "/oauth/token" in journal
    secrets = {ATLAS_SECRET, *tokens}
    assert len(secrets) >= 3  # the secret and at least two tokens were in play
    leaks = [(s[:12], t[:200]) for t in texts for s in secrets if s in t]
    assert leaks == []
