"""Helpers for the Atlas tests: the Atlas specs (packaged copies), response conformance
against them, tokens, and clients on the management and regional APIs."""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import httpx
import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ATLAS_SPEC = REPO_ROOT / "src" / "fluidstack" / "emulator" / "atlas" / "spec"
REGIONAL = "regional.openapi.yaml"
MANAGEMENT = "management.openapi.yaml"
INFRASTRUCTURE = "infrastructure.openapi.yaml"
"""The newer regional contract (NOTES.md section 10): it has the Kubernetes and Slurm
operations the older ``regional.openapi.yaml`` lacks, and wins where the two differ."""
REGION_PATH = re.compile(r"^/regions/[^/]+/api/v1alpha1(/.*)$")
MANAGEMENT_PATH = re.compile(r"^/api/v1alpha1(/.*)$")

AtlasFactory = Callable[..., httpx.Client]
"""The ``atlas_factory`` fixture: ``(api="management"|region, project=None, token=...)``."""

UNDECLARED = {
    400: "400 where the spec declares none: X-PROJECT-ID missing/not a uuid, wrong content type",
    401: "401 where the spec declares none: the regional spec lists no 401 (bodiless in Go)",
    403: "403: X-ORG-ID of another organization (later docs list 403, NOTES 8.2)",
    404: "404 where the spec declares none: X-PROJECT-ID of no project of the caller",
    405: "405: method not allowed on an Atlas path",
    409: "409 where the spec declares none: project/filesystem still in use, a cluster "
    "that still has node pools",
    413: "413: body over 1 MiB",
    501: "501: capability missing in the region",
    502: "502: injected by a fault rule",
    503: "503: injected by a fault rule",
}
"""Undeclared error statuses: bodies are checked against the spec's ``Error`` instead."""

TOKEN_SCHEMA = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string", "minLength": 20},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "minimum": 1},
        "refresh_token": {"type": "string", "minLength": 40},
        "scope": {"type": "string"},
    },
}
OAUTH_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "error_description"],
    "properties": {
        "error": {
            "enum": [
                "invalid_request",
                "invalid_client",
                "unsupported_grant_type",
                "access_denied",
                "invalid_grant",
                "too_many_attempts",
            ]
        },
        "error_description": {"type": "string"},
    },
}


def load_yaml(name: str) -> Dict[str, Any]:
    data: Dict[str, Any] = yaml.safe_load((ATLAS_SPEC / name).read_text(encoding="utf-8"))
    return data


def to_json_schema(schema: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: ``nullable: true`` becomes ``null`` allowed."""
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {k: to_json_schema(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@dataclass
class Observation:
    spec: str
    method: str
    template: str
    status: int
    relaxed: Optional[str]


@dataclass
class AtlasConformance:
    """Validates Atlas responses against ``management.openapi.yaml`` and, for a region's
    API, the first of ``regional`` that declares the operation (by default the older
    ``regional.openapi.yaml``, then ``infrastructure.openapi.yaml`` for what only it
    has); remembers what it saw."""

    seen: List[Observation] = field(default_factory=list)
    regional: Tuple[str, ...] = (REGIONAL, INFRASTRUCTURE)

    def __post_init__(self) -> None:
        self.specs = {name: load_yaml(name) for name in (REGIONAL, MANAGEMENT, INFRASTRUCTURE)}
        self._routes: Dict[str, List[Tuple[re.Pattern[str], str, Dict[str, Any]]]] = {}
        for name, spec in self.specs.items():
            routes = []
            for template, item in spec["paths"].items():
                pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
                routes.append((pattern, template, item))
            routes.sort(key=lambda r: r[1].count("{"))
            self._routes[name] = routes

    def _validate(self, schema: Any, spec: Dict[str, Any], payload: Any, where: str) -> None:
        root = to_json_schema(copy.deepcopy(schema))
        if isinstance(root, dict):
            root = {**root, "components": to_json_schema(spec.get("components", {}))}
        validator = jsonschema.Draft202012Validator(
            root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        errors = sorted(validator.iter_errors(payload), key=str)
        assert not errors, f"{where} does not conform: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
        )

    def check(
        self,
        method: str,
        path: str,
        status: int,
        body: bytes,
        headers: Optional[httpx.Headers] = None,
    ) -> Observation:
        where = f"{method} {path} -> {status}"
        if path == "/oauth/token":
            import json

            payload = json.loads(body)
            schema = TOKEN_SCHEMA if status == 200 else OAUTH_ERROR_SCHEMA
            if status == 405:
                schema = {"$ref": "#/components/schemas/Error"}
            self._validate(schema, self.specs[MANAGEMENT], payload, where)
            return self._record("oauth", method, path, status, "not in either spec")
        match = REGION_PATH.match(path)
        names: Tuple[str, ...] = self.regional
        if match is None:
            match = MANAGEMENT_PATH.match(path)
            names = (MANAGEMENT,)
        assert match is not None, f"{where}: not an Atlas path"
        rest = match.group(1)
        for name in names:  # the first spec with this operation judges it
            route = next((r for r in self._routes[name] if r[0].match(rest)), None)
            operation = route[2].get(method.lower()) if route is not None else None
            template = route[1] if route is not None else rest
            if operation is not None:
                break
        spec = self.specs[name]
        if operation is None:
            assert status in (401, 404, 405), f"{where}: no such operation in {name}"
            return self._error(name, method, template, status, body, where, "no such operation")
        response = operation["responses"].get(str(status))
        if response is None:
            assert status >= 400, f"{where}: undeclared success status"
            return self._error(name, method, template, status, body, where, None)
        if "$ref" in response:
            response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
        for header in response.get("headers") or {}:
            assert headers is None or header in headers, f"{where}: no {header} header"
        contents = response.get("content") or {}
        content = contents.get("application/json")
        if content is None and "application/yaml" in contents:
            # A kubeconfig: the contract's schema is a string of format byte (base64).
            schema = contents["application/yaml"]["schema"]
            assert schema.get("format") == "byte", f"{where}: an unexpected YAML schema"
            assert headers is None or headers["content-type"].startswith("application/yaml")
            decoded = base64.b64decode(body, validate=True)
            assert isinstance(yaml.safe_load(decoded), dict), f"{where}: not a YAML document"
            return self._record(name, method, template, status, None)
        if content is None:
            assert body == b"", f"{where} must have no body"
            return self._record(name, method, template, status, None)
        import json

        self._validate(content["schema"], spec, json.loads(body), where)
        return self._record(name, method, template, status, None)

    def _error(
        self,
        name: str,
        method: str,
        template: str,
        status: int,
        body: bytes,
        where: str,
        reason: Optional[str],
    ) -> Observation:
        import json

        relaxed = reason or UNDECLARED.get(status)
        assert relaxed is not None, f"{where}: undeclared status with no documented reason"
        self._validate(
            {"$ref": "#/components/schemas/Error"}, self.specs[name], json.loads(body), where
        )
        return self._record(name, method, template, status, relaxed)

    def _record(
        self, spec: str, method: str, template: str, status: int, relaxed: Optional[str]
    ) -> Observation:
        observation = Observation(spec, method, template, status, relaxed)
        self.seen.append(observation)
        return observation

    def check_response(self, response: httpx.Response) -> None:
        response.read()
        self.check(
            response.request.method,
            response.request.url.path,
            response.status_code,
            response.content,
            response.headers,
        )

    def operations(
        self, names: Tuple[str, ...] = (REGIONAL, MANAGEMENT)
    ) -> Set[Tuple[str, str, str]]:
        """Every (spec, method, template) of the specs ``names`` (by default the older
        regional one and the management one)."""
        result = set()
        for name in names:
            spec = self.specs[name]
            for template, item in spec["paths"].items():
                for method in item:
                    if method in ("get", "post", "put", "patch", "delete"):
                        result.add((name, method.upper(), template))
        return result


def fetch_token(base_url: str, client_id: str, client_secret: str) -> str:
    response = httpx.post(
        f"{base_url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "audience": "https://api.fluidstack.io",
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
