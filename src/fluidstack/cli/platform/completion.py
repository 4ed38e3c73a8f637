"""Shell completion for the platform API's commands: GPU types, regions and operating
systems from the SDK's enums, instance ids from the API (through an impatient client:
3 s, no retries, nothing completed on any error, so a completion never hangs)."""

from __future__ import annotations

from typing import Any, List

import click

__all__ = [
    "complete_gpu_types",
    "complete_instances",
    "complete_os",
    "complete_regions",
    "completion_client",
]


def complete_gpu_types(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    from fluidstack.platform.types.enums import GPUType

    return [g.value for g in GPUType if g.value.lower().startswith(incomplete.lower())]


def complete_regions(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    from fluidstack.platform.types.enums import Region

    return [r.value for r in Region if r.value.lower().startswith(incomplete.lower())]


def complete_os(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    from fluidstack.platform.types.enums import SupportedOperatingSystem

    return [o.value for o in SupportedOperatingSystem if o.value.startswith(incomplete)]


def complete_instances(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
    """Instance ids and names from the API (with the other and the status as help);
    nothing on any error. Every instance command takes a name as well as an id."""
    from click.shell_completion import CompletionItem

    try:
        found = completion_client(ctx).instances.list()
    except Exception:
        return []
    items = [(i.id, f"{i.name or ''} ({i.status})") for i in found]
    items += [(i.name, f"{i.id} ({i.status})") for i in found if i.name]
    return [CompletionItem(v, help=text) for v, text in items if v.startswith(incomplete)]


def completion_client(ctx: click.Context) -> Any:
    """A short-lived, impatient client built from the root options seen so far."""
    from fluidstack.platform._sync.client import FluidStack

    from ..config import resolve

    params = ctx.find_root().params
    settings = resolve(
        api_key=params.get("api_key"),
        base_url=params.get("base_url"),
        profile=params.get("profile"),
    )
    if settings.api_key is None:
        raise LookupError("no API key")
    client = FluidStack(
        api_key=settings.api_key, base_url=settings.base_url, timeout=3.0, max_retries=0
    )
    ctx.call_on_close(client.close)
    return client
