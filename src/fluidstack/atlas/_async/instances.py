"""``atlas.instances``: create, inspect, start, stop, wait for and delete machine instances,
launch one wherever there is capacity, and keep one only for the length of a block."""

from __future__ import annotations

import datetime as dt
from contextlib import asynccontextmanager
from typing import (
    AsyncIterator,
    Awaitable,
    Callable,
    FrozenSet,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

from ...core._async._resource import raw_method
from ...core._async.creates import AsyncCreateGuard
from ...core._async.lifetime import for_the_block
from ...core._async.polling import SSH_GOAL, poll_until, with_ssh_goal
from ...core._async.remote import AsyncRemoteAccess
from ...core.endpoint import Endpoint, Found
from ...core.errors import (
    ApiError,
    InstanceFailedError,
    NoCapacityError,
    NotFoundError,
    NotSupportedError,
    OutOfStockError,
)
from ...core.raw import side_calls
from ...core.request_options import RequestOptions, for_lookups, option
from ...core.spend import Duration, SweepCriteria, SweepResult, lease_expiry
from ...core.ssh import (
    SshError,
    SshTarget,
)
from ...core.waiters import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    GONE,
    WaitPolicy,
)
from .. import endpoints as api
from ..endpoints import Id, Tags, UserData, check_tags, id_text
from ..spend import CREATED_AT_TAG, LEASE_TAG, stamp
from ..types import Filesystem, GlobalInstance, Instance, InstanceState
from ._resource import AsyncAtlasResource
from .clock import server_now
from .scope import AsyncScope
from .spend import admitting
from .sweep import sweep_instances
from .teardown import delete_confirmed

__all__ = ["AsyncInstancesResource", "AsyncInstancesResourceWithRawResponse"]

States = Union[InstanceState, str, Iterable[Union[InstanceState, str]]]
Filesystems = Optional[Sequence[Union[Id, Filesystem]]]

# States an instance cannot leave for another goal: waiting on raises.
_DEAD_ENDS = {
    str(InstanceState.ERROR): InstanceFailedError,
    str(InstanceState.OUT_OF_STOCK): OutOfStockError,
}
# What an accepted start or stop looks like, for a call whose answer was lost.
_STARTED: FrozenSet[str] = frozenset({"starting", "running"})
_STOPPED: FrozenSet[str] = frozenset({"stopping", "stopped"})


def _state(instance: Optional[Instance]) -> str:
    return GONE if instance is None else str(instance.state)


class AsyncInstancesResource(AsyncAtlasResource, AsyncRemoteAccess[Union[Id, Instance]]):
    """Machine instances of the client's project, in its region."""

    @property
    def with_raw_response(self) -> AsyncInstancesResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncInstancesResourceWithRawResponse(self)

    # -- reading ----------------------------------------------------------------------

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

    # -- creating -----------------------------------------------------------------------

    async def create(
        self,
        *,
        type: str,
        name: Optional[str] = None,
        image: Optional[str] = None,
        tags: Tags = None,
        user_data: UserData = None,
        filesystems: Filesystems = None,
        ephemeral: Optional[bool] = None,
        preemptible: Optional[bool] = None,
        lease: Optional[Duration] = None,
        wait: bool = False,
        until: Union[InstanceState, str] = InstanceState.RUNNING,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> Instance:
        """Create an instance in the client's region and project. It starts ``creating``.

        The instance is tagged ``fluidstack.created-at`` with the server's time (Atlas
        records no creation time; ``sweep(older_than=...)`` needs one).

        Safe to retry: the instance carries a ``fluidstack.client-token`` tag, and if an
        attempt fails after the server may have acted on it (a 5xx, a timeout, a dropped
        connection), the instance carrying that tag is returned instead of a second one
        being made. An attempt that got no answer may still arrive: the SDK keeps looking
        for up to 10 s before sending it again, and after any resend deletes a second
        instance carrying the tag (reported to ``EventHooks.on_duplicate``).
        ``request_options={"idempotency_key": ...}`` sets the tag's value, so a retry
        from another process finds it too.

        Args:
            type: Instance type, e.g. ``"h100-hgx-80gb.8x"`` (see ``instance_types.list``).
            name: Its name (default: generated, ``fs-`` and 12 hex digits).
            image: Operating-system image (server default: ``image://ubuntu22.04``).
            tags: Your tags (keys: 1-63 letters, digits, ``-_.``).
            user_data: cloud-init user data as text or bytes (e.g. a ``#cloud-config``
                document); it is base64-encoded for you.
            filesystems: Filesystems (or their ids) to attach.
            ephemeral: A boot disk that does not survive a stop and start (server
                default: ``False``).
            preemptible: Cheaper, but may be stopped at any time (server default:
                ``False``).
            lease: How long the instance may live (a ``timedelta`` or seconds): its
                expiry, the server's time now plus ``lease``, is recorded in the tag
                ``fluidstack.lease-until``; ``sweep(expired=True)`` and
                ``fluidstack atlas instances sweep --expired`` delete it once past.
            wait: Return only once it is ``running`` (see :meth:`wait`). If the wait
                fails, the instance is left as it is: the error's ``instance`` says which.
            until: With ``wait``, the state to wait for: ``running`` (default) or
                ``"ssh"`` (running and its SSH server answers).
            timeout: With ``wait``, seconds to wait (default 900).
            poll_interval: With ``wait``, seconds between the first polls (default 5).
            request_options: Per-call options; ``idempotency_key`` sets the client token.

        Raises:
            SpendLimitError: The client has a ``max_hourly_spend`` and this instance
                would take the organization's hourly spend over it; nothing was sent.
        """
        token = option(request_options, "idempotency_key") or api.new_client_token()
        own = check_tags(tags)
        if lease is not None:
            lease_expiry(dt.datetime.now(dt.timezone.utc), lease)  # a bad lease: refused now
        async with admitting(
            self._scope.spend, self._scope, type, f"creating a {type}", request_options
        ):
            # A lease must end on the server's clock: ask it if need be.
            now = await server_now(self._scope, request_options, ask=lease is not None)
            own[CREATED_AT_TAG] = stamp(now)
            if lease is not None:
                own[LEASE_TAG] = stamp(lease_expiry(now, lease))
            instance = await self._create(
                token,
                name=name,
                type=type,
                image=image,
                tags=own,
                user_data=user_data,
                filesystems=filesystems,
                ephemeral=ephemeral,
                preemptible=preemptible,
                request_options=request_options,
            )
        if not wait:
            return instance
        return await self.wait(
            instance.id,
            until=until,
            timeout=timeout,
            poll_interval=poll_interval,
            request_options=for_lookups(request_options),
        )

    async def _create(
        self,
        token: str,
        *,
        name: Optional[str],
        type: str,
        image: Optional[str],
        tags: Tags,
        user_data: UserData,
        filesystems: Filesystems,
        ephemeral: Optional[bool],
        preemptible: Optional[bool],
        request_options: Optional[RequestOptions],
    ) -> Instance:
        body = api.instance_body(
            name=name if name is not None else api.generated_name(),
            type=type,
            image=image,
            tags=tags,
            user_data=user_data,
            filesystems=filesystems,
            ephemeral=ephemeral,
            preemptible=preemptible,
            client_token=token,
        )

        async def find() -> List[Tuple[str, Instance]]:
            listing = await self.list(request_options=for_lookups(request_options))
            return [(i.id, i) for i in api.find_all_tagged(listing, token)]

        async def delete(instance_id: str) -> None:
            await self.delete(instance_id, request_options=for_lookups(request_options))

        guard = AsyncCreateGuard(
            operation=api.INSTANCE_CREATE.operation,
            identity=token,
            find=find,
            delete=delete,
            unique=True,  # the client token is this call's alone
        )
        return await self._scope.regional(
            api.INSTANCE_CREATE,
            project=True,
            body=body,
            request_options=request_options,
            recover=guard,
        )

    # -- changing state -----------------------------------------------------------------

    @overload
    async def start(
        self,
        instance_id: Id,
        *,
        wait: Literal[False] = ...,
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> None: ...

    @overload
    async def start(
        self,
        instance_id: Id,
        *,
        wait: Literal[True],
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> Instance: ...

    async def start(
        self,
        instance_id: Id,
        *,
        wait: bool = False,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> Optional[Instance]:
        """Start a ``stopped`` instance (409 in another state). With ``wait``, return it
        once ``running``.

        Raises:
            SpendLimitError: The client has a ``max_hourly_spend`` and running this
                instance would take the organization's hourly spend over it.
        """
        instance_type = None
        if self._scope.spend is not None:
            ident = id_text(instance_id, "instance_id")
            with side_calls():
                try:
                    current = await self.get(ident, request_options=for_lookups(request_options))
                except NotFoundError:  # the start's own 404 says it
                    current = None
            if current is not None and str(current.state) == "stopped":
                instance_type = current.type
        async with admitting(
            self._scope.spend,
            self._scope,
            instance_type,
            f"starting instance {id_text(instance_id, 'instance_id')}",
            request_options,
        ):
            return await self._start(
                instance_id,
                wait=wait,
                timeout=timeout,
                poll_interval=poll_interval,
                request_options=request_options,
            )

    async def _start(
        self,
        instance_id: Id,
        *,
        wait: bool,
        timeout: Optional[float],
        poll_interval: float,
        request_options: Optional[RequestOptions],
    ) -> Optional[Instance]:
        return await self._act(
            api.INSTANCE_START,
            instance_id,
            _STARTED,
            "running",
            wait,
            timeout,
            poll_interval,
            request_options,
        )

    @overload
    async def stop(
        self,
        instance_id: Id,
        *,
        wait: Literal[False] = ...,
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> None: ...

    @overload
    async def stop(
        self,
        instance_id: Id,
        *,
        wait: Literal[True],
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> Instance: ...

    async def stop(
        self,
        instance_id: Id,
        *,
        wait: bool = False,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> Optional[Instance]:
        """Stop a ``running`` instance (409 in another state). With ``wait``, return it
        once ``stopped``."""
        return await self._act(
            api.INSTANCE_STOP,
            instance_id,
            _STOPPED,
            "stopped",
            wait,
            timeout,
            poll_interval,
            request_options,
        )

    async def _act(
        self,
        endpoint: Endpoint[Optional[Instance]],
        instance_id: Id,
        accepted: FrozenSet[str],
        goal: str,
        wait: bool,
        timeout: Optional[float],
        poll_interval: float,
        request_options: Optional[RequestOptions],
    ) -> Optional[Instance]:
        ident = id_text(instance_id, "instance_id")

        async def recover() -> Optional[Found[Optional[Instance]]]:
            # Sent again, an action the server performed would now conflict (409):
            # the instance's state says whether it was.
            current = await self.get(ident, request_options=for_lookups(request_options))
            return Found(current) if str(current.state) in accepted else None

        await self._scope.regional(
            endpoint,
            project=True,
            path_params={"instance_id": ident},
            request_options=request_options,
            recover=recover,
        )
        if not wait:
            return None
        return await self.wait(
            ident,
            until=goal,
            timeout=timeout,
            poll_interval=poll_interval,
            request_options=for_lookups(request_options),
        )

    async def delete(
        self,
        instance_id: Id,
        *,
        wait: bool = False,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> None:
        """Delete an instance: irreversible, and its boot disk is lost.

        The instance goes ``deleting`` and disappears later. With ``wait``, return only
        once it is gone (its GET answers 404); an instance that is already gone is then
        not an error, and a delete the server refused with a transient error (after the
        retries), or accepted while the instance stays live, is sent again (a few
        times, within ``timeout`` seconds).

        Raises:
            WaitTimeoutError: With ``wait``, still there at the deadline; the message
                says how many deletes were sent, ``.instance`` the last state.
        """
        ident = id_text(instance_id, "instance_id")
        if wait:
            await delete_confirmed(
                self._scope,
                ident,
                get=self.get,
                timeout=timeout,
                poll_interval=poll_interval,
                request_options=request_options,
            )
            return
        await self._scope.regional(
            api.INSTANCE_DELETE,
            project=True,
            path_params={"instance_id": ident},
            request_options=request_options,
        )

    async def sweep(
        self,
        *,
        older_than: Optional[Duration] = None,
        name_prefix: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        statuses: Optional[States] = None,
        expired: bool = False,
        dry_run: bool = True,
        wait: bool = True,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> SweepResult[Instance]:
        """Find the instances of the client's project and region that nobody meant to
        keep, and (only with ``dry_run=False``) delete them.

        Every criterion given must hold, and at least one is required: a sweep never
        selects every instance by default. Ages and leases are judged on the server's
        clock; instances already ``deleting`` are never selected.

        Args:
            older_than: Created at least this long ago (a ``timedelta`` or seconds),
                by the ``fluidstack.created-at`` tag this SDK's creates carry. Instances
                without it are never selected: they are listed in ``undecided``.
            name_prefix: Named with this prefix (e.g. ``"ci-"``).
            tags: Carrying all these tags (``{"team": "ml"}``).
            statuses: In one of these states (e.g. ``["running", "stopped"]``).
            expired: Whose lease (``create(..., lease=...)``) has run out.
            dry_run: ``True`` (the default): delete nothing, report what would be.
            wait: Confirm each delete (see :meth:`delete`); ``False`` only sends them.
            timeout: Seconds each confirmed delete may take (default 900).
            poll_interval: Seconds between the first polls of a confirmed delete.
            request_options: Per-call options for each request.

        Returns:
            A :class:`~fluidstack.core.spend.SweepResult`. Hourly prices and costs so
            far are known only for types in the client's ``prices`` table.
        """
        criteria = SweepCriteria.build(
            older_than=older_than,
            name_prefix=name_prefix,
            tags=tags,
            statuses=statuses,
            expired=expired,
        )
        return await sweep_instances(
            self._pipeline,
            criteria,
            list_instances=self.list,
            delete=self.delete,
            prices=self._scope.prices,
            dry_run=dry_run,
            wait=wait,
            timeout=timeout,
            poll_interval=poll_interval,
            request_options=request_options,
        )

    # -- waiting --------------------------------------------------------------------------

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
            OutOfStockError: The instance went ``out-of-stock`` (the region had no
                capacity for its type) while waiting for another state.
            InstanceFailedError: It went ``error``.
            WaitTimeoutError: The deadline passed; ``.instance`` is the last state seen.
            NotFoundError: It does not exist, and ``until`` is not ``"deleted"``.
        """
        ident = id_text(instance_id, "instance_id")
        goals = {str(until)} if isinstance(until, str) else {str(u) for u in until}

        async def fetch(options: Optional[RequestOptions]) -> Optional[Instance]:
            try:
                return await self.get(ident, request_options=options)
            except NotFoundError:
                if GONE in goals:
                    return None
                raise

        poll: Callable[[Optional[RequestOptions]], Awaitable[Optional[Instance]]] = fetch
        status_of: Callable[[Optional[Instance]], str] = _state
        if SSH_GOAL in goals:
            poll, status_of = with_ssh_goal(fetch, _state, self._ssh_address)
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

    # -- SSH ----------------------------------------------------------------------------

    def _ssh_address(self, instance: Optional[Instance]) -> Optional[Tuple[str, int]]:
        if instance is None or str(instance.state) != "running" or not instance.ip:
            return None
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

    # -- beyond the API -----------------------------------------------------------------

    async def launch(
        self,
        *,
        type: str,
        regions: Optional[Sequence[str]] = None,
        name: Optional[str] = None,
        image: Optional[str] = None,
        tags: Tags = None,
        user_data: UserData = None,
        filesystems: Filesystems = None,
        ephemeral: Optional[bool] = None,
        preemptible: Optional[bool] = None,
        lease: Optional[Duration] = None,
        until: Union[InstanceState, str] = InstanceState.RUNNING,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> Instance:
        """Create an instance of ``type`` in the first region that has capacity for it,
        and return it once ``running`` (``until="ssh"``: once its SSH server answers).

        Reads each region's ``/capacity`` in turn and creates where the type is
        available. When an instance goes ``out-of-stock`` anyway (capacity is taken
        between the read and the create), it is deleted and the next region is tried.
        The client's project is used in every region.

        Args:
            type: The instance type.
            regions: Region names, in order of preference (default: every region, in
                the order the management API lists them).
            name, image, tags, user_data, filesystems, ephemeral, preemptible, lease: As
                for :meth:`create`.
            timeout: Seconds to wait for the instance in each region (default 900).
            poll_interval: Seconds between the first polls of each wait (default 5).
            request_options: Per-call options for each request.

        Raises:
            NoCapacityError: No region could run it; ``attempts`` lists
                ``(region, error)`` for every region tried.
            SpendLimitError: The client's ``max_hourly_spend`` does not leave room for
                it (checked before each create).
            InstanceFailedError: The instance went ``error`` (it is deleted first).
            WaitTimeoutError: It did not come up in time; it is left as it is, and the
                error's ``instance`` says which.
        """
        lookups = for_lookups(request_options)
        key = option(request_options, "idempotency_key")
        attempts: List[Tuple[str, ApiError]] = []
        for number, (region, scope) in enumerate(await self._launch_scopes(regions, lookups)):
            here = AsyncInstancesResource(scope)
            try:
                capacity = await scope.regional(api.CAPACITY, project=True, request_options=lookups)
            except ApiError as exc:  # no such project there, not supported, ...
                attempts.append((region, exc))
                continue
            available = max((c.capacity for c in capacity if c.name == type), default=0)
            if available <= 0:
                attempts.append(
                    (region, NoCapacityError(f"region {region} reports no capacity for {type}"))
                )
                continue
            options = request_options
            if key:  # one client token per region: each create is its own
                options = {**(request_options or {}), "idempotency_key": f"{key}-{number}"}
            try:
                created = await here.create(
                    type=type,
                    name=name,
                    image=image,
                    tags=tags,
                    user_data=user_data,
                    filesystems=filesystems,
                    ephemeral=ephemeral,
                    preemptible=preemptible,
                    lease=lease,
                    request_options=options,
                )
            except NotSupportedError as exc:  # the region lists capacity, but cannot create
                attempts.append((region, exc))
                continue
            try:
                return await here.wait(
                    created.id,
                    until=until,
                    timeout=timeout,
                    poll_interval=poll_interval,
                    request_options=lookups,
                )
            except OutOfStockError as exc:
                # As the vendor's own example does: an out-of-stock instance is deleted.
                await here._discard(created.id)
                attempts.append((region, exc))
            except InstanceFailedError:
                await here._discard(created.id)
                raise
        if not attempts:
            raise NoCapacityError("no region to launch in")
        tried = "; ".join(f"{region}: {error.message or error}" for region, error in attempts)
        raise NoCapacityError(
            f"no capacity for {type} in any region tried ({tried})", attempts=attempts
        )

    async def _launch_scopes(
        self, regions: Optional[Sequence[str]], request_options: Optional[RequestOptions]
    ) -> List[Tuple[str, AsyncScope]]:
        """The regions a launch tries, in order, each with the scope to call it in."""
        current = self._scope
        if regions is None:
            if current.region_api is not None:
                # A region given by its URL: it is the one region this client knows.
                return [(current.region_label, current)]
            regions = [r.name for r in await current.directory.known(request_options)]
        return [
            (
                region,
                current
                if region == current.region
                else current.derive(region=region, project_id=current.project_id, region_api=None),
            )
            for region in regions
        ]

    async def _discard(self, instance_id: str) -> None:
        """Delete an instance this SDK created and will not hand over; a failure says
        which instance may still exist."""
        try:
            await self.delete(instance_id)
        except NotFoundError:
            return
        except ApiError as exc:
            raise ApiError(
                f"could not delete instance {instance_id} ({exc}); it may still be billing: "
                f"delete it with `fluidstack atlas instances delete {instance_id}`"
            ) from exc

    @asynccontextmanager
    async def disposable(
        self,
        *,
        type: str,
        name: Optional[str] = None,
        image: Optional[str] = None,
        tags: Tags = None,
        user_data: UserData = None,
        filesystems: Filesystems = None,
        ephemeral: Optional[bool] = None,
        preemptible: Optional[bool] = None,
        until: Union[InstanceState, str] = InstanceState.RUNNING,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> AsyncIterator[Instance]:
        """An instance that lives exactly as long as the ``async with`` block.

        Creates the instance, waits until it is running, yields it, and deletes it on the
        way out, whatever happens: an exception, a failed or timed-out wait, Ctrl-C or
        cancellation. If even the create was interrupted, the instance it may have made
        is found by its client-token tag and deleted. A failed delete raises an error
        naming the instance, so a machine is never left billing silently.

        (Not to be confused with ``ephemeral=``, the create option for a boot disk that
        does not survive a stop; it is passed through unchanged.)
        """
        token = option(request_options, "idempotency_key") or api.new_client_token()
        options: RequestOptions = {**(request_options or {}), "idempotency_key": token}

        async def create() -> Instance:
            return await self.create(
                type=type,
                name=name,
                image=image,
                tags=tags,
                user_data=user_data,
                filesystems=filesystems,
                ephemeral=ephemeral,
                preemptible=preemptible,
                request_options=options,
            )

        async def ready(created: Instance) -> Instance:
            return await self.wait(
                created.id,
                until=until,
                timeout=timeout,
                poll_interval=poll_interval,
                request_options=for_lookups(request_options),
            )

        async def clean_up(created: Optional[Instance]) -> None:
            await self._clean_up(created, token)

        async with for_the_block(create, ready, clean_up) as instance:
            yield instance

    async def _clean_up(self, created: Optional[Instance], token: str) -> None:
        instance_id = created.id if created is not None else None
        if instance_id is None:
            try:
                found = api.find_tagged(await self.list(), token)
            except ApiError as exc:
                raise ApiError(
                    f"could not check whether the interrupted create made an instance ({exc}); "
                    f"look for the tag {api.CLIENT_TOKEN_TAG}={token}"
                ) from exc
            if found is None:
                return
            instance_id = found.id
        await self._discard(instance_id)


class AsyncInstancesResourceWithRawResponse:
    """``atlas.instances.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: AsyncInstancesResource) -> None:
        self.list = raw_method(resource.list)
        self.get = raw_method(resource.get)
        self.create = raw_method(resource.create)
        self.start = raw_method(resource.start)
        self.stop = raw_method(resource.stop)
        self.delete = raw_method(resource.delete)
