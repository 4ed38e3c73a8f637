"""``atlas.instances``, reading: list and get instances, wait for one, and the SSH address
its remote commands use."""

from __future__ import annotations

from typing import (
    Awaitable,
    Callable,
    Iterable,
    List,
    Literal,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

from ...core._async.polling import SSH_GOAL, poll_until, with_ssh_goal
from ...core.addresses import refuse_documentation_address
from ...core.errors import (
    InstanceFailedError,
    InstancePreemptedError,
    NotFoundError,
    OutOfStockError,
)
from ...core.request_options import RequestOptions
from ...core.ssh import SshError, SshTarget
from ...core.waiters import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    GONE,
    WaitPolicy,
    wait_goals,
)
from .. import endpoints as api
from ..endpoints import Id, id_text
from ..types import Filesystem, GlobalInstance, Instance, InstanceState
from ._resource import AsyncAtlasResource

__all__ = ["AsyncInstanceReads"]

States = Union[InstanceState, str, Iterable[Union[InstanceState, str]]]


Filesystems = Optional[Sequence[Union[Id, Filesystem]]]


PREEMPTED = "preempted"
"""What a wait calls a preemptible instance that stopped after it was seen on its way up."""

_STOPPED = frozenset({str(InstanceState.STOPPING), str(InstanceState.STOPPED)})


# States an instance cannot leave for another goal: waiting on raises.
_DEAD_ENDS = {
    str(InstanceState.ERROR): InstanceFailedError,
    str(InstanceState.OUT_OF_STOCK): OutOfStockError,
    PREEMPTED: InstancePreemptedError,
}


def _state(instance: Optional[Instance]) -> str:
    return GONE if instance is None else str(instance.state)


def _noticing_preemption(
    state_of: Callable[[Optional[Instance]], str],
) -> Callable[[Optional[Instance]], str]:
    """``state_of`` for one wait, reading a preemptible instance that goes ``stopping`` or
    ``stopped`` after being seen in another state as :data:`PREEMPTED`, a dead end.
    Stopped from the first poll on is not a preemption: a wait just after ``start`` may
    still see it stopped, and it will move."""
    moving = False

    def state(instance: Optional[Instance]) -> str:
        nonlocal moving
        seen = state_of(instance)
        if instance is None or seen not in _STOPPED:
            moving = moving or instance is not None
            return seen
        return PREEMPTED if moving and instance.preemptible else seen

    return state


class AsyncInstanceReads(AsyncAtlasResource):
    """Reading instances and waiting for them (the base of :class:`AsyncInstancesResource`)."""

    @overload
    async def list(
        self,
        *,
        all_regions: Literal[False] = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> List[Instance]: ...

    @overload
    async def list(
        self,
        *,
        all_regions: Literal[True],
        request_options: Optional[RequestOptions] = ...,
    ) -> List[GlobalInstance]: ...

    @overload
    async def list(
        self,
        *,
        all_regions: bool,
        request_options: Optional[RequestOptions] = ...,
    ) -> Union[List[Instance], List[GlobalInstance]]: ...

    async def list(
        self,
        *,
        all_regions: bool = False,
        request_options: Optional[RequestOptions] = None,
    ) -> Union[List[Instance], List[GlobalInstance]]:
        """List instances.

        Args:
            all_regions: ``False`` (default): the project's instances in the client's
                region. ``True``: every instance of the organization, in every region
                and project, from the management API (:class:`GlobalInstance`, which
                also says ``region`` and ``project_id``).
            request_options: Per-call options (timeout, retries, extra headers, ...).
        """
        if all_regions:
            return await self._scope.management(
                api.GLOBAL_INSTANCES, request_options=request_options
            )
        return await self._scope.regional(
            api.INSTANCES, project=True, request_options=request_options
        )

    @overload
    async def get(
        self,
        instance_id: Id,
        *,
        all_regions: Literal[False] = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> Instance: ...

    @overload
    async def get(
        self,
        instance_id: Id,
        *,
        all_regions: Literal[True],
        request_options: Optional[RequestOptions] = ...,
    ) -> GlobalInstance: ...

    @overload
    async def get(
        self,
        instance_id: Id,
        *,
        all_regions: bool,
        request_options: Optional[RequestOptions] = ...,
    ) -> Union[Instance, GlobalInstance]: ...

    async def get(
        self,
        instance_id: Id,
        *,
        all_regions: bool = False,
        request_options: Optional[RequestOptions] = None,
    ) -> Union[Instance, GlobalInstance]:
        """Get one instance (``all_regions=True``: look it up in any region and project
        through the management API)."""
        path = {"instance_id": id_text(instance_id, "instance_id")}
        if all_regions:
            return await self._scope.management(
                api.GLOBAL_INSTANCE, path_params=path, request_options=request_options
            )
        return await self._scope.regional(
            api.INSTANCE, project=True, path_params=path, request_options=request_options
        )

    @overload
    async def wait(  # type: ignore[overload-overlap]  # "deleted" is also a str
        self,
        instance_id: Id,
        *,
        until: Literal["deleted"],
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        max_poll_interval: Optional[float] = ...,
        on_poll: Optional[Callable[[Optional[Instance]], object]] = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> None: ...

    @overload
    async def wait(
        self,
        instance_id: Id,
        *,
        until: Union[InstanceState, str] = ...,
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        max_poll_interval: Optional[float] = ...,
        on_poll: Optional[Callable[[Optional[Instance]], object]] = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> Instance: ...

    @overload
    async def wait(
        self,
        instance_id: Id,
        *,
        until: Iterable[Union[InstanceState, str]],
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        max_poll_interval: Optional[float] = ...,
        on_poll: Optional[Callable[[Optional[Instance]], object]] = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> Optional[Instance]: ...

    async def wait(
        self,
        instance_id: Id,
        *,
        until: States = InstanceState.RUNNING,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: Optional[float] = None,
        on_poll: Optional[Callable[[Optional[Instance]], object]] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> Optional[Instance]:
        """Poll an instance until it reaches ``until``, and return it.

        Polls every ``poll_interval`` seconds at first, then less often (up to
        ``max_poll_interval``, default 30 s). No single request outlives the deadline.

        Args:
            instance_id: The instance to watch.
            until: The state (or states) to wait for: any :class:`InstanceState`,
                ``"ssh"`` for running *and* its SSH server answering (on the client's
                ``ssh_port``), or ``"deleted"`` for an instance that no longer exists
                (its GET answers 404; the wait then returns ``None``). Default:
                ``running``.
            timeout: Seconds to wait in all (default 900); ``None`` waits forever.
            poll_interval: Seconds between the first polls (default 5).
            max_poll_interval: Longest pause between polls (default 30).
            on_poll: Called with the instance (``None`` once gone) after every poll.
            request_options: Per-call options for each poll.

        Raises:
            ValueError: ``until`` is a string naming no state this SDK knows (a typo);
                pass a member of the enumeration for a state it does not list yet.
            OutOfStockError: The instance went ``out-of-stock`` (the region had no
                capacity for its type) while waiting for another state.
            InstanceFailedError: It went ``error``.
            InstancePreemptedError: A preemptible instance was preempted (went
                ``stopping``/``stopped``) during the wait, unless ``until`` is one of those.
            WaitTimeoutError: The deadline passed; ``.instance`` is the last state seen.
            NotFoundError: It does not exist, and ``until`` is not ``"deleted"``.
        """
        ident = id_text(instance_id, "instance_id")
        goals = wait_goals(until, InstanceState, SSH_GOAL, GONE)

        async def fetch(options: Optional[RequestOptions]) -> Optional[Instance]:
            try:
                return await self.get(ident, request_options=options)
            except NotFoundError:
                if GONE in goals:
                    return None
                raise

        poll: Callable[[Optional[RequestOptions]], Awaitable[Optional[Instance]]] = fetch
        status_of: Callable[[Optional[Instance]], str] = _state
        if not goals & _STOPPED:  # waiting for a stop, a preemption is no dead end
            status_of = _noticing_preemption(_state)
        if SSH_GOAL in goals:
            poll, status_of = with_ssh_goal(fetch, status_of, self._ssh_address)
        policy = WaitPolicy.build(
            goals,
            timeout,
            poll_interval,
            max_poll_interval,
            # Waiting for a deletion, no state is a dead end: even a failed instance goes.
            dead_ends={} if GONE in goals else _DEAD_ENDS,
            status_of=status_of,
        )
        return await poll_until(
            self._pipeline, policy, poll, request_options=request_options, on_poll=on_poll
        )

    def _ssh_address(self, instance: Optional[Instance]) -> Optional[Tuple[str, int]]:
        if instance is None or str(instance.state) != "running" or not instance.ip:
            return None
        refuse_documentation_address(instance.ip, str(instance.id))  # no packet to RFC 5737
        return instance.ip, self._scope.ssh_port

    async def _ssh_target(self, instance: Union[Id, Instance]) -> SshTarget:
        found = instance if isinstance(instance, Instance) else await self.get(instance)
        address = self._ssh_address(found)
        if address is None:
            raise SshError(
                f"instance {found.id} is {found.state}: it can be reached once running "
                f"(atlas.instances.wait({str(found.id)!r}, until='ssh'))",
                instance_id=str(found.id),
            )
        return SshTarget(address[0], address[1], "ubuntu", str(found.id))
