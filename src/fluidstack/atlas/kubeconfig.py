"""Writing a kubeconfig the way ``kubectl`` and ``fluidctl auth update-kubeconfig``
users expect: into ``$KUBECONFIG``'s first file or ``~/.kube/config``, merged by name
into what is already there (the user's other clusters, contexts, users and preferences
stay), atomically, readable by its owner only.

The YAML is read and written with PyYAML, which the SDK does not otherwise need: it
comes with ``pip install 'fluidstack[kubernetes]'``. Also importable as
:mod:`fluidstack.integrations.kubernetes`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

__all__ = ["KUBERNETES_EXTRA", "default_kubeconfig_path", "merge_kubeconfig", "write_kubeconfig"]

KUBERNETES_EXTRA = "pip install 'fluidstack[kubernetes]'"
SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))
"""The named lists of a kubeconfig, and the key of each entry's body."""

PathLike = Union[str, "os.PathLike[str]"]


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:  # say which extra, not only which module, is missing
        raise ImportError(
            f"writing a kubeconfig needs PyYAML: {KUBERNETES_EXTRA}", name=exc.name
        ) from exc
    return yaml


def default_kubeconfig_path(environ: Optional[Mapping[str, str]] = None) -> Path:
    """Where ``kubectl`` reads its configuration first: the first entry of
    ``$KUBECONFIG`` (a list separated by ``os.pathsep``), else ``~/.kube/config``."""
    env = os.environ if environ is None else environ
    for entry in env.get("KUBECONFIG", "").split(os.pathsep):
        if entry.strip():
            return Path(entry.strip()).expanduser()
    return Path.home() / ".kube" / "config"


def _entries(config: Mapping[str, Any], section: str) -> List[Dict[str, Any]]:
    value = config.get(section) or []
    if not isinstance(value, list):
        raise ValueError(f"the kubeconfig's {section!r} is not a list")
    return [dict(e) for e in value if isinstance(e, dict)]


def merge_kubeconfig(
    existing: Optional[Mapping[str, Any]],
    new: Mapping[str, Any],
    *,
    context: Optional[str] = None,
    set_current: bool = True,
) -> Dict[str, Any]:
    """``existing`` with the clusters, users and contexts of ``new`` added, each
    replacing an entry of the same name; everything else of ``existing`` kept.

    ``new`` must hold one context (a cluster's kubeconfig does); ``context`` renames it.
    ``current-context`` becomes that context only when ``set_current``.
    """
    contexts = _entries(new, "contexts")
    if len(contexts) != 1:
        raise ValueError(f"expected a kubeconfig with one context, got {len(contexts)}")
    if context is not None:
        if not isinstance(context, str) or not context.strip():
            raise ValueError("context must be a non-empty name")
        contexts[0]["name"] = context
    merged: Dict[str, Any] = dict(existing or {})
    merged.setdefault("apiVersion", "v1")
    merged.setdefault("kind", "Config")
    for section, _ in SECTIONS:
        incoming = contexts if section == "contexts" else _entries(new, section)
        names = {e.get("name") for e in incoming}
        kept = [e for e in _entries(merged, section) if e.get("name") not in names]
        merged[section] = kept + incoming
    if set_current:
        merged["current-context"] = contexts[0]["name"]
    merged.setdefault("preferences", {})
    return merged


def write_kubeconfig(
    document: str,
    path: Optional[PathLike] = None,
    *,
    merge: bool = True,
    context: Optional[str] = None,
    set_current: bool = True,
) -> str:
    """Write the kubeconfig ``document`` (YAML, e.g. ``clusters.credentials(id)``) and
    return the name of its context.

    Args:
        document: A kubeconfig with one context.
        path: The file; default :func:`default_kubeconfig_path`. A symbolic link is
            followed (the file it points to is updated).
        merge: Merge into the file's current content (default), replacing entries of the
            same names; ``False`` replaces the whole file.
        context: A name for the context instead of the one the document gives.
        set_current: Make it ``current-context`` (default).

    The file is written atomically (a temporary file renamed over it) with mode 0600; a
    missing directory is created with mode 0700.

    Raises:
        ImportError: PyYAML is missing (``pip install 'fluidstack[kubernetes]'``).
        ValueError: ``document``, or the file to merge into, is not a kubeconfig.
    """
    yaml = _yaml()
    new = yaml.safe_load(document)
    if not isinstance(new, dict):
        raise ValueError("the document is not a kubeconfig (a YAML mapping)")
    target = Path(os.path.realpath(Path(path).expanduser() if path else default_kubeconfig_path()))
    existing: Optional[Dict[str, Any]] = None
    if merge and target.exists():
        loaded = yaml.safe_load(target.read_text(encoding="utf-8"))
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"{target} is not a kubeconfig (a YAML mapping); not merging")
        existing = loaded
    merged = merge_kubeconfig(existing, new, context=context, set_current=set_current)
    if not set_current and existing is None:
        merged.pop("current-context", None)
    _write_private(target, yaml.safe_dump(merged, sort_keys=False, default_flow_style=False))
    name: str = merge_kubeconfig({}, new, context=context)["current-context"]
    return name


def _write_private(target: Path, text: str) -> None:
    """Replace ``target`` with ``text`` atomically, mode 0600 (its folder 0700 if new)."""
    if not target.parent.exists():
        target.parent.mkdir(parents=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(prefix=".kubeconfig-", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)  # mkstemp's mode already; said again for clarity
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
