"""What ``atlas instances create`` and ``atlas launch`` share: the create options
(:func:`create_options`) and the SDK keywords they make (tags, cloud-init user data with
the ``--ssh-key`` files), and how the created instance is shown."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import click

from ..spend import to_duration
from ..state import CliState, InputError
from .completion import complete_types

if TYPE_CHECKING:
    from fluidstack.atlas import Instance

__all__ = ["build_user_data", "create_arguments", "create_options", "parse_tags", "show"]


def parse_tags(values: Sequence[str]) -> Dict[str, str]:
    """``--tag key=value`` options as a dict (a later key wins)."""
    tags: Dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="'--tag'")
        tags[key.strip()] = value
    return tags


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from exc


def build_user_data(user_data: Optional[str], ssh_keys: Sequence[str]) -> Optional[str]:
    """The cloud-init user data of a create: the ``--user-data`` file, with the public
    keys of ``--ssh-key`` files added to its ``ssh_authorized_keys`` (a ``#cloud-config``
    document is made for them when there is no file, as fluidctl does)."""
    import yaml

    keys: List[str] = []
    for path in ssh_keys:
        text = _read_text(path, "SSH key").strip()
        if "PRIVATE KEY" in text:
            raise InputError(f"{path} is a private key: pass the public one (the .pub file)")
        keys += [line.strip() for line in text.splitlines() if line.strip()]
    document = None if user_data is None else _read_text(user_data, "user data")
    if not keys:
        return document
    if document is None:
        return "#cloud-config\n" + yaml.safe_dump({"ssh_authorized_keys": keys}, sort_keys=False)
    if not document.startswith("#cloud-config"):
        raise InputError(
            f"--ssh-key adds keys to a #cloud-config document, and {user_data} is not one "
            "(a script?): put the keys in it, or drop --ssh-key"
        )
    try:
        parsed = yaml.safe_load(document) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{user_data} is not valid YAML: {exc}") from exc
    if not isinstance(parsed, dict):
        raise InputError(f"{user_data} is not a #cloud-config mapping")
    existing = parsed.get("ssh_authorized_keys") or []
    if not isinstance(existing, list):
        raise InputError(f"{user_data}: ssh_authorized_keys must be a list")
    parsed["ssh_authorized_keys"] = existing + [k for k in keys if k not in existing]
    return "#cloud-config\n" + yaml.safe_dump(parsed, sort_keys=False)


def create_options(func: Any) -> Any:
    """The options of a create, shared by ``instances create`` and ``launch``."""
    options = [
        click.option(
            "--type",
            "instance_type",
            required=True,
            metavar="TYPE",
            shell_complete=complete_types,
            help="Instance type (see `fluidstack atlas instance-types list`).",
        ),
        click.option("--image", metavar="IMAGE", help="OS image (default: the server's)."),
        click.option(
            "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag (repeatable)."
        ),
        click.option(
            "--user-data",
            metavar="FILE",
            help="cloud-init user data: a #cloud-config document or a script.",
        ),
        click.option(
            "--ssh-key",
            "ssh_keys",
            multiple=True,
            metavar="FILE",
            help="A public key file to log in with (repeatable): added to the user data's "
            "ssh_authorized_keys.",
        ),
        click.option(
            "--filesystem",
            "filesystems",
            multiple=True,
            metavar="ID",
            help="A filesystem to attach (repeatable).",
        ),
        click.option("--ephemeral", is_flag=True, help="A boot disk that does not survive a stop."),
        click.option(
            "--preemptible", is_flag=True, help="Cheaper, but may be stopped at any time."
        ),
        click.option(
            "--lease",
            callback=to_duration,
            metavar="DURATION",
            help="Let it live this long (e.g. 4h): `atlas instances sweep --expired` "
            "deletes it after.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def create_arguments(
    tags: Tuple[str, ...],
    user_data: Optional[str],
    ssh_keys: Tuple[str, ...],
    filesystems: Tuple[str, ...],
    ephemeral: bool,
    preemptible: bool,
    image: Optional[str],
    lease: Optional[dt.timedelta],
) -> Dict[str, Any]:
    """The SDK's keywords for the values of :func:`create_options` (but ``--type``)."""
    return {
        "lease": lease,
        "image": image,
        "tags": parse_tags(tags) or None,
        "user_data": build_user_data(user_data, ssh_keys),
        "filesystems": list(filesystems) or None,
        "ephemeral": ephemeral or None,
        "preemptible": preemptible or None,
    }


def show(state: CliState, instance: Instance) -> None:
    """Print one instance: a detail table, or the document for ``-o json|yaml``."""

    def table() -> Any:
        from .render import instance_detail

        return instance_detail(instance)

    state.emit(instance, table=table, ids=[instance.id])
