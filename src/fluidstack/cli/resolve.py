"""Instances named by id or by name, in both CLIs' commands (``ssh trainer``).

One rule, :func:`resolve_instance_id`: an argument shaped like an id (a UUID, as both
APIs' ids are) is taken as an id and sent as it is -- no listing of the whole fleet to
look up what can be fetched directly. Anything else is looked up in the listing: an
exact id wins, else an exact name. A name several instances share is refused with
their ids (exit 2); a name nobody has is sent as an id, and the server's "not found"
is one line (exit 1, as for an unknown id).

Nothing of the SDK is imported here: ``fluidstack --help`` stays fast.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterable

from .state import CliState, InputError

__all__ = ["atlas_instance_id", "looks_like_id", "platform_instance_id", "resolve_instance_id"]


def looks_like_id(text: str) -> bool:
    """Whether ``text`` is shaped like an instance id (a UUID)."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) >= 32  # uuid.UUID also takes "{...}" and "urn:uuid:" forms


def resolve_instance_id(ref: str, listing: Callable[[], Iterable[Any]], list_command: str) -> str:
    """The id of the instance ``ref`` names (an id, or a name); ``ref`` itself when
    nothing is named so (the request then reports it unknown).

    ``listing()`` gives the instances a name is looked up among (objects with ``id``,
    ``name`` and a ``status`` or ``state``); it is called only when ``ref`` is not
    shaped like an id. ``list_command`` is what the user runs to see them."""
    ref = ref.strip()
    if looks_like_id(ref):
        return ref
    found = list(listing())
    for instance in found:
        if str(instance.id) == ref:
            return ref
    named = [i for i in found if getattr(i, "name", None) == ref]
    if len(named) == 1:
        return str(named[0].id)
    if not named:  # maybe an id of another shape, or of one the listing leaves out
        return ref  # the server says whether it exists: one line, exit 1, as before
    ids = ", ".join(f"{i.id} ({_status(i)})" for i in named)
    raise InputError(
        f"{len(named)} instances are named {ref!r}: {ids}. Pass the id of the one you mean "
        f"(`{list_command}` lists them)."
    )


def _status(instance: Any) -> str:
    return str(getattr(instance, "status", None) or getattr(instance, "state", None) or "?")


def platform_instance_id(state: CliState, ref: str) -> str:
    """:func:`resolve_instance_id` among the platform account's instances."""
    return resolve_instance_id(
        ref, lambda: state.client.instances.iter(), "fluidstack instances list"
    )


def atlas_instance_id(state: CliState, ref: str) -> str:
    """:func:`resolve_instance_id` among the Atlas project's instances in the region."""
    from .atlas.session import atlas_client

    return resolve_instance_id(
        ref, lambda: atlas_client(state).instances.list(), "fluidstack atlas instances list"
    )
