"""``fluidstack.platform.types`` imports each name on first use, and
``fluidstack.platform.endpoints`` loads the account and SSH-key endpoints on first use
(issue 24, sixth round); every name stays where it was."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any, Dict

import pytest

import fluidstack.platform.account_endpoints as account_endpoints
import fluidstack.platform.endpoints as endpoints
import fluidstack.platform.types as types


@pytest.mark.parametrize("name", types.__all__)
def test_every_type_resolves_to_its_home_modules_object(name: str) -> None:
    home = importlib.import_module(types._HOMES[name], "fluidstack.platform.types")
    assert getattr(types, name) is getattr(home, name)
    assert name in dir(types)


def test_the_type_names_are_the_ones_of_before() -> None:
    # The list the package's eager imports gave.
    assert sorted(types.__all__) == sorted(types._HOMES)
    assert len(types.__all__) == 29
    for where in ("fluidstack.platform.types", "fluidstack.types"):
        namespace: Dict[str, Any] = {}
        exec(f"from {where} import *", namespace)
        assert set(types.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        types.Nope  # noqa: B018


@pytest.mark.parametrize("name", account_endpoints.__all__)
def test_every_account_endpoint_still_imports_from_the_table(name: str) -> None:
    assert getattr(endpoints, name) is getattr(account_endpoints, name)
    assert name in dir(endpoints)


def test_a_listing_of_instances_loads_no_account_code() -> None:
    code = (
        "import sys\n"
        "from fluidstack import FluidStack\n"
        "from fluidstack.platform._sync.instances import InstancesResource\n"
        "import fluidstack.platform.endpoints as api\n"
        "assert api.INSTANCES.response_type is not None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[-1] in "
        "('account', 'account_endpoints')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
