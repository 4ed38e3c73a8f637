"""Health check, authentication (api-key header, wos_session cookie) and account isolation."""

from __future__ import annotations

from typing import Any, Callable, Dict

import httpx
import pytest
from emulator_support import ClientFactory, public_key

from fluidstack.testing import EmulatorHandle

AUTHENTICATED_ROUTES = [
    ("GET", "/instances", None),
    ("POST", "/instances", {"gpu_type": "L40_48GB", "ssh_key": "k"}),
    ("GET", "/instances/abc", None),
    ("DELETE", "/instances/abc", None),
    ("PUT", "/instances/abc/stop", None),
    ("PUT", "/instances/abc/start", None),
    ("PUT", "/instances/abc/rename", {"new_instance_name": "x"}),
    ("GET", "/ssh_keys", None),
    ("POST", "/ssh_keys", {"name": "k", "public_key": public_key()}),
    ("DELETE", "/ssh_keys/k", None),
    ("GET", "/list_user_ssh_keys", None),
    ("GET", "/list_available_configurations", None),
    ("GET", "/list_available_os_templates", None),
    ("PUT", "/user/company-details", {}),
    ("GET", "/user/balance", None),
    ("GET", "/api_keys", None),
    ("POST", "/api_keys", {"name": "ci"}),
    ("DELETE", "/api_keys/abc", None),
    ("GET", "/auth/session", None),
    ("GET", "/auth/user", None),
    ("POST", "/payments/create-intent", {"amount": 100}),
]


def test_healthcheck_needs_no_key(anon: httpx.Client) -> None:
    assert anon.get("/healthcheck").json() == {"status": "ok"}
    head = anon.head("/healthcheck")
    assert head.status_code == 200
    assert head.content == b""


@pytest.mark.parametrize(("method", "path", "body"), AUTHENTICATED_ROUTES)
def test_every_authenticated_route_answers_401_without_a_key(
    anon: httpx.Client, method: str, path: str, body: Any
) -> None:
    response = anon.request(method, path, json=body)
    assert response.status_code == 401
    assert set(response.json()) == {"message"}
    assert "api-key" in response.json()["message"]


@pytest.mark.parametrize(("method", "path", "body"), AUTHENTICATED_ROUTES)
def test_every_authenticated_route_answers_401_for_an_unknown_key(
    client_factory: ClientFactory, method: str, path: str, body: Any
) -> None:
    response = client_factory(api_key="not-a-key").request(method, path, json=body)
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid API key"}


def test_auth_is_checked_before_the_body(client_factory: ClientFactory) -> None:
    bad = client_factory(api_key="wrong", validate=False)
    assert bad.post("/instances", json={"gpu_type": 42}).status_code == 401
    assert bad.post("/instances", content=b"{not json").status_code == 401
    assert bad.post("/ssh_keys", json=[]).status_code == 401


def test_session_cookie_authenticates(
    emulator: EmulatorHandle, client_factory: ClientFactory
) -> None:
    cookie = emulator.session_cookie()
    browser = client_factory(api_key=None, cookies={"wos_session": cookie})
    assert browser.get("/instances").status_code == 200
    assert browser.get("/auth/user").json()["email"] == "account-1@example.com"
    stale = client_factory(api_key=None, cookies={"wos_session": "wos_forged"})
    assert stale.get("/instances").status_code == 401


def test_api_key_is_preferred_to_a_cookie(
    emulator: EmulatorHandle, client_factory: ClientFactory
) -> None:
    cookie = emulator.session_cookie()
    client = client_factory(api_key="wrong", cookies={"wos_session": cookie})
    assert client.get("/instances").status_code == 401


def test_accounts_are_isolated(
    emulator: EmulatorHandle,
    api: httpx.Client,
    client_factory: ClientFactory,
    create: Callable[..., Dict[str, Any]],
) -> None:
    emulator.create_account("other-key", balance=50.0)
    other = client_factory(api_key="other-key")
    mine = create()["id"]

    assert other.get("/instances").json() == []
    assert other.get("/ssh_keys").json() == []
    assert other.get("/user/balance").json() == {"balance": 50.0}
    for method, path in [
        ("GET", f"/instances/{mine}"),
        ("PUT", f"/instances/{mine}/stop"),
        ("PUT", f"/instances/{mine}/start"),
        ("DELETE", f"/instances/{mine}"),
        ("DELETE", "/ssh_keys/laptop"),
    ]:
        response = other.request(method, path)
        assert response.status_code == 404, (method, path)
        assert set(response.json()) == {"message"}
    renamed = other.put(f"/instances/{mine}/rename", json={"new_instance_name": "stolen"})
    assert renamed.status_code == 404

    # Nothing changed for the owner.
    mine_now = api.get(f"/instances/{mine}").json()
    assert mine_now["status"] == "pending"
    assert mine_now["name"] != "stolen"
    assert [k["name"] for k in api.get("/ssh_keys").json()] == ["laptop"]
    # The other account's SSH key namespace is its own.
    added = other.post("/ssh_keys", json={"name": "laptop", "public_key": public_key()})
    assert added.status_code == 200


def test_unknown_routes_need_auth_then_answer_404(api: httpx.Client, anon: httpx.Client) -> None:
    assert anon.get("/nope").status_code == 401
    response = api.get("/nope")
    assert response.status_code == 404
    assert set(response.json()) == {"message"}
    assert api.request("PATCH", "/instances").status_code == 405
