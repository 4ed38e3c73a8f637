"""Shell completion of live Atlas names: regions, projects, instances, instance types,
Kubernetes and Slurm clusters and their node pools.

Each asks the API with the profile's credentials through an impatient client (3 s, no
retries) and completes nothing on any error: a completion must never hang or print.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List

import click

if TYPE_CHECKING:
    from fluidstack.atlas import Atlas

__all__ = [
    "complete_clusters",
    "complete_instances",
    "complete_node_pools",
    "complete_projects",
    "complete_regions",
    "complete_types",
]


def _client(ctx: click.Context) -> Atlas:
    from ..state import CliState
    from .session import _build, resolve_atlas

    root = ctx.find_root().params
    state = CliState(profile=root.get("profile"))
    group = ctx
    while group.parent is not None and group.info_name != "atlas":
        group = group.parent
    state.atlas_region = group.params.get("region")
    state.atlas_project = group.params.get("project")
    settings = resolve_atlas(state)
    if settings.credentials_source is None:
        raise LookupError("not logged in")
    return _build(state, settings, timeout=3.0, max_retries=0, on_token=None)


def _completer(
    list_items: Callable[[Atlas], List[Any]],
) -> Callable[[click.Context, click.Parameter, str], List[Any]]:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[Any]:
        from click.shell_completion import CompletionItem

        try:
            client = _client(ctx)
            try:
                items = list_items(client)
            finally:
                client.close()
        except Exception:
            return []
        return [
            CompletionItem(value, help=text)
            for value, text in items
            if str(value).startswith(incomplete)
        ]

    return complete


complete_regions = _completer(lambda a: [(r.name, r.url) for r in a.regions.list()])


def _projects(atlas: Atlas) -> List[Any]:
    projects = atlas.projects.list()
    return [(p.name, p.id) for p in projects] + [(p.id, p.name) for p in projects]


complete_projects = _completer(_projects)


def _instances(atlas: Atlas) -> List[Any]:
    found = atlas.instances.list()  # names too: every instance command takes one
    return [(i.id, f"{i.name} ({i.state})") for i in found] + [
        (i.name, f"{i.id} ({i.state})") for i in found if i.name
    ]


complete_instances = _completer(_instances)
complete_types = _completer(
    lambda a: [
        (t.name, f"{t.gpu_count}x {t.gpu_model}" if t.gpu_count else f"{t.cpu} CPUs")
        for t in a.instance_types.list()
    ]
)


def complete_clusters(kind: str) -> Callable[[click.Context, click.Parameter, str], List[Any]]:
    """Cluster ids (and names) of ``kind`` (``kubernetes`` or ``slurm``)."""

    def clusters(atlas: Atlas) -> List[Any]:
        found = getattr(atlas, kind).clusters.list()
        return [(c.id, c.name) for c in found] + [(c.name, c.id) for c in found]

    return _completer(clusters)


def complete_node_pools(kind: str) -> Callable[[click.Context, click.Parameter, str], List[Any]]:
    """Node pool ids (and names) of the cluster given before them on the command line."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[Any]:
        cluster = ctx.params.get("cluster")
        if not cluster:
            return []

        def pools(atlas: Atlas) -> List[Any]:
            resource = getattr(atlas, kind)
            clusters = resource.clusters.list()
            ident = next((c.id for c in clusters if cluster in (c.id, c.name)), cluster)
            found = resource.node_pools.list(ident)
            return [(p.id, f"{p.name} ({p.type})") for p in found] + [(p.name, p.id) for p in found]

        return _completer(pools)(ctx, param, incomplete)

    return complete
