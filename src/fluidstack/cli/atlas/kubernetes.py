"""``fluidstack atlas kubernetes``: the project's Kubernetes clusters, their node pools
(:mod:`.orchestrators`), and ``kubeconfig``, which writes a cluster's kubeconfig where
``kubectl`` reads it, as ``fluidctl auth update-kubeconfig`` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click

from ..state import AliasedGroup, CliState, InputError, pass_state
from .completion import complete_clusters
from .orchestrators import Kind, add_cluster_groups, cluster_id, explained

__all__ = ["kubernetes"]

KIND = Kind("kubernetes", "Kubernetes")


@click.group(cls=AliasedGroup)
def kubernetes() -> None:
    """Kubernetes clusters FluidStack runs for the project: clusters, node pools,
    kubeconfig.

    \b
    Get started:
      fluidstack atlas kubernetes clusters create train
      fluidstack atlas kubernetes node-pools create train --name gpu \\
          --type h100-hgx-80gb.8x --count 2 --wait
      fluidstack atlas kubernetes kubeconfig train      then: kubectl get nodes
    """


add_cluster_groups(kubernetes, KIND)


@kubernetes.command("kubeconfig")
@click.argument("cluster", metavar="CLUSTER", shell_complete=complete_clusters("kubernetes"))
@click.option(
    "--merge/--no-merge",
    default=True,
    show_default=True,
    help="Merge into the file, keeping its other clusters, contexts and users "
    "(--no-merge: replace the file).",
)
@click.option(
    "--output",
    "path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="The file to write (default: the first file of $KUBECONFIG, else ~/.kube/config).",
)
@click.option("--context", metavar="NAME", help="Name of the context (default: the server's).")
@click.option(
    "--set-current/--no-set-current",
    default=True,
    show_default=True,
    help="Make it kubectl's current context.",
)
@pass_state
def kubeconfig(
    state: CliState,
    cluster: str,
    merge: bool,
    path: Optional[str],
    context: Optional[str],
    set_current: bool,
) -> None:
    """Write a Kubernetes cluster's kubeconfig for kubectl (CLUSTER: id or name).

    Entries of the same name are replaced; everything else in the file stays. The file
    is written atomically with mode 0600: it holds the cluster's bearer token.

    \b
    Examples:
      fluidstack atlas kubernetes kubeconfig train
      fluidstack atlas kubernetes kubeconfig train --output ./train.yaml --context train
    """
    from fluidstack.atlas.kubeconfig import default_kubeconfig_path

    if context is not None and not context.strip():
        raise click.BadParameter("must not be empty", param_hint="'--context'")
    target = Path(path).expanduser() if path else default_kubeconfig_path()
    ident = cluster_id(state, KIND, cluster)
    clusters = KIND.resource(state).clusters
    with explained(state, KIND, ident):
        try:
            name = clusters.write_kubeconfig(
                ident, path=str(target), merge=merge, context=context, set_current=set_current
            )
        except ValueError as exc:  # the file there is not a kubeconfig: left alone
            raise InputError(f"{target}: {exc}") from exc
    how = "merged into" if merge else "written to (replacing)"
    state.info(f"Context {name} for cluster {ident} {how} {target} (mode 0600).")
    prefix = "" if path is None or target == default_kubeconfig_path() else f"KUBECONFIG={target} "
    selector = "" if set_current else f" --context {name}"
    state.info(f"Use it: {prefix}kubectl{selector} get nodes")
    data = {"context": name, "path": str(target), "cluster_id": ident, "current": set_current}

    def table() -> Any:
        from ..render import key_value_table

        return key_value_table(
            [("Context", name), ("File", str(target)), ("Current", "yes" if set_current else "no")]
        )

    state.emit(data, table=table, ids=[name])
