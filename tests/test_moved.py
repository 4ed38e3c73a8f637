"""Old import paths keep working after the platform SDK moved to ``fluidstack.platform``.

Documented paths (README, docs) stay silent; internal ones warn, naming the new path.
Each case runs in a fresh interpreter: a module imports (and warns) once per process.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[1]

SILENT = [
    ("fluidstack.client", "FluidStack", "fluidstack.platform.client"),
    ("fluidstack.client", "AsyncFluidStack", "fluidstack.platform.client"),
    ("fluidstack.types", "InstanceResponse", "fluidstack.platform.types"),
    ("fluidstack.types.instances", "InstanceResponse", "fluidstack.platform.types.instances"),
    ("fluidstack.types.account", "SSHKeyResponse", "fluidstack.platform.types.account"),
    ("fluidstack.types.enums", "GPUType", "fluidstack.platform.types.enums"),
    ("fluidstack.types.launch", "LaunchPlan", "fluidstack.platform.types.launch"),
    ("fluidstack.cost", "instance_cost", "fluidstack.platform.cost"),
    ("fluidstack.resources.spend", "lease_of", "fluidstack.platform.spend"),
]

WARNING = [
    ("fluidstack._async.instances", "AsyncInstancesResource", "fluidstack.platform._async"),
    ("fluidstack._sync.instances", "InstancesResource", "fluidstack.platform._sync"),
    ("fluidstack._sync.client", "FluidStack", "fluidstack.platform._sync"),
    ("fluidstack.resources.launch", "plan_launch", "fluidstack.platform.launch"),
    ("fluidstack.resources.instances", "create_body", "fluidstack.platform.endpoints"),
    ("fluidstack.resources.ssh_keys", "find_stored", "fluidstack.platform.endpoints"),
    ("fluidstack.resources.account", "HEALTHCHECK", "fluidstack.platform.endpoints"),
    ("fluidstack.resources.catalog", "CONFIGURATIONS", "fluidstack.platform.endpoints"),
    ("fluidstack.types._base", "FluidStackModel", "fluidstack.core.models"),
]


def _import(module: str, name: str) -> subprocess.CompletedProcess[str]:
    code = f"import warnings; warnings.simplefilter('always')\nfrom {module} import {name}\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("module", "name", "new"), SILENT)
def test_documented_old_path_imports_without_a_warning(module: str, name: str, new: str) -> None:
    done = _import(module, name)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr


@pytest.mark.parametrize(("module", "name", "new"), WARNING)
def test_internal_old_path_imports_with_a_warning_naming_the_new_one(
    module: str, name: str, new: str
) -> None:
    done = _import(module, name)
    assert done.returncode == 0, done.stderr
    assert "DeprecationWarning" in done.stderr
    assert new in done.stderr
    # The warning points at the line that imported the old path, not at the shim.
    assert "<string>:2" in done.stderr


def test_an_old_module_is_the_new_module() -> None:
    import fluidstack.platform._async.instances as new
    import fluidstack.platform.types.instances as new_types
    import fluidstack.types.instances as old_types

    with warnings.catch_warnings():  # warned above, in a fresh interpreter
        warnings.simplefilter("ignore", DeprecationWarning)
        import fluidstack._async.instances as old
    assert old is new
    assert old_types is new_types


def test_renamed_endpoints_keep_their_old_names() -> None:
    from fluidstack.platform import endpoints

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from fluidstack.resources import instances, ssh_keys
    assert instances.LIST is endpoints.INSTANCES
    assert instances.GET is endpoints.INSTANCE
    assert instances.CREATE is endpoints.INSTANCE_CREATE
    assert ssh_keys.LIST is endpoints.SSH_KEYS
    assert ssh_keys.DELETE is endpoints.SSH_KEY_DELETE


def _documented_names() -> List[str]:
    """Every ``fluidstack.x.y`` dotted name and ``from fluidstack.x import y`` of the
    README and the API reference (tag names such as ``fluidstack.lease-until`` and the
    ``fluidstack.io`` domain are not code)."""
    names = set()
    for doc in ("README.md", "docs/reference.md"):
        text = (ROOT / doc).read_text()
        names.update(re.findall(r"\b(fluidstack(?:\.[A-Za-z_]\w*)+)(?![\w-])", text))
        for found in re.finditer(r"from (fluidstack[\w.]*) import ([\w, ]+)", text):
            names.update(f"{found.group(1)}.{n.strip()}" for n in found.group(2).split(","))
    names.discard("fluidstack.io")
    return sorted(names)


@pytest.mark.parametrize("dotted", _documented_names())
def test_every_documented_name_imports_from_where_the_docs_say(dotted: str) -> None:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return
    raise AssertionError(f"{dotted} does not import")
