"""Atlas browser login, the tokens it gives: the authorization-code grant (a code works
once, every mismatch burns it, it expires), refresh tokens (rotation, reuse detection,
client binding, expiry), users and their isolation. The flow itself, its refusals,
secrecy and persistence: ``test_atlas_login.py``."""

from __future__ import annotations

import secrets
import time
from typing import Any, Dict, Tuple

import httpx
import jwt
import pytest
from login_support import REDIRECT, bearer, code_of, exchange, login_tokens, pkce, refresh

from fluidstack.emulator import (
    DEV_ATLAS_CLIENT_ID,
    DEV_ATLAS_PUBLIC_CLIENT_ID,
    DEV_ATLAS_USER_EMAIL,
)
from fluidstack.testing import EmulatorHandle
from fluidstack.testing.handle import EmulatorControlError

# -- the authorization-code grant -------------------------------------------------------


def _code(emulator: EmulatorHandle, **login: Any) -> Tuple[str, str]:
    verifier, challenge = pkce()
    location = emulator.atlas.login(login.pop("redirect_uri", REDIRECT), challenge, "s", **login)
    return code_of(location)[0], verifier


def test_a_code_works_once_and_its_reuse_revokes_what_it_gave(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    code, verifier = _code(emulator)
    first = exchange(oauth, code, verifier)
    assert first.status_code == 200
    again = exchange(oauth, code, verifier)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert again.headers["cache-control"] == "no-store"
    revoked = refresh(oauth, first.json()["refresh_token"])
    assert (revoked.status_code, revoked.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    "change",
    [
        {"redirect_uri": "http://127.0.0.1:5174/callback"},
        {"client_id": DEV_ATLAS_CLIENT_ID},
        {"client_id": "nobody"},
        {"code_verifier": secrets.token_hex(32)},
        {"code_verifier": "short"},
        {"code": "not-a-code-" + "x" * 32},
    ],
    ids=["redirect", "confidential client", "unknown client", "verifier", "bad verifier", "code"],
)
def test_every_mismatch_is_invalid_grant_and_burns_the_code(
    emulator: EmulatorHandle, oauth: httpx.Client, change: Dict[str, str]
) -> None:
    code, verifier = _code(emulator)
    answer = exchange(oauth, code, verifier, **change)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    if "code" not in change:
        # A code is tried once: even the right request fails after a wrong one.
        assert exchange(oauth, code, verifier).json()["error"] == "invalid_grant"


def test_missing_parameters_and_secrets_are_invalid_request(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    code, verifier = _code(emulator)
    for name in ("code", "redirect_uri", "client_id", "code_verifier"):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": DEV_ATLAS_PUBLIC_CLIENT_ID,
            "code_verifier": verifier,
        }
        del data[name]
        answer = oauth.post("/oauth/token", data=data)
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request"), name
    with_secret = exchange(oauth, code, verifier, client_secret="x")
    assert with_secret.json()["error"] == "invalid_request"
    assert exchange(oauth, code, verifier).status_code == 200  # none of that burnt it


def test_json_token_requests_work_too(emulator: EmulatorHandle, oauth: httpx.Client) -> None:
    code, verifier = _code(emulator)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": DEV_ATLAS_PUBLIC_CLIENT_ID,
        "code_verifier": verifier,
    }
    answer = oauth.post("/oauth/token", json=data)
    assert answer.status_code == 200
    rotated = oauth.post(
        "/oauth/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": answer.json()["refresh_token"],
            "client_id": DEV_ATLAS_PUBLIC_CLIENT_ID,
        },
    )
    assert rotated.status_code == 200


def test_a_code_expires_after_60_simulated_seconds(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    code, verifier = _code(emulator)
    emulator.advance(59)
    assert exchange(oauth, code, verifier).status_code == 200
    code, verifier = _code(emulator)
    emulator.advance(60)
    assert exchange(oauth, code, verifier).json()["error"] == "invalid_grant"


def test_without_offline_access_there_is_no_refresh_token(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    body = login_tokens(emulator, oauth, scope="openid email")
    assert "refresh_token" not in body
    assert body["scope"] == "openid email"


# -- refresh tokens ---------------------------------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_whole_login(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    other_login = login_tokens(emulator, oauth)["refresh_token"]
    first = login_tokens(emulator, oauth)
    r1 = first["refresh_token"]
    second = refresh(oauth, r1)
    assert second.status_code == 200
    body = second.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    r2 = body["refresh_token"]
    assert r2 != r1
    assert body["access_token"] != first["access_token"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["email"] == DEV_ATLAS_USER_EMAIL
    r3 = refresh(oauth, r2).json()["refresh_token"]

    reused = refresh(oauth, r1)  # rotated twice ago: someone else has it
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert "revoked" in reused.json()["error_description"]
    for token in (r2, r3):  # every refresh token of that login is gone
        assert refresh(oauth, token).json()["error"] == "invalid_grant"
    # Another login of the same user is untouched.
    assert refresh(oauth, other_login).status_code == 200


def test_a_refresh_token_is_bound_to_its_client(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    token = login_tokens(emulator, oauth)["refresh_token"]
    wrong = refresh(oauth, token, client_id=DEV_ATLAS_CLIENT_ID)
    assert wrong.json()["error"] == "invalid_grant"
    assert refresh(oauth, token).status_code == 200


def test_refresh_tokens_expire_after_30_simulated_days(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    token = login_tokens(emulator, oauth)["refresh_token"]
    emulator.advance(29 * 86400)
    token = refresh(oauth, token).json()["refresh_token"]  # a fresh 30 days
    emulator.advance(29 * 86400)
    token = refresh(oauth, token).json()["refresh_token"]
    emulator.advance(30 * 86400)
    assert refresh(oauth, token).json()["error"] == "invalid_grant"


def test_user_access_tokens_expire_and_the_refresh_token_gets_a_new_one(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    body = login_tokens(emulator, oauth)
    assert bearer(emulator, body["access_token"], "/api/v1alpha1/organizations").status_code == 200
    exp = jwt.decode(body["access_token"], options={"verify_signature": False})["exp"]
    assert abs(exp - (time.time() + body["expires_in"])) <= 2
    emulator.atlas.expire_tokens()  # as if its hour had passed, without waiting
    expired = bearer(emulator, body["access_token"], "/api/v1alpha1/organizations")
    assert expired.status_code == 401
    fresh = refresh(oauth, body["refresh_token"]).json()["access_token"]
    assert bearer(emulator, fresh, "/api/v1alpha1/organizations").status_code == 200


def test_removing_a_user_revokes_its_tokens(emulator: EmulatorHandle, oauth: httpx.Client) -> None:
    user = emulator.atlas.add_user("ada@example.com")
    assert user["email"] == "ada@example.com"
    assert len(user["password"]) >= 16
    body = login_tokens(emulator, oauth, email="ada@example.com", password=user["password"])
    assert (
        jwt.decode(body["access_token"], options={"verify_signature": False})["sub"] == user["id"]
    )
    admin = emulator.atlas.token()
    members = bearer(emulator, admin, "/api/v1alpha1/members").json()
    assert user["id"] in [m["id"] for m in members]
    assert (
        bearer(emulator, admin, f"/api/v1alpha1/members/{user['id']}", "DELETE").status_code == 204
    )
    assert refresh(oauth, body["refresh_token"]).json()["error"] == "invalid_grant"
    gone = bearer(emulator, body["access_token"], "/api/v1alpha1/organizations")
    assert gone.status_code == 401
    with pytest.raises(EmulatorControlError, match="Wrong e-mail or password"):
        emulator.atlas.login(REDIRECT, pkce()[1], "s", email="ada@example.com", password="x")


# -- users ------------------------------------------------------------------------------


def test_users_through_the_control_api(emulator: EmulatorHandle) -> None:
    chosen = emulator.atlas.add_user("bob@example.com", password="correct horse")
    assert chosen["password"] == "correct horse"
    with pytest.raises(EmulatorControlError, match="409"):
        emulator.atlas.add_user("BOB@example.com")
    for bad in ({"email": "not-an-email"}, {"email": "c@example.com", "password": " x"}):
        with pytest.raises(EmulatorControlError, match="4"):
            emulator.atlas.add_user(**bad)  # type: ignore[arg-type]
    with pytest.raises(EmulatorControlError, match="404"):
        emulator.atlas.add_user("d@example.com", client_id="nobody")
    listed = {u["email"]: u for u in emulator.atlas.users()}
    assert set(listed) == {DEV_ATLAS_USER_EMAIL, "bob@example.com"}
    assert all("password" not in u for u in listed.values())
    # Runtime users vanish on a full reset; the development user comes back, same id.
    dev_id = listed[DEV_ATLAS_USER_EMAIL]["id"]
    emulator.reset()
    assert [(u["email"], u["id"]) for u in emulator.atlas.users()] == [
        (DEV_ATLAS_USER_EMAIL, dev_id)
    ]


def test_a_users_token_sees_only_its_organization(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    emulator.atlas.create_organization("tenant-b", "b-secret")
    a_token = emulator.atlas.token()
    region = "/regions/eu-north-1/api/v1alpha1"
    project = bearer(emulator, a_token, f"{region}/projects", "POST", json={"name": "a-only"})
    a_project = project.json()["id"]
    user = emulator.atlas.add_user("carol@b.example", client_id="tenant-b")
    body = login_tokens(emulator, oauth, email="carol@b.example", password=user["password"])
    token = body["access_token"]
    orgs = bearer(emulator, token, "/api/v1alpha1/organizations").json()
    b_org = bearer(emulator, emulator.atlas.token("tenant-b"), "/api/v1alpha1/organizations")
    assert orgs == b_org.json()
    assert bearer(emulator, token, f"{region}/projects").json() == []
    assert bearer(emulator, token, f"{region}/projects/{a_project}").status_code == 404
    members = bearer(emulator, token, "/api/v1alpha1/members").json()
    assert DEV_ATLAS_USER_EMAIL not in [m["email"] for m in members]
    assert "carol@b.example" in [m["email"] for m in members]
    # A per-organization reset of B drops its runtime users and their logins.
    emulator.reset(client_id="tenant-b")
    assert refresh(oauth, body["refresh_token"]).json()["error"] == "invalid_grant"
