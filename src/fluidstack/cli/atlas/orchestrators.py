"""What ``fluidstack atlas kubernetes`` and ``fluidstack atlas slurm`` share: the
``clusters`` and ``node-pools`` groups (list, get, create, delete, wait), made once for
each kind of cluster by :func:`add_cluster_groups`. Each kind's own commands
(``kubeconfig``, ``ssh``) are in :mod:`.kubernetes` and :mod:`.slurm`.

A CLUSTER (or POOL) argument is an id or a name: a name is looked up in the listing, so
``fluidstack atlas kubernetes kubeconfig train`` works as well as the id.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import click

from ..state import (
    AliasedGroup,
    CliError,
    CliState,
    InputError,
    confirm_or_require_yes,
    output_options,
    pass_state,
)
from ..waiting import WaitDisplay, elapsed_text, wait_options
from .completion import complete_clusters, complete_node_pools, complete_types
from .session import _is_uuid, atlas_client

__all__ = ["Kind", "add_cluster_groups", "explained"]


class Kind:
    """One kind of cluster: ``kubernetes`` or ``slurm``."""

    __slots__ = ("name", "title")

    def __init__(self, name: str, title: str) -> None:
        self.name = name
        """The SDK attribute and the command word (``kubernetes``, ``slurm``)."""
        self.title = title
        """How messages name it (``Kubernetes``, ``Slurm``)."""

    @property
    def prog(self) -> str:
        return f"fluidstack atlas {self.name}"

    def resource(self, state: CliState) -> Any:
        """``atlas.kubernetes`` or ``atlas.slurm`` of the command's client."""
        return getattr(atlas_client(state), self.name)


# -- ids, names and errors ---------------------------------------------------------------


def _where(state: CliState) -> str:
    atlas = atlas_client(state)
    return f"region {atlas.region or '?'}, project {atlas.project_id or '?'}"


@contextlib.contextmanager
def explained(
    state: CliState, kind: Kind, cluster: str, pool: Optional[str] = None
) -> Iterator[None]:
    """Turn a 404 into a message naming the id and where it was looked for, and a 409
    on a cluster into what to do about it (the server's own words kept)."""
    from fluidstack.core.errors import ConflictError, NotFoundError

    try:
        yield
    except NotFoundError as exc:
        if pool is None:
            what = f"{kind.title} cluster {cluster}"
            hint = f"{kind.prog} clusters list"
        else:
            what = f"node pool {pool} of {kind.title} cluster {cluster}"
            hint = f"{kind.prog} node-pools list {cluster}"
        raise CliError(f"{what} not found ({_where(state)}): {exc}. See `{hint}`") from None
    except ConflictError as exc:
        if pool is not None:
            raise
        raise CliError(
            f"{kind.title} cluster {cluster}: {exc}. A cluster's node pools must be "
            f"deleted first: `{kind.prog} node-pools list {cluster}`, then "
            f"`{kind.prog} node-pools delete {cluster} POOL`"
        ) from None


def _pick(items: List[Any], text: str, what: str, hint: str) -> Any:
    """The one item whose id, else whose name, is ``text``."""
    for item in items:
        if item.id == text:
            return item
    named = [item for item in items if item.name == text]
    if len(named) == 1:
        return named[0]
    if not named:
        raise CliError(f"no {what} with the id or name {text!r}: see `{hint}`")
    ids = ", ".join(item.id for item in named)
    raise InputError(f"{len(named)} {what}s are named {text!r} ({ids}): pass the id instead")


def cluster_id(state: CliState, kind: Kind, text: str) -> str:
    """The id of the cluster given as ``text`` (an id as it is, a name looked up)."""
    if _is_uuid(text):
        return text
    found = kind.resource(state).clusters.list()
    picked = _pick(found, text, f"{kind.title} cluster", f"{kind.prog} clusters list")
    return str(picked.id)


def pool_id(state: CliState, kind: Kind, cluster: str, text: str) -> str:
    """The id of the node pool ``text`` (id or name) of cluster ``cluster`` (an id)."""
    if _is_uuid(text):
        return text
    with explained(state, kind, cluster):
        found = kind.resource(state).node_pools.list(cluster)
    picked = _pick(found, text, "node pool", f"{kind.prog} node-pools list {cluster}")
    return str(picked.id)


# -- waiting -------------------------------------------------------------------------------


def _pool_status(pool: Any) -> str:
    if pool is None:
        return "deleted"
    wanted = len(pool.nodes) if pool.count is None else pool.count
    return f"{pool.ready_nodes}/{wanted} nodes ready"


def wait_for_pool(
    state: CliState,
    kind: Kind,
    cluster: str,
    pool: str,
    until: str,
    timeout: float,
    poll_interval: float,
) -> Any:
    """``node_pools.wait`` with a live line on stderr (``2/3 nodes ready``). Ctrl-C and a
    timeout leave the pool as it is and say how to keep waiting or delete it."""
    from fluidstack.core.errors import WaitTimeoutError

    resource = kind.resource(state)
    display = WaitDisplay(state, f"node pool {pool}", until, status_of=_pool_status)
    keep = f"{kind.prog} node-pools wait {cluster} {pool}"
    delete = f"{kind.prog} node-pools delete {cluster} {pool}"
    try:
        with display, explained(state, kind, cluster, pool):
            found = resource.node_pools.wait(
                cluster,
                pool,
                until=until,
                timeout=timeout,
                poll_interval=poll_interval,
                on_poll=display.on_poll,
            )
    except KeyboardInterrupt:
        click.echo(
            f"\nStopped waiting after {elapsed_text(display.elapsed)}. Node pool {pool} was "
            f"left as it is.\n  Keep waiting: {keep}\n  Delete it:    {delete}",
            err=True,
        )
        click.get_current_context().exit(130)
    except WaitTimeoutError:
        state.info(f"Node pool {pool} was left as it is. Keep waiting with `{keep}`.")
        raise
    state.info(f"Node pool {pool} is {until} after {elapsed_text(display.elapsed)}.")
    return found


def _complete(kind: Kind, cluster: Any) -> bool:
    """Whether a new cluster shows all the contract lets it show: a Kubernetes cluster
    its API ``endpoint``, a Slurm cluster a login node with a ``publicIP`` (the API
    gives clusters no state to wait for)."""
    if kind.name == "kubernetes":
        return bool(getattr(cluster, "endpoint", None))
    return any(n.public_ip for n in getattr(cluster, "login_nodes", []))


def _settle(state: CliState, kind: Kind, cluster: Any, timeout: float, poll_interval: float) -> Any:
    """Poll a new cluster until :func:`_complete`, within ``timeout`` seconds."""
    from fluidstack.core.errors import WaitTimeoutError

    resource = kind.resource(state)
    deadline = time.monotonic() + timeout
    delay = poll_interval
    while not _complete(kind, cluster):
        if time.monotonic() + delay > deadline:
            raise WaitTimeoutError(
                f"{kind.title} cluster {cluster.id} was not complete after {timeout:g}s",
                instance=cluster,
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 30.0)
        with explained(state, kind, cluster.id):
            cluster = resource.clusters.get(cluster.id)
    return cluster


# -- the groups --------------------------------------------------------------------------


def _show_cluster(state: CliState, kind: Kind, cluster: Any) -> None:
    def table() -> Any:
        from .render import cluster_detail

        return cluster_detail(cluster, kind.name)

    state.emit(cluster, table=table, ids=[cluster.id])


def _show_pool(state: CliState, kind: Kind, pool: Any, cluster: str) -> None:
    def table() -> Any:
        from .render import node_pool_detail

        return node_pool_detail(pool, kind.name, cluster)

    state.emit(pool, table=table, ids=[pool.id])


def add_cluster_groups(group: click.Group, kind: Kind) -> None:
    """Add ``clusters`` and ``node-pools`` for ``kind`` to ``group``."""
    group.add_command(_clusters_group(kind))
    group.add_command(_node_pools_group(kind))


def _clusters_group(kind: Kind) -> click.Group:
    clusters = AliasedGroup("clusters", help=f"The project's {kind.title} clusters in the region.")
    complete = complete_clusters(kind.name)
    cluster_argument = click.argument("cluster", metavar="CLUSTER", shell_complete=complete)

    @clusters.command("list")
    @output_options
    @pass_state
    def list_clusters(state: CliState) -> None:
        found = kind.resource(state).clusters.list()

        def table() -> Any:
            from .render import cluster_table

            return cluster_table(found, kind.name)

        if not found and state.output == "table":
            state.info(
                f"No {kind.title} clusters in this region for this project. "
                f"Create one with: {kind.prog} clusters create NAME"
            )
            return
        state.emit(found, table=table, ids=[c.id for c in found])

    @clusters.command("get")
    @cluster_argument
    @output_options
    @pass_state
    def get_cluster(state: CliState, cluster: str) -> None:
        ident = cluster_id(state, kind, cluster)
        with explained(state, kind, ident):
            found = kind.resource(state).clusters.get(ident)
        _show_cluster(state, kind, found)

    @clusters.command("create")
    @click.argument("name")
    @click.option("--version", metavar="V", help="Its version (default: the region's).")
    @click.option("--wait", is_flag=True, help="Wait until the cluster shows its address.")
    @wait_options
    @output_options
    @pass_state
    def create_cluster(
        state: CliState,
        name: str,
        version: Optional[str],
        wait: bool,
        timeout: float,
        poll_interval: float,
    ) -> None:
        try:
            created = kind.resource(state).clusters.create(name=name, version=version)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="NAME") from exc
        state.info(f"Created {kind.title} cluster {created.name} ({created.id}).")
        if wait:
            created = _settle(state, kind, created, timeout, poll_interval)
        state.info(
            f"Add nodes with: {kind.prog} node-pools create {created.id} --name NAME "
            "--type TYPE --count N"
        )
        _show_cluster(state, kind, created)

    @clusters.command("delete")
    @cluster_argument
    @click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--wait", is_flag=True, help="Return only once the cluster is gone.")
    @wait_options
    @pass_state
    def delete_cluster(
        state: CliState, cluster: str, yes: bool, wait: bool, timeout: float, poll_interval: float
    ) -> None:
        confirm_or_require_yes(
            state,
            f"Delete {kind.title} cluster {cluster}? This cannot be undone.",
            yes,
            "nothing was deleted",
        )
        ident = cluster_id(state, kind, cluster)
        with explained(state, kind, ident):
            kind.resource(state).clusters.delete(ident, wait=wait, timeout=timeout)
        state.info(f"Deleted {kind.title} cluster {ident}.")

    list_clusters.help = f"List the project's {kind.title} clusters in the region."
    get_cluster.help = f"Show one {kind.title} cluster (CLUSTER: its id or name)."
    create_cluster.help = f"""Create a {kind.title} cluster named NAME.

    The API gives a cluster no state: --wait polls until it shows its address (a
    Kubernetes cluster its endpoint, a Slurm cluster a login node's public IP).
    Its nodes come from node pools: `{kind.prog} node-pools create`.
    """
    delete_cluster.help = f"""Delete a {kind.title} cluster (CLUSTER: its id or name).

    Its node pools must be deleted first. Asks first unless --yes (needed without a
    terminal).
    """
    return clusters


def _node_pools_group(kind: Kind) -> click.Group:
    pools = AliasedGroup(
        "node-pools", help=f"Node pools of {kind.title} clusters: nodes of one instance type."
    )
    cluster_argument = click.argument(
        "cluster", metavar="CLUSTER", shell_complete=complete_clusters(kind.name)
    )
    pool_argument = click.argument(
        "pool", metavar="POOL", shell_complete=complete_node_pools(kind.name)
    )

    @pools.command("list")
    @click.argument(
        "cluster", metavar="[CLUSTER]", required=False, shell_complete=complete_clusters(kind.name)
    )
    @output_options
    @pass_state
    def list_pools(state: CliState, cluster: Optional[str]) -> None:
        resource = kind.resource(state)
        found: List[Any] = []
        owner: Dict[str, str] = {}
        if cluster is not None:
            ident = cluster_id(state, kind, cluster)
            with explained(state, kind, ident):
                found = resource.node_pools.list(ident)
            owner = {p.id: ident for p in found}
        else:  # every cluster's, each asked by its id (the older flat route is deprecated)
            for each in resource.clusters.list():
                listed = resource.node_pools.list(each.id)
                found += listed
                owner.update((p.id, each.id) for p in listed)

        def table() -> Any:
            from .render import node_pool_table

            return node_pool_table(found, kind.name, None if cluster is not None else owner)

        if cluster is None and state.output != "table":
            data: Any = [{**p.model_dump(mode="json", by_alias=True), "clusterID": owner[p.id]}
                         for p in found]  # fmt: skip
            state.emit(data, ids=[p.id for p in found])
            return
        empty = f"No node pools. Add one with: {kind.prog} node-pools create CLUSTER ..."
        if not found and state.output == "table":
            state.info(empty)
            return
        state.emit(found, table=table, ids=[p.id for p in found])

    @pools.command("get")
    @cluster_argument
    @pool_argument
    @output_options
    @pass_state
    def get_pool(state: CliState, cluster: str, pool: str) -> None:
        ident = cluster_id(state, kind, cluster)
        pool_ident = pool_id(state, kind, ident, pool)
        with explained(state, kind, ident, pool_ident):
            found = kind.resource(state).node_pools.get(ident, pool_ident)
        _show_pool(state, kind, found, ident)

    def create_pool(
        state: CliState,
        cluster: str,
        name: str,
        instance_type: str,
        count: int,
        wait: bool,
        timeout: float,
        poll_interval: float,
        version: Optional[str] = None,
    ) -> None:
        ident = cluster_id(state, kind, cluster)
        extra: Dict[str, Any] = {} if version is None else {"version": version}
        try:
            with explained(state, kind, ident):
                created = kind.resource(state).node_pools.create(
                    ident, name=name, type=instance_type, count=count, **extra
                )
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        state.info(
            f"Created node pool {created.name} ({created.id}): {count} x {instance_type}, "
            "each node an instance of the project (billed as one)."
        )
        if wait:
            created = wait_for_pool(state, kind, ident, created.id, "ready", timeout, poll_interval)
        else:
            state.info(f"Wait until its nodes are ready with: {kind.prog} node-pools wait "
                       f"{ident} {created.id}")  # fmt: skip
        _show_pool(state, kind, created, ident)

    create_decorators: List[Callable[[Any], Any]] = [
        pools.command("create"),
        cluster_argument,
        click.option("--name", required=True, help="The pool's name (new in the cluster)."),
        click.option(
            "--type",
            "instance_type",
            required=True,
            metavar="TYPE",
            shell_complete=complete_types,
            help="Instance type of its nodes (see `fluidstack atlas instance-types list`).",
        ),
        click.option("--count", required=True, type=click.IntRange(min=0), help="How many nodes."),
    ]
    if kind.name == "kubernetes":
        create_decorators.append(
            click.option(
                "--version", metavar="V", help="Kubernetes version (default: the cluster's)."
            )
        )
    create_decorators += [
        click.option("--wait", is_flag=True, help="Wait until every node is ready."),
        wait_options,
        output_options,
        pass_state,
    ]
    command: Any = create_pool
    for decorator in reversed(create_decorators):
        command = decorator(command)
    command.help = f"""Add a node pool to a {kind.title} cluster: --count nodes of --type.

    Each node is an instance of the project: it is billed, uses the region's capacity
    and is listed by `fluidstack atlas instances list`. --wait shows how many nodes are
    ready until all are (a timeout says why the others are not).

    \b
    Example:
      {kind.prog} node-pools create CLUSTER --name gpu \\
          --type h100-hgx-80gb.8x --count 2 --wait
    """

    @pools.command("wait")
    @cluster_argument
    @pool_argument
    @click.option(
        "--until",
        type=click.Choice(["ready", "deleted"]),
        default="ready",
        show_default=True,
        help="ready: every node ready; deleted: the pool is gone.",
    )
    @wait_options
    @output_options
    @pass_state
    def wait_pool(
        state: CliState, cluster: str, pool: str, until: str, timeout: float, poll_interval: float
    ) -> None:
        ident = cluster_id(state, kind, cluster)
        pool_ident = pool_id(state, kind, ident, pool)
        found = wait_for_pool(state, kind, ident, pool_ident, until, timeout, poll_interval)
        if found is not None:
            _show_pool(state, kind, found, ident)

    @pools.command("delete")
    @cluster_argument
    @pool_argument
    @click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--wait", is_flag=True, help="Return only once the pool is gone.")
    @wait_options
    @pass_state
    def delete_pool(
        state: CliState,
        cluster: str,
        pool: str,
        yes: bool,
        wait: bool,
        timeout: float,
        poll_interval: float,
    ) -> None:
        confirm_or_require_yes(
            state,
            f"Delete node pool {pool} of {kind.title} cluster {cluster}, and the instances "
            "of its nodes? This cannot be undone.",
            yes,
            "nothing was deleted",
        )
        ident = cluster_id(state, kind, cluster)
        pool_ident = pool_id(state, kind, ident, pool)
        with explained(state, kind, ident, pool_ident):
            kind.resource(state).node_pools.delete(ident, pool_ident)
        state.info(f"Deleting node pool {pool_ident} and its nodes.")
        if wait:
            wait_for_pool(state, kind, ident, pool_ident, "deleted", timeout, poll_interval)

    list_pools.help = f"""List the node pools of a {kind.title} cluster (CLUSTER: id or name),
    or of every cluster with none given."""
    get_pool.help = "Show one node pool and its nodes (why a node is not ready, too)."
    wait_pool.help = "Wait until a node pool is ready (every node) or, --until deleted, gone."
    delete_pool.help = """Delete a node pool and the instances of its nodes.

    Asks first unless --yes (needed without a terminal)."""
    return pools
