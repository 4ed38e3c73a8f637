"""``fluidstack atlas instances forward`` and ``fluidstack atlas jupyter``: ports of
Atlas instances reached from here (the commands themselves are
:mod:`fluidstack.cli.forwarding` and :mod:`fluidstack.cli.jupyter`, shared with the
platform's)."""

from __future__ import annotations

import click

from ..forwarding import add_forward
from ..jupyter import add_jupyter
from .instance_access import _API
from .instances import instances

__all__ = ["forward_ports", "instances", "jupyter"]


@click.group()
def _commands() -> None:
    """Holds ``jupyter`` until the ``atlas`` group adds it."""


forward_ports = add_forward(_API, "fluidstack atlas instances")
jupyter = add_jupyter(_API, _commands, "fluidstack atlas")
