"""The provider's state file: the Ray tags of each node, kept where the API cannot keep them.

One JSON document per cluster and API::

    {"version": 1, "api": "platform", "cluster": "demo",
     "nodes": {"<instance id>": {"tags": {"ray-node-status": "up-to-date", ...}}}}

Every change is a read-modify-write under a lock file (so two processes on one machine
merge their changes instead of overwriting each other's), written to a temporary file in
the same directory, flushed to disk and renamed over the old one: a reader sees the old
document or the new one, never half of one, even after a crash.

The file is a cache, never the authority: which nodes exist is always the API's listing.
A missing, unreadable or foreign file reads as empty, and the provider rebuilds each
node's tags from the API (see :mod:`fluidstack.integrations.ray.provider`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Set

from filelock import FileLock

__all__ = ["StateFile", "default_state_path"]

logger = logging.getLogger(__name__)

VERSION = 1
Tags = Dict[str, str]


def default_state_path(api: str, cluster: str) -> Path:
    """``~/.fluidstack/ray/<api>-<cluster>.json``: under the home directory of whoever runs
    Ray (on the head node, the directory that also holds ``ray_bootstrap_config.yaml``)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in cluster) or "_"
    return Path.home() / ".fluidstack" / "ray" / f"{api}-{safe}.json"


class StateFile:
    """The tags of one cluster's nodes on disk, changed atomically."""

    def __init__(self, path: Path, *, api: str, cluster: str) -> None:
        self.path = Path(path).expanduser()
        self.api = api
        self.cluster = cluster
        self._lock = threading.Lock()
        self._file_lock = FileLock(str(self.path) + ".lock")

    def __repr__(self) -> str:
        return f"StateFile({str(self.path)!r})"

    def read(self) -> Dict[str, Tags]:
        """Every node's tags, as the file has them (empty when the file is missing,
        unreadable or another cluster's)."""
        with self._lock, self._locked():
            return self._read()

    def update(
        self,
        tags: Optional[Mapping[str, Mapping[str, str]]] = None,
        *,
        remove: Iterable[str] = (),
        keep_only: Optional[Set[str]] = None,
    ) -> Dict[str, Tags]:
        """Merge ``tags`` into the nodes' entries, drop the ``remove`` nodes and (with
        ``keep_only``) every node not in it, in one atomic change; return the result."""
        with self._lock, self._locked():
            nodes = self._read()
            before = json.dumps(nodes, sort_keys=True)
            for node_id, changes in (tags or {}).items():
                nodes[node_id] = {**nodes.get(node_id, {}), **changes}
            for node_id in remove:
                nodes.pop(node_id, None)
            if keep_only is not None:
                for node_id in [n for n in nodes if n not in keep_only]:
                    del nodes[node_id]
            if json.dumps(nodes, sort_keys=True) != before or not self.path.exists():
                self._write(nodes)
            return nodes

    def _locked(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self._file_lock

    def _read(self) -> Dict[str, Tags]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            logger.warning(
                "cannot read the state file %s (%s): rebuilding from the API", self.path, exc
            )
            return {}
        try:
            document = json.loads(raw)
        except ValueError:
            logger.warning("the state file %s is not JSON: rebuilding from the API", self.path)
            return {}
        return self._nodes_of(document)

    def _nodes_of(self, document: Any) -> Dict[str, Tags]:
        if not isinstance(document, dict) or document.get("version") != VERSION:
            logger.warning(
                "the state file %s has an unknown format: rebuilding from the API", self.path
            )
            return {}
        if document.get("api") != self.api or document.get("cluster") != self.cluster:
            logger.warning(
                "the state file %s belongs to another cluster or API: rebuilding from the API",
                self.path,
            )
            return {}
        nodes: Dict[str, Tags] = {}
        entries = document.get("nodes")
        if not isinstance(entries, dict):
            return {}
        for node_id, entry in entries.items():
            tags = entry.get("tags") if isinstance(entry, dict) else None
            if isinstance(node_id, str) and isinstance(tags, dict):
                nodes[node_id] = {str(k): str(v) for k, v in tags.items()}
        return nodes

    def _write(self, nodes: Mapping[str, Tags]) -> None:
        document = {
            "version": VERSION,
            "api": self.api,
            "cluster": self.cluster,
            "nodes": {node_id: {"tags": dict(tags)} for node_id, tags in sorted(nodes.items())},
        }
        directory = self.path.parent
        fd, temporary = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=1, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        _sync_directory(directory)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
