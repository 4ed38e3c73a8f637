"""SSH keys, API keys, user details, balance, the browser login flow, payments."""

from __future__ import annotations

import base64

import httpx
import pytest
from emulator_support import ClientFactory, public_key

from fluidstack.testing import EmulatorHandle

# -- SSH keys ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key_type",
    [
        "ssh-rsa",
        "ssh-dss",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ],
)
def test_every_accepted_public_key_type(api: httpx.Client, key_type: str) -> None:
    key = public_key(key_type)
    response = api.post("/ssh_keys", json={"name": key_type, "public_key": key})
    assert response.status_code == 200
    assert response.json() == {"name": key_type, "public_key": key}


def _mismatched() -> str:
    blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"\x00" * 36).decode()
    return f"ssh-rsa {blob}"


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----",
         "private key"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----", "private key"),
        ("ssh-foo AAAAB3NzaC1yc2E=", "unsupported public key type"),
        ("ssh-ed25519 not*base64", "not valid base64"),
        (_mismatched(), "does not hold a ssh-rsa key"),
        ("ssh-ed25519", "expected an OpenSSH public key"),
        ("", "expected an OpenSSH public key"),
    ],
)  # fmt: skip
def test_bad_public_keys_answer_422(api: httpx.Client, key: str, fragment: str) -> None:
    response = api.post("/ssh_keys", json={"name": "bad", "public_key": key})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "public_key"]
    assert fragment in error["msg"]
    assert "input" not in error  # a pasted private key is never echoed back
    assert api.get("/ssh_keys").json() == []


def test_ssh_key_lifecycle(api: httpx.Client) -> None:
    key = public_key()
    assert api.post("/ssh_keys", json={"name": "a", "public_key": key}).status_code == 200
    duplicate = api.post("/ssh_keys", json={"name": "a", "public_key": key})
    assert duplicate.status_code == 409
    assert "'a' already exists" in duplicate.json()["message"]
    assert api.get("/ssh_keys").json() == [{"name": "a", "public_key": key}]
    assert api.get("/ssh_keys?show_all=true").json() == [{"name": "a", "public_key": key}]
    deleted = api.delete("/ssh_keys/a")
    assert deleted.status_code == 200
    assert "message" in deleted.json()
    assert api.delete("/ssh_keys/a").status_code == 404
    assert api.get("/ssh_keys").json() == []


def test_legacy_ssh_key_routes(api: httpx.Client) -> None:
    created = api.post("/list_user_ssh_keys", json={"name": "old", "public_key": public_key()})
    assert created.status_code == 201
    key_id = created.json()["id"]
    assert [k["id"] for k in api.get("/list_user_ssh_keys").json()] == [key_id]
    assert [k["name"] for k in api.get("/ssh_keys").json()] == ["old"]
    assert api.delete(f"/list_user_ssh_keys/{key_id}").status_code == 204
    assert api.delete(f"/list_user_ssh_keys/{key_id}").status_code == 404


# -- API keys ------------------------------------------------------------------------


def test_api_keys_create_use_and_revoke(api: httpx.Client, client_factory: ClientFactory) -> None:
    listed = api.get("/api_keys").json()
    assert [k["name"] for k in listed] == ["default"]
    assert all("api_key" not in k for k in listed)

    created = api.post("/api_keys", json={"name": "ci"})
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "name", "api_key"}
    new = client_factory(api_key=body["api_key"])
    new.post("/ssh_keys", json={"name": "via-new-key", "public_key": public_key()})
    assert [k["name"] for k in api.get("/ssh_keys").json()] == ["via-new-key"]  # same account
    assert [k["name"] for k in api.get("/api_keys").json()] == ["default", "ci"]

    revoked = api.delete(f"/api_keys/{body['id']}")
    assert revoked.status_code == 204
    assert revoked.content == b""
    assert new.get("/instances").status_code == 401
    assert api.delete(f"/api_keys/{body['id']}").status_code == 404


# -- user and balance ----------------------------------------------------------------


def test_company_details_update_only_given_fields(api: httpx.Client) -> None:
    first = api.put("/user/company-details", json={"company_name": "ACME", "company_tax_id": "T1"})
    assert first.status_code == 200
    assert first.json()["company_name"] == "ACME"
    second = api.put("/user/company-details", json={"company_address": "1 Road"}).json()
    assert (second["company_name"], second["company_address"]) == ("ACME", "1 Road")
    assert second["email"] == "account-1@example.com"
    assert api.put("/user/company-details", json={"company_name": 5}).status_code == 422


def test_balance_starts_at_the_initial_balance(emulator: EmulatorHandle, api: httpx.Client) -> None:
    assert api.get("/user/balance").json() == {"balance": 1000.0}
    emulator.set_balance(12.5)
    assert api.get("/user/balance").json() == {"balance": 12.5}


# -- browser login -------------------------------------------------------------------


def test_login_flow_with_the_development_code(
    anon: httpx.Client, client_factory: ClientFactory, emulator: EmulatorHandle
) -> None:
    url = anon.get("/auth/url").json()
    assert isinstance(url, str)
    # Anyone may call /auth/url: it must not hand out a code that logs in.
    assert url.endswith("/auth/callback")
    code = emulator.dev_login_code
    browser = client_factory(api_key=None)
    callback = browser.get("/auth/callback", params={"code": code})
    assert callback.status_code == 200
    assert callback.json()["email"] == "account-1@example.com"
    assert "wos_session" in browser.cookies
    assert browser.get("/auth/user").json()["email"] == "account-1@example.com"
    refreshed = browser.get("/auth/session")
    assert refreshed.status_code == 200
    assert "wos_session" in refreshed.headers["set-cookie"]
    assert browser.get("/instances").status_code == 200


def test_login_with_a_per_account_code(
    emulator: EmulatorHandle, client_factory: ClientFactory
) -> None:
    emulator.create_account("second", balance=5)
    code = emulator.auth_code("second")
    browser = client_factory(api_key=None)
    user = browser.get("/auth/callback", params={"code": code}).json()
    assert user["email"] == "account-2@example.com"
    # Codes are single-use.
    again = client_factory(api_key=None).get("/auth/callback", params={"code": code})
    assert again.status_code == 401
    assert client_factory(api_key=None).get("/auth/callback?code=bogus").status_code == 401


def test_session_refresh_needs_the_cookie(api: httpx.Client) -> None:
    response = api.get("/auth/session")  # an API key is not a session
    assert response.status_code == 401


# -- payments ------------------------------------------------------------------------


def test_payment_intent(api: httpx.Client) -> None:
    response = api.post("/payments/create-intent", json={"amount": 5000, "currency": "usd"})
    assert response.status_code == 200
    assert "_secret_" in response.json()["client_secret"]
    assert (
        api.post("/payments/create-intent", json={"amount": 5000, "currency": "eur"}).status_code
        == 422
    )
    assert api.post("/payments/create-intent", json={"amount": "5"}).status_code == 422
    assert api.post("/payments/create-intent", json={"amount": 0}).status_code == 422
