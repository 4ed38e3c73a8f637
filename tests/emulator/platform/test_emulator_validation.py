"""Malformed input: FastAPI-shaped 422s, and never a 5xx whatever arrives."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


def _assert_422(response: httpx.Response, loc_end: Any = None) -> None:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail
    for error in detail:
        assert {"loc", "msg", "type"} <= set(error)
    if loc_end is not None:
        assert any(error["loc"][-1] == loc_end for error in detail), detail


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ssh_key": "k"}, "gpu_type"),
        ({"gpu_type": "L40_48GB"}, "ssh_key"),
        ({"gpu_type": "GTX_1080", "ssh_key": "k"}, "gpu_type"),
        ({"gpu_type": "L40_48GB", "ssh_key": "k", "gpu_count": 0}, "gpu_count"),
        ({"gpu_type": "L40_48GB", "ssh_key": "k", "gpu_count": "2"}, "gpu_count"),
        ({"gpu_type": "L40_48GB", "ssh_key": "k", "region": "MARS"}, "region"),
        ({"gpu_type": "L40_48GB", "ssh_key": 5}, "ssh_key"),
        ({"gpu_type": "L40_48GB", "ssh_key": "k", "volumes": [{"name": "v"}]}, "id"),
    ],
)
def test_create_instance_validation(api: httpx.Client, body: Any, field: str) -> None:
    _assert_422(api.post("/instances", json=body), field)
    assert api.get("/instances").json() == []


@pytest.mark.parametrize(
    "body",
    [[], "text", 5, None],
)
def test_non_object_bodies(api: httpx.Client, body: Any) -> None:
    _assert_422(api.post("/ssh_keys", json=body))


def test_malformed_json(api: httpx.Client) -> None:
    response = api.post(
        "/instances", content=b'{"gpu_type": ', headers={"content-type": "application/json"}
    )
    _assert_422(response)
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_nan_is_not_a_number_here(api: httpx.Client) -> None:
    response = api.post(
        "/payments/create-intent",
        content=b'{"amount": NaN}',
        headers={"content-type": "application/json"},
    )
    _assert_422(response, "amount")


def test_invalid_utf8_is_a_client_error(client_factory: Any) -> None:
    raw = client_factory(validate=False)
    response = raw.post(
        "/instances",
        content=b'{"gpu_type": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert "message" in response.json() or "detail" in response.json()


def test_wrong_content_type_is_415(api: httpx.Client) -> None:
    response = api.post(
        "/instances", content=b"gpu_type=L40_48GB", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]


def test_missing_body(api: httpx.Client) -> None:
    _assert_422(api.post("/instances"))
    _assert_422(api.put("/instances/x/rename"))


def test_oversized_body_is_413_and_stores_nothing(api: httpx.Client) -> None:
    big = b'{"name": "k", "public_key": "' + b"A" * (1024 * 1024 + 10) + b'"}'
    response = api.post("/ssh_keys", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert api.get("/ssh_keys").json() == []


def test_oversized_chunked_body_is_413(api: httpx.Client) -> None:
    def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 65536

    response = api.post("/ssh_keys", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_bad_query_parameters(api: httpx.Client) -> None:
    _assert_422(api.get("/instances?page=abc"), "page")
    _assert_422(api.get("/ssh_keys?show_all=perhaps"), "show_all")
    assert api.get("/instances?page=99999999999999999999999999").json() == []


def test_405_lists_every_method_of_the_resource(api: httpx.Client) -> None:
    response = api.request("PATCH", "/instances")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
