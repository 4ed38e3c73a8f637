"""Roles, enforced on every Atlas request: ``admin`` everything, ``editor``/``member``
everything but members and invitations, ``viewer`` read-only. A refused call answers
403 ``{"message"}`` and changes nothing; the last admin cannot be removed or demoted."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import httpx
import pytest

from fluidstack.testing import EmulatorHandle

MANAGEMENT = "/api/v1alpha1"
REGION = "/regions/eu-north-1/api/v1alpha1"


class Caller:
    """One bearer token's view of the emulator."""

    def __init__(self, emulator: EmulatorHandle, token: str) -> None:
        self.http = httpx.Client(
            base_url=emulator.base_url, headers={"authorization": f"Bearer {token}"}
        )

    def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return self.http.request(method, path, json=json)

    def get(self, path: str) -> Any:
        answer = self.http.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def admin(emulator: EmulatorHandle) -> Iterator[Caller]:
    """The organization's own client (client credentials): an admin."""
    caller = Caller(emulator, emulator.atlas.token())
    yield caller
    caller.http.close()


def user(emulator: EmulatorHandle, email: str) -> Caller:
    added = emulator.atlas.add_user(email)
    tokens = emulator.atlas.login_tokens(email=email, password=added["password"])
    return Caller(emulator, tokens["access_token"])


def member_id(admin: Caller, email: str) -> str:
    return next(m["id"] for m in admin.get(MANAGEMENT + "/members") if m["email"] == email)


def snapshot(admin: Caller) -> Dict[str, List[Any]]:
    return {
        "members": admin.get(MANAGEMENT + "/members"),
        "invitations": admin.get(MANAGEMENT + "/invitations"),
        "projects": admin.get(REGION + "/projects"),
    }


def refused(answer: httpx.Response) -> str:
    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert set(body) == {"message"}
    return str(body["message"])


def test_a_viewer_can_read_but_not_invite_promote_create_or_delete(
    emulator: EmulatorHandle, admin: Caller
) -> None:
    # The scenario: a user demotes themselves to viewer, then tries to undo it.
    viewer = user(emulator, "vera@example.com")
    me = member_id(admin, "vera@example.com")
    assert viewer.call("PATCH", f"{MANAGEMENT}/members/{me}", {"role": "viewer"}).status_code == 200
    project = admin.call("POST", REGION + "/projects", {"name": "kept"}).json()
    other_admin = member_id(admin, emulator.atlas.dev_user_email)
    before = snapshot(admin)

    attempts = [
        ("POST", MANAGEMENT + "/invitations", {"email": "eve@example.com", "role": "admin"}),
        ("PATCH", f"{MANAGEMENT}/members/{me}", {"role": "admin"}),
        ("POST", REGION + "/projects", {"name": "mine"}),
        ("DELETE", f"{REGION}/projects/{project['id']}", None),
        ("DELETE", f"{MANAGEMENT}/members/{other_admin}", None),
    ]
    for method, path, body in attempts:
        message = refused(viewer.call(method, path, body))
        assert "read-only" in message
        assert snapshot(admin) == before, (method, path)  # nothing changed
    assert {m["id"]: m["role"] for m in before["members"]}[me] == "viewer"
    # Reads still work.
    assert viewer.get(MANAGEMENT + "/members") == before["members"]
    assert viewer.get(REGION + "/projects") == before["projects"]


def test_a_member_works_but_cannot_manage_members_or_raise_their_own_role(
    emulator: EmulatorHandle, admin: Caller
) -> None:
    editor = user(emulator, "ed@example.com")
    me = member_id(admin, "ed@example.com")
    assert admin.call("PATCH", f"{MANAGEMENT}/members/{me}", {"role": "member"}).status_code == 200
    created = editor.call("POST", REGION + "/projects", {"name": "work"})
    assert created.status_code == 201
    before = snapshot(admin)
    for method, path, body in [
        ("PATCH", f"{MANAGEMENT}/members/{me}", {"role": "admin"}),
        ("POST", MANAGEMENT + "/invitations", {"email": "x@example.com", "role": "viewer"}),
        ("DELETE", f"{MANAGEMENT}/members/{me}", None),
    ]:
        assert "Only an admin" in refused(editor.call(method, path, body))
        assert snapshot(admin) == before
    # The older enum's name for the same rights.
    assert admin.call("PATCH", f"{MANAGEMENT}/members/{me}", {"role": "editor"}).status_code == 200
    assert editor.call("DELETE", f"{REGION}/projects/{created.json()['id']}").status_code == 204


def test_the_last_admin_cannot_be_removed_or_demoted(
    emulator: EmulatorHandle, admin: Caller
) -> None:
    admins = [m for m in admin.get(MANAGEMENT + "/members") if m["role"] == "admin"]
    assert len(admins) == 2  # the seeded admin and the development user
    first, last = admins
    assert admin.call("DELETE", f"{MANAGEMENT}/members/{first['id']}").status_code == 204
    before = snapshot(admin)
    demoted = admin.call("PATCH", f"{MANAGEMENT}/members/{last['id']}", {"role": "viewer"})
    assert demoted.status_code == 409
    assert "last admin" in demoted.json()["message"]
    assert admin.call("DELETE", f"{MANAGEMENT}/members/{last['id']}").status_code == 409
    assert snapshot(admin) == before
    # Re-stating the role is no demotion; a second admin frees the first.
    assert (
        admin.call("PATCH", f"{MANAGEMENT}/members/{last['id']}", {"role": "admin"}).status_code
        == 200
    )
    second = emulator.atlas.add_member("Bo", "bo@example.com", role="admin")
    assert (
        admin.call("PATCH", f"{MANAGEMENT}/members/{last['id']}", {"role": "viewer"}).status_code
        == 200
    )
    assert admin.call("DELETE", f"{MANAGEMENT}/members/{second['id']}").status_code == 409


def test_client_credentials_act_as_admin(admin: Caller) -> None:
    answer = admin.call("POST", MANAGEMENT + "/invitations", {"email": "a@example.com"})
    assert answer.status_code == 201


def test_cluster_and_node_pool_writes_follow_the_same_roles(
    emulator: EmulatorHandle, admin: Caller
) -> None:
    # The Infrastructure API's cluster routes are registered like every other route, so
    # the one role check covers them too.
    viewer = user(emulator, "kim@example.com")
    me = member_id(admin, "kim@example.com")
    assert admin.call("PATCH", f"{MANAGEMENT}/members/{me}", {"role": "viewer"}).status_code == 200
    project = admin.call("POST", REGION + "/projects", {"name": "k8s"}).json()["id"]
    for caller in (viewer, admin):
        caller.http.headers["x-project-id"] = project
    before = admin.get(REGION + "/kubernetes/clusters")
    for kind in ("kubernetes", "slurm"):
        refused(viewer.call("POST", f"{REGION}/{kind}/clusters", {"name": "mine"}))
    assert admin.get(REGION + "/kubernetes/clusters") == before
    assert viewer.get(REGION + "/kubernetes/clusters") == before  # reads still work
