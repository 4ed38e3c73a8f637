"""The served emulator's entry (``emulator/entry.py``) skips FastAPI's pass-through
layers (issue 24): it must answer as the app itself does, the unexpected error
included, and fall back to the whole app when its layers are not the known ones."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any, Dict, Tuple

import httpx
import pytest
from fastapi import FastAPI

from fluidstack.emulator.app import create_app
from fluidstack.emulator.entry import served_entry
from fluidstack.emulator.middleware import EmulatorMiddleware
from fluidstack.emulator.settings import DEV_API_KEY, EmulatorSettings


def _settings() -> EmulatorSettings:
    return EmulatorSettings(manual_clock=True, seed=7, failure_rate=0.0)


async def _ask(
    app: Any, method: str, path: str, **kwargs: Any
) -> Tuple[int, bytes, Dict[str, str]]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        answer = await http.request(method, path, headers={"api-key": DEV_API_KEY}, **kwargs)
    headers = dict(answer.headers)
    if "date" in headers:  # the wall clock's second: two answers may straddle a tick
        assert parsedate_to_datetime(headers["date"]).tzinfo is not None
        headers["date"] = "<an HTTP date>"
    return answer.status_code, answer.content, headers


def test_the_entry_serves_the_apps_own_middleware_behind_the_error_layer() -> None:
    app = create_app(_settings())
    entry = served_entry(app)
    assert entry is not app
    layer: Any = app.middleware_stack
    while not isinstance(layer, EmulatorMiddleware):
        layer = layer.app
    assert entry.lean.app is layer  # type: ignore[attr-defined]  # one middleware, not two


@pytest.mark.anyio
async def test_the_entry_answers_as_the_app_does(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = []
    for wrap in (False, True):
        app = create_app(_settings())
        served = served_entry(app) if wrap else app
        listing = await _ask(served, "GET", "/instances")
        made = await _ask(served, "POST", "/instances", json={"gpu_type": "nope"})

        async def boom(*args: Any) -> None:
            raise RuntimeError("unexpected")

        with monkeypatch.context() as patch:
            patch.setattr(EmulatorMiddleware, "_perform", boom)
            failed = await _ask(served, "GET", "/instances")
        answers.append((listing, made, failed))
    assert answers[0] == answers[1]
    assert answers[1][2][0] == 500
    assert answers[1][2][1] == b'{"message":"Internal emulator error"}'


def test_an_app_with_other_layers_is_served_as_it_is() -> None:
    app = create_app(_settings())
    app.root_path = "/under"
    assert served_entry(app) is app
    plain = FastAPI()
    assert served_entry(plain) is plain
