"""Kubernetes client configuration for FluidStack's Kubernetes clusters: write (and
merge) a cluster's kubeconfig where ``kubectl`` looks for it. Needs PyYAML
(``pip install 'fluidstack[kubernetes]'``).

Most code calls ``atlas.kubernetes.clusters.write_kubeconfig(cluster_id)``, which
fetches the kubeconfig and writes it with :func:`write_kubeconfig`. The code lives in
:mod:`fluidstack.atlas.kubeconfig` (the SDK imports no integration); this is its
home for other engines' users.
"""

from ...atlas.kubeconfig import default_kubeconfig_path, merge_kubeconfig, write_kubeconfig

__all__ = ["default_kubeconfig_path", "merge_kubeconfig", "write_kubeconfig"]
