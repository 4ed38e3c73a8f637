"""Kubernetes client configuration for FluidStack's Kubernetes clusters: write (and
merge) a cluster's kubeconfig where ``kubectl`` looks for it. Needs PyYAML
(``pip install 'fluidstack[kubernetes]'``).

Most code calls ``atlas.kubernetes.clusters.write_kubeconfig(cluster_id)``, which
fetches the kubeconfig and hands it to :func:`write_kubeconfig` here.
"""

from .kubeconfig import default_kubeconfig_path, write_kubeconfig

__all__ = ["default_kubeconfig_path", "write_kubeconfig"]
