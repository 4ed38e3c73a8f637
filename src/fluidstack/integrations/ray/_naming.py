"""Where Ray's node tags live on each API, and how they are written there.

Ray describes every node with string tags (``ray-node-type: worker``, ...). Atlas instances
have tags, so Ray's tags are written into them at create (keys that break Atlas's key rule
are encoded reversibly). Platform instances have only a name, so the name carries what
must survive the loss of the provider's state file: the cluster, the node kind, the node
type and the launch-config hash.

Nothing here imports Ray: the tag names are Ray's own strings, checked against
``ray.autoscaler.tags`` by the tests.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import unquote

__all__ = [
    "TAG_CLUSTER_NAME",
    "TAG_LAUNCH_CONFIG",
    "TAG_NODE_KIND",
    "TAG_NODE_NAME",
    "TAG_NODE_STATUS",
    "TAG_USER_NODE_TYPE",
    "PlatformName",
    "atlas_instance_name",
    "from_atlas_tags",
    "to_atlas_tags",
]

# The tags Ray's autoscaler reads (ray.autoscaler.tags).
TAG_CLUSTER_NAME = "ray-cluster-name"
TAG_NODE_KIND = "ray-node-type"
TAG_NODE_NAME = "ray-node-name"
TAG_NODE_STATUS = "ray-node-status"
TAG_USER_NODE_TYPE = "ray-user-node-type"
TAG_LAUNCH_CONFIG = "ray-launch-config"
STATUS_UNINITIALIZED = "uninitialized"

# -- Atlas ---------------------------------------------------------------------------

_ATLAS_KEY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
ENCODED_KEY_PREFIX = "ray.x."
"""Atlas tag keys that stand for a Ray tag key Atlas would refuse: the prefix, then the
key's UTF-8 in lowercase base32 without padding."""
CLIENT_TOKEN_TAG = "fluidstack.client-token"
"""The SDK's safe-create tag: not one of Ray's tags, so never shown to Ray."""
SDK_TAGS = frozenset({CLIENT_TOKEN_TAG, "fluidstack.created-at"})
"""The tags the SDK writes on every create for its own use (``fluidstack.atlas.spend``):
never shown to Ray."""


def atlas_tag_key(key: str) -> Optional[str]:
    """The Atlas tag key for a Ray tag key; ``None`` when no Atlas key can hold it (an
    encoding longer than 63 characters): that tag is then kept only in the state file."""
    if _ATLAS_KEY.match(key) and not key.startswith(ENCODED_KEY_PREFIX):
        return key
    encoded = base64.b32encode(key.encode("utf-8")).decode("ascii").rstrip("=").lower()
    candidate = ENCODED_KEY_PREFIX + encoded
    return candidate if _ATLAS_KEY.match(candidate) else None


def ray_tag_key(key: str) -> str:
    """The Ray tag key an Atlas tag key stands for (the inverse of :func:`atlas_tag_key`)."""
    if not key.startswith(ENCODED_KEY_PREFIX):
        return key
    encoded = key[len(ENCODED_KEY_PREFIX) :].upper()
    try:
        return base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return key


def to_atlas_tags(tags: Mapping[str, str]) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Ray's tags as Atlas tags, and the tags no Atlas key can hold."""
    atlas: Dict[str, str] = {}
    left_out: Dict[str, str] = {}
    for key, value in tags.items():
        mapped = atlas_tag_key(key)
        if mapped is None:
            left_out[key] = value
        else:
            atlas[mapped] = value
    return atlas, left_out


def from_atlas_tags(tags: Mapping[str, str]) -> Dict[str, str]:
    """An Atlas instance's tags as Ray's tags (without the SDK's own tags)."""
    return {ray_tag_key(k): v for k, v in tags.items() if k not in SDK_TAGS}


def atlas_instance_name(cluster: str, kind: str, uid: str) -> str:
    """A readable, unique Atlas instance name: ``ray-<cluster>-<kind>-<uid>``. Only for
    people reading a listing: the provider finds its instances by their tags."""
    return f"ray-{_quote(cluster)}-{kind}-{uid}"


# -- the platform API ------------------------------------------------------------------

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_KIND = re.compile(r"^[a-z]+$")
_LAUNCH_HASH = re.compile(r"^[0-9a-f]{1,64}$")
_UID = re.compile(r"^[0-9a-f]{8}$")
NO_LAUNCH_HASH = "-"


def _quote(text: str) -> str:
    """Percent-encode every character but letters, digits, ``_`` and ``-`` (so ``.``, the
    separator of platform names, never appears inside a field)."""
    return "".join(
        ch if ch in _SAFE else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in text
    )


@dataclass(frozen=True)
class PlatformName:
    """What a platform instance's name says: ``ray.<cluster>.<kind>.<node type>.<launch
    hash>.<uid>``, the cluster and node type percent-encoded, e.g.
    ``ray.demo.worker.gpu_worker.6f1c...e2.1a2b3c4d``."""

    cluster: str
    kind: str
    node_type: str
    launch_hash: Optional[str]
    uid: str

    def render(self) -> str:
        launch = self.launch_hash or NO_LAUNCH_HASH
        return ".".join(
            ["ray", _quote(self.cluster), self.kind, _quote(self.node_type), launch, self.uid]
        )

    @classmethod
    def parse(cls, name: Optional[str]) -> Optional[PlatformName]:
        """The fields of a name this provider gave, or ``None`` for any other name."""
        if not name:
            return None
        parts = name.split(".")
        if len(parts) != 6 or parts[0] != "ray":
            return None
        _, cluster, kind, node_type, launch, uid = parts
        if not cluster or not _KIND.match(kind) or not _UID.match(uid):
            return None
        if launch != NO_LAUNCH_HASH and not _LAUNCH_HASH.match(launch):
            return None
        if any(ch not in _SAFE and ch != "%" for ch in cluster + node_type):
            return None
        try:
            cluster_text = unquote(cluster, errors="strict")
            node_type_text = unquote(node_type, errors="strict")
        except UnicodeDecodeError:
            return None
        return cls(
            cluster=cluster_text,
            kind=kind,
            node_type=node_type_text,
            launch_hash=None if launch == NO_LAUNCH_HASH else launch,
            uid=uid,
        )

    @classmethod
    def for_node(cls, cluster: str, tags: Mapping[str, str], uid: str) -> PlatformName:
        kind = tags.get(TAG_NODE_KIND, "worker")
        launch = tags.get(TAG_LAUNCH_CONFIG)
        return cls(
            cluster=cluster,
            kind=kind if _KIND.match(kind) else "worker",
            node_type=tags.get(TAG_USER_NODE_TYPE, ""),
            launch_hash=launch if launch and _LAUNCH_HASH.match(launch) else None,
            uid=uid,
        )

    def tags(self) -> Dict[str, str]:
        """The Ray tags the name preserves (what a rebuilt view knows without the state
        file); the status of a node known only by its name is ``uninitialized``."""
        tags = {
            TAG_CLUSTER_NAME: self.cluster,
            TAG_NODE_KIND: self.kind,
            TAG_NODE_NAME: f"ray-{self.cluster}-{self.kind}",
            TAG_NODE_STATUS: STATUS_UNINITIALIZED,
        }
        if self.node_type:
            tags[TAG_USER_NODE_TYPE] = self.node_type
        if self.launch_hash:
            tags[TAG_LAUNCH_CONFIG] = self.launch_hash
        return tags
