"""``fluidstack.atlas.types`` and ``fluidstack.atlas.endpoints`` load the Kubernetes and
Slurm parts on first use (issue 24, sixth round); every name stays where it was."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from typing import Any, Dict

import pytest

import fluidstack.atlas.endpoints as endpoints
import fluidstack.atlas.types as types

_TYPES_BEFORE = 30  # the names `atlas/types.py` listed when it imported them all


@pytest.mark.parametrize("name", types.__all__)
def test_every_type_resolves_to_its_home_modules_object(name: str) -> None:
    home = importlib.import_module(types._HOMES.get(name, ".types"), "fluidstack.atlas")
    assert getattr(types, name) is getattr(home, name)
    assert getattr(importlib.import_module("fluidstack.atlas"), name) is getattr(home, name)
    assert name in dir(types)


def test_the_type_names_are_the_ones_of_before() -> None:
    assert len(types.__all__) == _TYPES_BEFORE
    assert set(types._HOMES) <= set(types.__all__)
    namespace: Dict[str, Any] = {}
    exec("from fluidstack.atlas.types import *", namespace)
    assert set(types.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        types.Nope  # noqa: B018


# The table's lazy names are its home module's __all__, no more, no less.
_CLUSTER_ENDPOINTS = importlib.import_module("fluidstack.atlas.orchestrator_endpoints")


def test_the_table_names_every_cluster_endpoint() -> None:
    assert set(endpoints._ORCHESTRATOR_NAMES) == set(_CLUSTER_ENDPOINTS.__all__)


@pytest.mark.parametrize("name", _CLUSTER_ENDPOINTS.__all__)
def test_every_cluster_endpoint_name_still_imports_from_the_table(name: str) -> None:
    assert getattr(endpoints, name) is getattr(_CLUSTER_ENDPOINTS, name)
    assert name in dir(endpoints)


def test_the_browser_logins_default_scope_has_one_value() -> None:
    from fluidstack.atlas import login, settings
    from fluidstack.atlas._sync.client import Atlas

    assert login.DEFAULT_SCOPE is settings.DEFAULT_SCOPE
    assert "offline_access" in login.DEFAULT_SCOPE.split()
    scope = inspect.signature(Atlas.start_browser_login).parameters["scope"]
    assert scope.default == login.DEFAULT_SCOPE


def test_a_listing_of_instances_loads_no_cluster_code_nor_the_login_flow() -> None:
    code = (
        "import sys\n"
        "from fluidstack.atlas import Atlas\n"
        "from fluidstack.atlas._sync.instances import InstancesResource\n"
        "import fluidstack.atlas.endpoints as api\n"
        "assert api.INSTANCES.response_type is not None\n"
        "print(sorted(m for m in sys.modules if m.startswith('fluidstack.atlas.orchestrator')"
        " or m == 'fluidstack.atlas.login'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
