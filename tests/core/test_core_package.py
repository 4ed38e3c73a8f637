"""``fluidstack.core`` imports each of its names on first use; every name stays there."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any, Dict

import pytest

import fluidstack.core as core


@pytest.mark.parametrize("name", core.__all__)
def test_every_public_name_resolves_to_its_home_modules_object(name: str) -> None:
    home = importlib.import_module(core._HOMES[name], "fluidstack.core")
    assert getattr(core, name) is getattr(home, name)
    assert name in dir(core)


def test_the_public_names_are_the_ones_of_before() -> None:
    # The list the package's eager imports gave (issue 24, fifth round made them lazy).
    assert sorted(core.__all__) == sorted(core._HOMES)
    assert len(core.__all__) == 42
    namespace: Dict[str, Any] = {}
    exec("from fluidstack.core import *", namespace)
    assert set(core.__all__) <= set(namespace)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        core.Nope  # noqa: B018


def test_importing_the_package_imports_none_of_its_modules() -> None:
    code = (
        "import sys, fluidstack.core\n"
        "print(sorted(m for m in sys.modules if m.startswith('fluidstack.core.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
