#!/usr/bin/env python3
"""Write docs/reference.md from the synchronous clients' signatures and docstrings
(the platform client, then the Atlas client).

    python scripts/gen_reference.py          # regenerate
    python scripts/gen_reference.py --check  # fail if docs/reference.md is stale (tests)

The async client has the same methods (awaited); the test suite checks that.
"""

from __future__ import annotations

import argparse
import ast
import enum
import inspect
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "reference.md"

GROUPS = [
    ("instances", "InstancesResource", "fluidstack.platform._sync.instances"),
    ("ssh_keys", "SshKeysResource", "fluidstack.platform._sync.ssh_keys"),
    ("configurations", "ConfigurationsResource", "fluidstack.platform._sync.catalog"),
    ("templates", "TemplatesResource", "fluidstack.platform._sync.catalog"),
    ("user", "UserResource", "fluidstack.platform._sync.account"),
    ("api_keys", "ApiKeysResource", "fluidstack.platform._sync.account"),
    ("auth", "AuthResource", "fluidstack.platform._sync.account"),
    ("payments", "PaymentsResource", "fluidstack.platform._sync.account"),
]

ATLAS_GROUPS = [
    ("regions", "RegionsResource", "fluidstack.atlas._sync.management"),
    ("organizations", "OrganizationsResource", "fluidstack.atlas._sync.management"),
    ("members", "MembersResource", "fluidstack.atlas._sync.management"),
    ("invitations", "InvitationsResource", "fluidstack.atlas._sync.management"),
    ("user_keys", "UserKeysResource", "fluidstack.atlas._sync.management"),
    ("clusters", "ClustersResource", "fluidstack.atlas._sync.management"),
    ("projects", "ProjectsResource", "fluidstack.atlas._sync.projects"),
    ("instances", "InstancesResource", "fluidstack.atlas._sync.instances"),
    ("filesystems", "FilesystemsResource", "fluidstack.atlas._sync.projects"),
    ("instance_types", "InstanceTypesResource", "fluidstack.atlas._sync.catalog"),
    ("capacity", "CapacityResource", "fluidstack.atlas._sync.catalog"),
    ("capabilities", "CapabilitiesResource", "fluidstack.atlas._sync.catalog"),
    ("kubernetes.clusters", "KubernetesClustersResource", "fluidstack.atlas._sync.orchestrators"),
    (
        "kubernetes.node_pools",
        "KubernetesNodePoolsResource",
        "fluidstack.atlas._sync.orchestrators",
    ),
    ("slurm.clusters", "SlurmClustersResource", "fluidstack.atlas._sync.orchestrators"),
    ("slurm.node_pools", "SlurmNodePoolsResource", "fluidstack.atlas._sync.orchestrators"),
    ("slurm.jobs", "SlurmJobsResource", "fluidstack.atlas._sync.slurm_jobs"),
]


def _annotation(text: str) -> str:
    # A name given as a string in a runtime type (`Id` names "uuid.UUID" so that the
    # SDK need not import uuid) reads as the name itself.
    text = re.sub(r"ForwardRef\('([^']*)'[^)]*\)", r"\1", text)
    text = re.sub(r"\b(?:typing|fluidstack\.[\w.]+)\.", "", text)
    return text.replace("NoneType", "None")


def _type_arguments(cls: Any) -> Dict[str, str]:
    """What a resource's generic bases stand for (``InstanceRef`` of the SSH methods:
    ``Union[str, InstanceResponse]``), so that inherited signatures read as its own."""
    import typing

    found: Dict[str, str] = {}
    for klass in inspect.getmro(cls):
        for base in getattr(klass, "__orig_bases__", ()):
            origin = typing.get_origin(base)
            params = getattr(origin, "__parameters__", ())
            for param, arg in zip(params, typing.get_args(base)):
                shown = arg.__name__ if isinstance(arg, type) else _annotation(str(arg))
                found.setdefault(param.__name__, shown)
    return found


def _bind(text: str, type_arguments: Optional[Dict[str, str]]) -> str:
    """``text`` with each type variable of a generic base (``C`` of ``Clusters[C]``)
    spelled as what the resource binds it to, wherever it appears (``List[C]``)."""
    for name, value in (type_arguments or {}).items():
        text = re.sub(rf"\b{re.escape(name)}\b", value, text)
    return text


def _signature(func: Any, type_arguments: Optional[Dict[str, str]] = None) -> str:
    sig = inspect.signature(func)
    parts = []
    star = False
    for param in list(sig.parameters.values())[1:]:
        if param.kind is param.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = param.name
        if param.kind is param.VAR_KEYWORD:
            text = "**" + text
        elif param.kind is param.VAR_POSITIONAL:
            text = "*" + text
            star = True
        if param.annotation is not param.empty:
            text += f": {_bind(_annotation(str(param.annotation)), type_arguments)}"
        if param.default is not param.empty:
            default = param.default
            shown = (
                f"{type(default).__name__}.{default.name}"
                if isinstance(default, enum.Enum)
                else repr(default)
            )
            text += f" = {shown}"
        parts.append(text)
    returns = _bind(_annotation(str(sig.return_annotation)), type_arguments)
    one_line = f"({', '.join(parts)}) -> {returns}"
    if len(one_line) <= 80:
        return one_line
    body = "".join(f"    {p},\n" for p in parts)
    return f"(\n{body}) -> {returns}"


def _doc(func: Any) -> str:
    return inspect.cleandoc(func.__doc__ or "").strip()


def render() -> str:

    from fluidstack.platform.client import FluidStack

    out: List[str] = [
        "# API reference",
        "",
        "<!-- Generated by scripts/gen_reference.py from the code: do not edit by hand. -->",
        "",
        "Every method exists on `FluidStack` and, awaited, on `AsyncFluidStack`, with the",
        "same parameters. Path parameters are positional; everything else is keyword-only.",
        "Every method also takes `request_options` (see",
        "[`RequestOptions`](#requestoptions)) and raises a subclass of",
        "`fluidstack.core.ApiError` on failure. `client.<group>.with_raw_response.<method>`",
        "returns a `RawResponse` (`status_code`, `headers`, `parse()`) instead.",
        "",
        "## Client",
        "",
        "```python",
        f"FluidStack{_signature(FluidStack.__init__).split(' -> ')[0]}",
        "```",
        "",
        _doc(FluidStack),
        "",
        "### `client.healthcheck`",
        "",
        "```python",
        f"client.healthcheck{_signature(FluidStack.healthcheck)}",
        "```",
        "",
        _doc(FluidStack.healthcheck),
        "",
    ]
    from fluidstack import AioHttpClient

    out += [
        "### `fluidstack.AioHttpClient`",
        "",
        "```python",
        f"AioHttpClient{_signature(AioHttpClient.__init__).split(' -> ')[0]}",
        "```",
        "",
        _doc(AioHttpClient),
        "",
    ]
    out += _groups("client", GROUPS)
    out += _atlas()
    from fluidstack.core.request_options import RequestOptions

    out += [
        "## `RequestOptions`",
        "",
        _doc(RequestOptions),
        "",
        "| key | type | meaning |",
        "| --- | --- | --- |",
    ]
    for key, (hint, text) in _typed_dict_fields(RequestOptions).items():
        out.append(f"| `{key}` | `{hint}` | {text} |")
    out.append("")
    return "\n".join(out)


def _groups(prefix: str, groups: List[Tuple[str, str, str]]) -> List[str]:
    import importlib

    out: List[str] = []
    for group, cls_name, module in groups:
        cls = getattr(importlib.import_module(module), cls_name)
        out += [f"## `{prefix}.{group}`", "", _doc(cls), ""]
        type_arguments = _type_arguments(cls)
        for name, func in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            target = getattr(func, "__wrapped__", func)
            out += [
                f"### `{prefix}.{group}.{name}`",
                "",
                "```python",
                f"{prefix}.{group}.{name}{_signature(target, type_arguments)}",
                "```",
                "",
                _doc(target),
                "",
            ]
    return out


def _atlas() -> List[str]:
    from fluidstack.atlas import Atlas

    return [
        "# Atlas",
        "",
        "Every method exists on `fluidstack.atlas.Atlas` and, awaited, on `AsyncAtlas`, with",
        "the same parameters. Calls about instances, filesystems, capacity and clusters go",
        "to the client's region and project; `atlas.with_options(region=..., project_id=...)`",
        "makes a view on others. See [the Atlas guide](atlas.md). In signatures, `Id` is a",
        "`str` or `uuid.UUID`, `Tags` a `dict[str, str]`, `UserData` text, bytes or `None`,",
        "and `Filesystems` a list of filesystems or their ids.",
        "",
        "## Atlas client",
        "",
        "```python",
        f"Atlas{_signature(Atlas.__init__).split(' -> ')[0]}",
        "```",
        "",
        _doc(Atlas),
        "",
        "### `atlas.with_options`",
        "",
        "```python",
        f"atlas.with_options{_signature(Atlas.with_options)}",
        "```",
        "",
        _doc(Atlas.with_options),
        "",
        *_groups("atlas", ATLAS_GROUPS),
    ]


def _typed_dict_fields(cls: Any) -> Dict[str, Tuple[str, str]]:
    """Each key's annotation and the docstring written under it, read from the source
    (attribute docstrings do not exist at run time)."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    fields: Dict[str, Tuple[str, str]] = {}
    for node, following in zip(body, [*body[1:], None]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            text = ""
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                text = " ".join(str(following.value.value).split())
            fields[node.target.id] = (ast.unparse(node.annotation), text)
    return fields


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print("docs/reference.md is stale: run python scripts/gen_reference.py")
            return 1
        return 0
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
