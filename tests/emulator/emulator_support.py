"""Helpers for the emulator tests: the vendor spec, response conformance, SSH keys."""

from __future__ import annotations

import base64
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import httpx
import jsonschema

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGED_SPEC = REPO_ROOT / "src" / "fluidstack" / "emulator" / "platform" / "spec"
SHARED_SPEC = REPO_ROOT.parent / "shared" / "spec"
ClientFactory = Callable[..., httpx.Client]
"""The ``client_factory`` fixture: ``(api_key="default", validate=True, **httpx_kwargs)``."""

SPEC_FILES = ("openapi.json", "openapi-2024-06-03.json", "openapi-2024-05-24.json")
"""Newest first: a route is checked against the newest definition that describes it."""


def spec_dir() -> Path:
    """The packaged copy of the vendor definitions, else ``../shared/spec`` beside the repo."""
    for candidate in (PACKAGED_SPEC, SHARED_SPEC):
        if all((candidate / name).is_file() for name in SPEC_FILES):
            return candidate
    raise FileNotFoundError(f"no OpenAPI files in {PACKAGED_SPEC} or {SHARED_SPEC}")


def load_spec(name: str = "openapi.json") -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads((spec_dir() / name).read_text(encoding="utf-8"))
    return data


def public_key(key_type: str = "ssh-ed25519", comment: str = "dev@example.com") -> str:
    """A syntactically valid OpenSSH public key line of ``key_type``."""
    name = key_type.encode()
    blob = struct.pack(">I", len(name)) + name + struct.pack(">I", 32) + bytes(range(32))
    return f"{key_type} {base64.b64encode(blob).decode()} {comment}"


# -- conformance ---------------------------------------------------------------------

MESSAGE_FALLBACK = {
    400: "spec silent on 400: business-rule refusals (unknown ssh_key, unknown combination)",
    402: "spec silent on 402: creating with an exhausted balance",
    404: "spec silent on 404: unknown or another account's resource",
    405: "spec silent on 405: method not allowed",
    409: "spec silent on 409: out of stock, state conflicts, duplicate names, idempotency",
    413: "spec silent on 413: bodies over 1 MiB",
    415: "spec silent on 415: a body that is not JSON",
}
"""Undocumented business statuses: the body is checked against the spec's ``Message``
(the documented 401 shape) instead of a per-status schema. The relaxed check."""

UNDOCUMENTED_ROUTES = {
    ("PUT", "/instances/{instance_id}/rename"): ("200", "ListInstanceResponse"),
}
"""Routes in no definition (README: 'used by existing clients of the real API')."""


@dataclass
class Observation:
    method: str
    template: str
    status: int
    relaxed: Optional[str]


@dataclass
class Conformance:
    """Validates emulator responses against the vendor definitions."""

    specs: List[Dict[str, Any]] = field(default_factory=list)
    seen: List[Observation] = field(default_factory=list)
    _routes: List[Tuple[re.Pattern[str], str, str, Dict[str, Any], Dict[str, Any]]] = field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        if not self.specs:
            self.specs = [load_spec(name) for name in SPEC_FILES]
        # The 2024-06-03 definition's unhealthy and shutting_down are statuses of the same
        # service that the newest one leaves out: each definition accepts them all.
        statuses: List[str] = []
        for spec in self.specs:
            for value in spec["components"]["schemas"].get("InstanceStatus", {}).get("enum", []):
                if value not in statuses:
                    statuses.append(value)
        for spec in self.specs:
            if "InstanceStatus" in spec["components"]["schemas"]:
                spec["components"]["schemas"]["InstanceStatus"]["enum"] = list(statuses)
        covered: Set[Tuple[str, str]] = set()
        for spec in self.specs:
            for template, item in spec["paths"].items():
                pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
                for method, operation in item.items():
                    key = (method.upper(), re.sub(r"\{[^}]+\}", "{}", template))
                    if key in covered:
                        continue
                    covered.add(key)
                    self._routes.append((pattern, method.upper(), template, operation, spec))
        # Literal paths before templated ones (``/ssh_keys`` vs ``/ssh_keys/{name}``).
        self._routes.sort(key=lambda r: r[2].count("{"))

    def _validator(self, schema: Dict[str, Any], spec: Dict[str, Any]) -> Any:
        root = dict(schema)
        root["components"] = spec["components"]
        return jsonschema.Draft202012Validator(
            root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )

    def _schema(self, operation: Dict[str, Any], status: str) -> Optional[Dict[str, Any]]:
        response = operation.get("responses", {}).get(status)
        if response is None:
            return None
        content = response.get("content") or {}
        media = content.get("application/json")
        if media is None:
            return {}
        schema: Dict[str, Any] = media.get("schema", {})
        return schema

    def check(self, method: str, path: str, status: int, body: bytes) -> Observation:
        """Validate one response; raises ``AssertionError`` on a mismatch."""
        route = next(
            (r for r in self._routes if r[1] == method and r[0].match(path)),
            None,
        )
        relaxed: Optional[str] = None
        main = self.specs[0]
        if method == "HEAD" or status in (204, 304):
            assert body == b"", f"{method} {path} -> {status} must have no body"
            template = route[2] if route else path
            return self._record(method, template, status, None)
        payload = json.loads(body)
        if route is None:
            undocumented = next(
                (
                    (k, v)
                    for k, v in UNDOCUMENTED_ROUTES.items()
                    if k[0] == method
                    and re.match("^" + re.sub(r"\{[^}]+\}", "[^/]+", k[1]) + "$", path)
                ),
                None,
            )
            if undocumented is not None and status < 400:
                (_, template), (_, schema_name) = undocumented
                relaxed = "route in no definition: checked against " + schema_name
                schema = {"$ref": f"#/components/schemas/{schema_name}"}
                self._validate(schema, main, payload, method, path, status)
                return self._record(method, template, status, relaxed)
            template = undocumented[0][1] if undocumented else path
            schema = self._error_schema(status, main)
            relaxed = "route or status not in any definition"
            self._validate(schema, main, payload, method, path, status)
            return self._record(method, template, status, relaxed)
        _, _, template, operation, spec = route
        schema_or_none = self._schema(operation, str(status))
        if schema_or_none is None and status == 202 and template == "/instances/{instance_id}":
            # The description says 202 while pending; only 200 is documented.
            relaxed = "202 while pending/provisioning: checked against the 200 schema"
            schema_or_none = self._schema(operation, "200")
        if schema_or_none is None and status in (200, 201):
            # Older definitions answer 201 where the newest answers 200 (and vice versa).
            other = "201" if status == 200 else "200"
            schema_or_none = self._schema(operation, other)
            relaxed = f"{status} where the definition documents {other}"
        if schema_or_none is None:
            schema_or_none = self._error_schema(status, main)
            relaxed = MESSAGE_FALLBACK.get(status, "undocumented status")
        self._validate(schema_or_none, spec, payload, method, path, status)
        return self._record(method, template, status, relaxed)

    def _error_schema(self, status: int, main: Dict[str, Any]) -> Dict[str, Any]:
        assert status >= 400, f"an undocumented success status {status}"
        if status == 422:
            return {"$ref": "#/components/schemas/HTTPValidationError"}
        return {"$ref": "#/components/schemas/Message"}

    def _validate(
        self,
        schema: Dict[str, Any],
        spec: Dict[str, Any],
        payload: Any,
        method: str,
        path: str,
        status: int,
    ) -> None:
        errors = sorted(self._validator(schema, spec).iter_errors(payload), key=str)
        assert not errors, f"{method} {path} -> {status} does not conform: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
        )

    def _record(
        self, method: str, template: str, status: int, relaxed: Optional[str]
    ) -> Observation:
        observation = Observation(method, template, status, relaxed)
        self.seen.append(observation)
        return observation

    def check_response(self, response: httpx.Response) -> Observation:
        response.read()
        return self.check(
            response.request.method,
            response.request.url.path,
            response.status_code,
            response.content,
        )

    def operations(self) -> Set[Tuple[str, str]]:
        """Every (method, path) the definitions describe (webhooks excluded)."""
        return {(r[1], r[2]) for r in self._routes if not r[2].startswith("/webhooks/")}
