"""Emulator tests talk plain HTTP (httpx) to a real server on a loopback port.

The server is the ``fluidstack_emulator`` fixture of the project's own pytest plugin
(manual clock, seed 1234, no provisioning failures); ``emulator`` resets it per test.
Every response received through the ``api``/``anon`` clients is validated against the
vendor definitions as it arrives (see ``emulator_support.Conformance``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Optional

import httpx
import pytest
from atlas_support import AtlasConformance, AtlasFactory
from emulator_support import ClientFactory, Conformance, public_key

from fluidstack.testing import EmulatorHandle


@pytest.fixture(scope="session")
def conformance() -> Conformance:
    return Conformance()


@pytest.fixture
def client_factory(emulator: EmulatorHandle, conformance: Conformance) -> Iterator[ClientFactory]:
    """Build httpx clients on the emulator; ``validate=False`` skips conformance checks."""
    clients = []

    def make(api_key: Any = "default", validate: bool = True, **kwargs: Any) -> httpx.Client:
        headers: Dict[str, str] = dict(kwargs.pop("headers", {}))
        key = emulator.api_key if api_key == "default" else api_key
        if key is not None:
            headers["api-key"] = key
        hooks = {"response": [conformance.check_response]} if validate else {}
        client = httpx.Client(
            base_url=emulator.base_url,
            headers=headers,
            event_hooks=hooks,
            timeout=10.0,
            **kwargs,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api(client_factory: ClientFactory) -> httpx.Client:
    """The default account's client; every response is checked against the spec."""
    return client_factory()


@pytest.fixture
def anon(client_factory: ClientFactory) -> httpx.Client:
    """A client without credentials."""
    return client_factory(api_key=None)


@pytest.fixture
def ssh_key(api: httpx.Client) -> str:
    """Name of an SSH key registered on the default account."""
    response = api.post("/ssh_keys", json={"name": "laptop", "public_key": public_key()})
    assert response.status_code == 200
    return "laptop"


@pytest.fixture
def create(api: httpx.Client, ssh_key: str) -> Callable[..., Dict[str, Any]]:
    """Create an instance on the default account (202) and return the create body."""

    def make(gpu_type: str = "L40_48GB", **fields: Any) -> Dict[str, Any]:
        response = api.post("/instances", json={"gpu_type": gpu_type, "ssh_key": ssh_key, **fields})
        assert response.status_code == 202, response.text
        body: Dict[str, Any] = response.json()
        return body

    return make


# -- Atlas -------------------------------------------------------------------------------
# (No fixture is named ``atlas``: the SDK's plugin fixtures will take that name.)


@pytest.fixture(scope="session")
def atlas_conformance() -> AtlasConformance:
    return AtlasConformance()


@pytest.fixture
def atlas_factory(
    emulator: EmulatorHandle, atlas_conformance: AtlasConformance
) -> Iterator[AtlasFactory]:
    """``make(api="management"|region name, project=None, token="default", validate=True)``:
    an httpx client on that Atlas API whose every response is checked against the spec."""
    clients = []

    def make(
        api: str = "management",
        project: Optional[str] = None,
        token: Optional[str] = "default",
        validate: bool = True,
        **kwargs: Any,
    ) -> httpx.Client:
        headers: Dict[str, str] = dict(kwargs.pop("headers", {}))
        if token == "default":
            token = emulator.atlas.token()
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        if project is not None:
            headers["x-project-id"] = project
        path = "/api/v1alpha1" if api == "management" else f"/regions/{api}/api/v1alpha1"
        hooks = {"response": [atlas_conformance.check_response]} if validate else {}
        client = httpx.Client(
            base_url=emulator.base_url + path,
            headers=headers,
            event_hooks=hooks,
            timeout=10.0,
            **kwargs,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def mgmt(atlas_factory: AtlasFactory) -> httpx.Client:
    """The development organization on the Management API."""
    return atlas_factory()


@pytest.fixture
def project_id(atlas_factory: AtlasFactory) -> str:
    """A fresh project of the development organization."""
    response = atlas_factory("eu-north-1").post("/projects", json={"name": "test-project"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def eu(atlas_factory: AtlasFactory, project_id: str) -> httpx.Client:
    """eu-north-1's API with ``X-PROJECT-ID`` of ``project_id``."""
    return atlas_factory("eu-north-1", project=project_id)
