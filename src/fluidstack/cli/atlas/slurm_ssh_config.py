"""``fluidstack atlas slurm ssh-config CLUSTER [--skypilot]``: a ``Host`` entry for a
Slurm cluster's first login node.

The entry goes where ``fluidstack ssh-config`` puts instances' (the managed file of
:mod:`fluidstack.core.ssh_config`, one section per cluster, ``Include``d from
``~/.ssh/config`` with consent), so ``ssh fs-slurm-NAME`` works. With ``--skypilot`` it
also goes to ``~/.slurm/config``, the file SkyPilot's Slurm support reads (an OpenSSH
config parsed with paramiko, which follows no ``Include``: the block is written into it,
between markers, every other line kept). ``--print`` only prints the block.

Only Click is imported at module level: ``fluidstack --help`` stays fast.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, List, Optional

import click

from ..remote import identity_option, ssh_port_option
from ..state import CliError, CliState, output_options, pass_state
from .completion import complete_clusters
from .orchestrators import Kind, cluster_id, explained

__all__ = ["skypilot_config_path", "slurm_ssh_config", "write_skypilot_block"]

KIND = Kind("slurm", "Slurm")
_BEGIN = "# >>> fluidstack slurm "
_END = "# <<< fluidstack slurm "
_DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")


def skypilot_config_path() -> Path:
    """``~/.slurm/config``: where SkyPilot looks for Slurm clusters (its
    ``DEFAULT_SLURM_PATH``), one ``Host`` per cluster with ``HostName``, ``User``,
    ``IdentityFile`` and optionally ``Port``."""
    return Path.home() / ".slurm" / "config"


def write_skypilot_block(path: Path, name: str, block: str) -> bool:
    """Put ``block`` between the markers of ``name`` in ``path`` (replacing what they
    held, else at the end), keeping every other line; 0600, atomically, folder 0700.
    Whether the file changed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    begin, end = f"{_BEGIN}{name}\n", f"{_END}{name}\n"
    wrapped = begin + block + end
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        updated = pattern.sub(lambda _: wrapped, text, count=1)
    else:
        updated = text + ("\n" if text and not text.endswith("\n") else "")
        updated += ("\n" if updated else "") + wrapped
    if updated == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.fluidstack-{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(updated)
    os.replace(temporary, path)
    return True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._") or "cluster"


def _identity(given: Optional[str], required: bool) -> Optional[str]:
    if given:
        return str(Path(given).expanduser().resolve())
    for name in _DEFAULT_KEYS:
        candidate = Path.home() / ".ssh" / name
        if candidate.is_file():
            return str(candidate)
    if required:
        raise click.UsageError(
            "SkyPilot needs a key file for the cluster (its IdentityFile): pass -i KEY, the "
            "private key of a public key registered with `fluidstack atlas keys create`"
        )
    return None


@click.command("ssh-config")
@click.argument("cluster", metavar="CLUSTER", shell_complete=complete_clusters("slurm"))
@click.option("--skypilot", is_flag=True,
              help="Also write the entry to ~/.slurm/config, where SkyPilot finds Slurm "
              "clusters (needs a key file: -i KEY, else ~/.ssh/id_*).")  # fmt: skip
@click.option("--print", "only_print", is_flag=True,
              help="Print the Host entry on stdout; write nothing.")  # fmt: skip
@click.option("-y", "--yes", is_flag=True,
              help="Add the Include line to ~/.ssh/config without asking.")  # fmt: skip
@identity_option
@ssh_port_option
@output_options
@pass_state
def slurm_ssh_config(state: CliState, cluster: str, skypilot: bool, only_print: bool, yes: bool,
                     identity: Optional[str], ssh_port: Optional[int]) -> None:  # fmt: skip
    """Write an ssh alias for a Slurm cluster's login node: `ssh fs-slurm-NAME`.

    The entry (ubuntu at the first login node's public IP) goes to fluidstack's own ssh
    config file, beside the instances' of `fluidstack ssh-config`, which one line at the
    top of ~/.ssh/config includes (added once, with your consent). --skypilot also
    writes it to ~/.slurm/config, the file SkyPilot reads its Slurm clusters from, so
    that `sky launch --infra slurm/fs-slurm-NAME` runs there.

    \b
    Examples:
      fluidstack atlas slurm ssh-config hpc --yes
      ssh fs-slurm-hpc sinfo
      fluidstack atlas slurm ssh-config hpc --skypilot -i ~/.ssh/id_ed25519
      fluidstack atlas slurm ssh-config hpc --print
    """
    from fluidstack.core import ssh_config as files
    from fluidstack.core.ssh import default_known_hosts_path, host_key_alias

    from ..ssh_config import ensure_included
    from .instances import ssh_client

    atlas = ssh_client(state, ssh_port)
    ident = cluster_id(state, KIND, cluster)
    with explained(state, KIND, ident):
        found = atlas.slurm.clusters.get(ident)
    login = next((n for n in found.login_nodes if n.public_ip), None)
    if login is None or not login.public_ip:
        raise CliError(
            f"Slurm cluster {found.id} has no login node with a public IP yet; wait for it "
            f"with: fluidstack atlas slurm clusters create ... --wait"
        )
    from fluidstack.core.addresses import is_documentation_address, refusal_message

    if is_documentation_address(login.public_ip):  # written, but nothing answers there
        state.warn(refusal_message(f"slurm-{found.id}-{login.name}", login.public_ip))
    alias = f"fs-slurm-{_slug(found.name)}"
    entry = files.SshHost(
        alias=alias,
        host=login.public_ip,
        port=int(atlas.ssh_port),
        user="ubuntu",
        identity_file=_identity(identity, required=skypilot),
        # The SDK's trust-on-first-use file and name for this login node: ssh, the SDK
        # and `atlas slurm ssh` agree about its key.
        known_hosts_file=default_known_hosts_path(),
        host_key_alias=host_key_alias(f"slurm-{found.id}-{login.name}"),
        comment=f"Slurm cluster {found.id} ({found.name}), login node {login.name}",
    )
    block = files.render_host(entry)
    if only_print:
        click.echo(block, nl=False)
        return
    section = f"slurm:{found.id}"
    written: List[str] = []
    taken = files.managed_aliases(exclude=section)
    if alias in taken:
        raise CliError(f"alias {alias} is already used by section {taken[alias]!r} of "
                       f"{files.managed_path()}: rename the cluster's entry there")  # fmt: skip
    had_file = files.managed_path().exists()
    path = files.write_section(section, [entry])
    try:
        ensure_included(state, yes)
    except (click.ClickException, click.exceptions.Exit):
        # Declined (or no terminal to ask on): nothing stays. A managed file that was
        # not there must not appear: its presence means "keep my hosts current".
        if had_file:
            files.remove_section(section)
        else:
            path.unlink()
        raise
    written.append(str(path))
    if skypilot:
        target = skypilot_config_path()
        write_skypilot_block(target, found.id, block)
        written.append(str(target))
    state.info(f"Wrote Host {alias} to {' and '.join(written)}.")
    if state.output == "table":
        state.info(f"Log in with: ssh {alias}")
        if skypilot:
            state.info(f"SkyPilot: sky check slurm; sky launch --infra slurm/{alias} task.yaml")
    data: Any = {"alias": alias, "host": entry.host, "port": entry.port, "user": entry.user,
                 "files": written}  # fmt: skip
    if state.output != "table":
        state.emit(data)
