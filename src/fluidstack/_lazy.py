"""Names a module imports on first use (PEP 562): the packages whose ``__init__`` lists
many names (``fluidstack.core``, ``.platform``, ``.atlas``) stay cheap to import, and a
program pays only for the modules whose names it reads."""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, List, Mapping, Tuple

__all__ = ["lazy_attributes"]


def lazy_attributes(
    module: str, homes: Mapping[str, str]
) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """The ``__getattr__`` and ``__dir__`` of module ``module``, for the names in ``homes``
    (name -> the module that defines it: absolute, or relative to ``module``'s package).

    A name is imported from its home the first time it is read and then kept in
    ``module``'s namespace, so later reads are ordinary global look-ups. Any other name
    raises :class:`AttributeError` as a module without it would."""
    namespace = vars(sys.modules[module])
    package = namespace["__package__"]

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        namespace[name] = value
        return value

    def __dir__() -> List[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__
