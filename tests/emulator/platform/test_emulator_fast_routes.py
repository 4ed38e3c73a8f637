"""The routes served without FastAPI's machinery (``platform/fast.py``: ``GET`` and
``POST /instances``, ``GET /instances/{id}``) answer byte for byte what the FastAPI
routes answer, errors included: two emulators with the same seed, one with the fast
routes turned off, get the same requests and must give the same answers."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

import httpx
import pytest
from emulator_support import public_key

import fluidstack.emulator.middleware as middleware
from fluidstack.emulator import EmulatorSettings, create_app

KEY = "fast-key"
GOOD = {"gpu_type": "L40_48GB", "ssh_key": "k"}

Step = Tuple[str, str, Optional[Any], Dict[str, str]]

STEPS: List[Step] = [
    ("GET", "/instances", None, {}),
    ("POST", "/instances", GOOD, {}),
    ("POST", "/instances", {**GOOD, "name": "named", "gpu_count": 2}, {"Idempotency-Key": "i1"}),
    ("POST", "/instances", {**GOOD, "name": "named", "gpu_count": 2}, {"Idempotency-Key": "i1"}),
    ("POST", "/instances", {**GOOD, "name": "other"}, {"Idempotency-Key": "i1"}),  # 409
    ("POST", "/instances", {**GOOD, "gpu_type": "NOPE"}, {}),  # 422 from the model
    ("POST", "/instances", {**GOOD, "ssh_key": "missing"}, {}),  # 400 from the state
    ("POST", "/instances", {**GOOD, "gpu_count": 3}, {}),
    ("POST", "/instances", {**GOOD, "name": " padded"}, {}),
    ("POST", "/instances", [1, 2], {}),
    ("POST", "/instances", b"{not json", {}),
    ("POST", "/instances", b"", {}),
    ("POST", "/instances", GOOD, {"content-type": "application/json; charset=UTF-8"}),
    ("GET", "/instances?page=1", None, {}),
    ("GET", "/instances?page=2&include_failed_instances=true", None, {}),
    ("GET", "/instances?page=0", None, {}),
    ("GET", "/instances?page=-1", None, {}),
    ("GET", "/instances?page=abc", None, {}),
    ("GET", "/instances?page=01", None, {}),
    ("GET", "/instances?page=1&page=2", None, {}),
    ("GET", "/instances?include_failed_instances=maybe", None, {}),
    ("GET", "/instances?include_failed_instances=yes", None, {}),
    ("GET", "/instances?other=1", None, {}),
    ("GET", "/instances?page=99999999999999999999", None, {}),
    ("GET", "/instances/", None, {}),
    ("GET", "/instances/not-an-id", None, {}),
    ("HEAD", "/instances", None, {}),
    ("PATCH", "/instances", None, {}),
]


async def _run(fast: bool, monkeypatch: pytest.MonkeyPatch) -> List[Tuple[int, Any, bytes]]:
    if not fast:

        async def never(*args: Any) -> bool:
            return False

        monkeypatch.setattr(middleware, "serve_fast", never)
    app = create_app(
        EmulatorSettings(api_keys=[KEY], manual_clock=True, seed=5, failure_rate=0.0, page_size=2)
    )
    # A manual clock starts at the real second it was made: both emulators must start at
    # the same one, or their created_at differ when the runs straddle a second.
    app.state.emulator.clock._anchor_sim = 1_764_000_000.0
    answers = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://emu", headers={"api-key": KEY}
    ) as client:
        made = await client.post("/ssh_keys", json={"name": "k", "public_key": public_key()})
        assert made.status_code == 200
        ids: List[str] = []
        for method, path, body, headers in STEPS:
            content = body if isinstance(body, bytes) else None
            data = json.dumps(body).encode() if body is not None and content is None else content
            sent = dict(headers)
            if data is not None:
                sent.setdefault("content-type", "application/json")
            response = await client.request(method, path, content=data, headers=sent)
            if response.status_code == 202 and method == "POST":
                ids.append(response.json()["id"])
            answers.append(_answer(response))
        for instance_id in ids:  # and each instance, by id
            answers.append(_answer(await client.get(f"/instances/{instance_id}")))
    monkeypatch.undo()
    return answers


def _answer(response: httpx.Response) -> Tuple[int, Any, bytes]:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "date")
    return response.status_code, headers, response.content


@pytest.mark.anyio
async def test_fast_routes_answer_exactly_as_the_fastapi_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = await _run(True, monkeypatch)
    slow = await _run(False, monkeypatch)
    assert len(fast) == len(slow) > len(STEPS)
    for step, (mine, theirs) in enumerate(zip(fast, slow)):
        assert mine == theirs, (STEPS[step] if step < len(STEPS) else "get by id", mine, theirs)
    statuses = {answer[0] for answer in fast}
    assert {200, 202, 400, 405, 409, 422}.issubset(statuses), statuses
