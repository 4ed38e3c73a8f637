"""Atlas authentication: the OAuth token endpoint and bearer tokens on every route."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Dict

import httpx
import jwt
import pytest
from atlas_support import AtlasConformance, AtlasFactory

from fluidstack.emulator import DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET
from fluidstack.testing import EmulatorHandle

AUDIENCE = "https://api.fluidstack.io"
GOOD = {
    "grant_type": "client_credentials",
    "client_id": DEV_ATLAS_CLIENT_ID,
    "client_secret": DEV_ATLAS_CLIENT_SECRET,
    "audience": AUDIENCE,
}


@pytest.fixture
def oauth(emulator: EmulatorHandle, atlas_conformance: AtlasConformance) -> httpx.Client:
    hooks = {"response": [atlas_conformance.check_response]}
    return httpx.Client(base_url=emulator.base_url, event_hooks=hooks)


def claims(token: str) -> Dict[str, Any]:
    decoded: Dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_form_grant_answers_a_bearer_jwt_with_no_store(
    oauth: httpx.Client, emulator: EmulatorHandle
) -> None:
    response = oauth.post("/oauth/token", data=GOOD)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    # --token-ttl is real seconds, whatever the simulated clock does.
    assert body["expires_in"] == 3600
    token_claims = claims(body["access_token"])
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    assert token_claims["sub"] == DEV_ATLAS_CLIENT_ID
    assert token_claims["aud"] == AUDIENCE
    assert token_claims["iss"] == emulator.base_url + "/"
    assert token_claims["exp"] - token_claims["iat"] == 3600
    # Wall-clock epoch seconds, consistent with expires_in (a client reading exp agrees).
    assert abs(token_claims["exp"] - (time.time() + body["expires_in"])) <= 2
    org = httpx.get(
        emulator.base_url + "/api/v1alpha1/organizations",
        headers={"authorization": f"Bearer {body['access_token']}"},
    ).json()
    assert token_claims["org_id"] == org[0]["id"]


def test_json_body_basic_auth_and_no_audience_are_accepted(oauth: httpx.Client) -> None:
    as_json = oauth.post("/oauth/token", json=GOOD)
    assert as_json.status_code == 200
    basic = oauth.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET),
    )
    assert basic.status_code == 200
    no_audience = {k: v for k, v in GOOD.items() if k != "audience"}
    assert oauth.post("/oauth/token", data=no_audience).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"client_id": None}, 400, "invalid_request"),
        ({"client_secret": None}, 400, "invalid_request"),
        ({"grant_type": None}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "implicit"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, 400, "invalid_request"),
        ({"audience": "https://elsewhere.example"}, 403, "access_denied"),
    ],
)
def test_every_oauth_error(
    oauth: httpx.Client, change: Dict[str, Any], status: int, error: str
) -> None:
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    response = oauth.post("/oauth/token", data=data)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"
    assert DEV_ATLAS_CLIENT_SECRET not in response.text


def test_wrong_basic_credentials_and_malformed_bodies(oauth: httpx.Client) -> None:
    wrong = oauth.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("fs-emulator-client", "x")
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    garbage = oauth.post(
        "/oauth/token",
        content=b"\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert (garbage.status_code, garbage.json()["error"]) == (400, "invalid_request")
    bad_json = oauth.post(
        "/oauth/token", content=b"{", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    not_strings = oauth.post("/oauth/token", json={**GOOD, "client_secret": 1})
    assert not_strings.status_code == 400
    assert oauth.get("/oauth/token").status_code == 405


def test_every_atlas_route_needs_a_bearer_token(emulator: EmulatorHandle) -> None:
    base = emulator.base_url
    token = emulator.atlas.token()
    cases = {
        "missing": {},
        "not bearer": {"authorization": f"Basic {token}"},
        "empty bearer": {"authorization": "Bearer"},
        "not a jwt": {"authorization": "Bearer not-a-jwt"},
    }
    for path in ("/api/v1alpha1/regions", "/regions/eu-north-1/api/v1alpha1/projects"):
        for name, headers in cases.items():
            response = httpx.get(base + path, headers=headers)
            assert response.status_code == 401, (name, path)
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
            assert "message" in response.json()


def forge(token: str, header: Dict[str, Any], payload: Dict[str, Any], key: bytes) -> str:
    del token
    return jwt.encode(payload, key, algorithm="HS256", headers=header)


def test_tampered_alg_none_and_foreign_key_tokens_are_refused(emulator: EmulatorHandle) -> None:
    url = emulator.base_url + "/api/v1alpha1/organizations"
    token = emulator.atlas.token()
    head, payload, signature = token.split(".")
    body = claims(token)

    def b64(data: Dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    other_org = {**body, "org_id": "00000000-0000-4000-8000-000000000000"}
    tampered = f"{head}.{b64(other_org)}.{signature}"
    alg_none = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    foreign = jwt.encode(body, b"a key that is not the emulator's!", algorithm="HS256")
    flipped = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    for bad in (tampered, alg_none, foreign, flipped, token + "x"):
        response = httpx.get(url, headers={"authorization": f"Bearer {bad}"})
        assert response.status_code == 401, bad
    assert httpx.get(url, headers={"authorization": f"Bearer {token}"}).status_code == 200


def test_tokens_expire_on_the_wall_clock_not_the_simulated_one(
    emulator: EmulatorHandle,
) -> None:
    url = emulator.base_url + "/api/v1alpha1/regions"
    # 3 s, not 1: the first use must come before expiry even on a loaded machine.
    short = emulator.atlas.token(ttl_seconds=3)
    assert abs(claims(short)["exp"] - (time.time() + 3)) <= 2
    assert httpx.get(url, headers={"authorization": f"Bearer {short}"}).status_code == 200
    emulator.advance(7 * 86400)  # simulated time does not age a token
    long = emulator.atlas.token()
    assert httpx.get(url, headers={"authorization": f"Bearer {long}"}).status_code == 200
    time.sleep(max(0.0, claims(short)["exp"] - time.time()) + 0.05)
    expired = httpx.get(url, headers={"authorization": f"Bearer {short}"})
    assert expired.status_code == 401
    assert "expired" in expired.json()["message"]
    assert httpx.get(url, headers={"authorization": f"Bearer {long}"}).status_code == 200


def test_the_control_api_expires_every_token_now(emulator: EmulatorHandle) -> None:
    url = emulator.base_url + "/api/v1alpha1/regions"
    old = emulator.atlas.token()
    emulator.atlas.expire_tokens()
    expired = httpx.get(url, headers={"authorization": f"Bearer {old}"})
    assert expired.status_code == 401
    assert expired.json()["message"] == "Access token expired"
    # Tokens issued afterwards work; so does the client-credentials grant.
    assert (
        httpx.get(url, headers={"authorization": f"Bearer {emulator.atlas.token()}"}).status_code
        == 200
    )
    fresh = httpx.post(emulator.base_url + "/oauth/token", data=GOOD).json()["access_token"]
    assert httpx.get(url, headers={"authorization": f"Bearer {fresh}"}).status_code == 200


def test_a_full_reset_keeps_bootstrap_tokens_but_not_runtime_orgs(
    emulator: EmulatorHandle,
) -> None:
    url = emulator.base_url + "/api/v1alpha1/organizations"
    dev = emulator.atlas.token()
    before = httpx.get(url, headers={"authorization": f"Bearer {dev}"}).json()
    emulator.atlas.create_organization("tenant-b", "b-secret", display_name="B")
    runtime = emulator.atlas.token(client_id="tenant-b")
    assert httpx.get(url, headers={"authorization": f"Bearer {runtime}"}).status_code == 200
    emulator.reset()
    assert httpx.get(url, headers={"authorization": f"Bearer {dev}"}).json() == before
    gone = httpx.get(url, headers={"authorization": f"Bearer {runtime}"})
    assert gone.status_code == 401
    assert "no longer exists" in gone.json()["message"]


def test_x_org_id_of_another_org_is_forbidden(
    atlas_factory: AtlasFactory, emulator: EmulatorHandle
) -> None:
    mgmt = atlas_factory()
    org_id = mgmt.get("/organizations").json()[0]["id"]
    region = atlas_factory("eu-north-1")
    assert region.get("/projects", headers={"X-ORG-ID": org_id}).status_code == 200
    refused = region.get("/projects", headers={"X-ORG-ID": "someone-else"})
    assert refused.status_code == 403
    assert refused.json()["message"]


def test_control_api_mints_tokens_and_creates_organizations(emulator: EmulatorHandle) -> None:
    created = emulator.atlas.create_organization("tenant-c", "c-secret")
    assert set(created) == {"id", "name", "display_name", "client_id"}
    duplicate = httpx.post(
        emulator.base_url + "/_emulator/atlas/organizations",
        json={"client_id": "tenant-c", "client_secret": "x"},
        headers=emulator.control_headers,
    )
    assert duplicate.status_code == 409
    token = httpx.post(
        emulator.base_url + "/oauth/token",
        data={**GOOD, "client_id": "tenant-c", "client_secret": "c-secret"},
    ).json()["access_token"]
    assert claims(token)["org_id"] == created["id"]
    minted = httpx.post(
        emulator.base_url + "/_emulator/atlas/tokens",
        json={"client_id": "tenant-c"},
        headers=emulator.control_headers,
    )
    assert minted.status_code == 201
    assert set(minted.json()) == {"access_token", "expires_in"}
    assert "c-secret" not in json.dumps(emulator.journal())
