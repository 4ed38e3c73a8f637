"""Safe creates (asynchronous client): what the pipeline needs to never leave two billed
resources behind for one create call, on either API.

A create carries an identity unique to the call: a generated name on the platform, a
``fluidstack.client-token`` tag on Atlas. When an attempt fails after the server may
have acted on it, the pipeline looks for a resource carrying that identity and returns
it instead of sending the create again. When the failure means the request may still be
travelling (no answer at all, or a gateway's 502/504), it keeps looking for a grace
period first: the first attempt can reach the server late. And after any resend that
succeeded, it looks once more and deletes a second resource carrying the identity (the
late first attempt's), reporting it through the event hooks.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Generic, List, Optional, Sequence, Tuple, TypeVar

from ..endpoint import Found
from ..errors import ApiError, ConflictError, NotFoundError
from ..events import DuplicateEvent, EventHooks

__all__ = ["AsyncCreateGuard"]

T = TypeVar("T")


class AsyncCreateGuard(Generic[T]):
    """Passed to the pipeline as a create's ``recover``: the lookup of what the call made,
    and how to delete an extra one.

    Args:
        operation: The SDK method, e.g. ``"instances.create"`` (for events and logs).
        identity: What marks the call's resource (its name, its client token).
        find: Every resource carrying ``identity``, as ``(id, result)``, the one to keep
            first (the newest).
        delete: Deletes a resource by id.
        unique: Whether ``identity`` belongs to this call alone (a generated name, a
            client token). A name the caller chose may be shared with other resources of
            theirs: then nothing is ever deleted.
    """

    def __init__(
        self,
        *,
        operation: str,
        identity: str,
        find: Callable[[], Awaitable[Sequence[Tuple[str, T]]]],
        delete: Callable[[str], Awaitable[object]],
        unique: bool,
    ) -> None:
        self.operation = operation
        self.identity = identity
        self.find = find
        self.delete = delete
        self.unique = unique

    def __repr__(self) -> str:
        return f"{type(self).__name__}(operation={self.operation!r}, unique={self.unique})"

    async def __call__(self) -> Optional[Found[T]]:
        """The resource a failed attempt made, if it exists (the newest one)."""
        found = await self.find()
        return Found(found[0][1]) if found else None

    async def remove_duplicates(self, kept_id: str, hooks: EventHooks) -> None:
        """After a resend: delete every other resource carrying the identity.

        Never raises for what it cannot delete (the create itself succeeded): the event
        says what was deleted and what could not be.
        """
        if not self.unique:
            return
        try:
            found = await self.find()
        except ApiError as exc:
            hooks.duplicate(
                DuplicateEvent(self.operation, self.identity, kept_id, [], [], str(exc))
            )
            return
        extras = [resource_id for resource_id, _ in found if resource_id != kept_id]
        if not extras:
            return
        deleted: List[str] = []
        failed: List[str] = []
        for resource_id in extras:
            try:
                await self.delete(resource_id)
            except (NotFoundError, ConflictError):
                continue  # already gone, or going
            except ApiError:
                failed.append(resource_id)
            else:
                deleted.append(resource_id)
        if deleted or failed:
            error = None if not failed else f"could not delete {', '.join(failed)}"
            hooks.duplicate(
                DuplicateEvent(self.operation, self.identity, kept_id, deleted, failed, error)
            )
