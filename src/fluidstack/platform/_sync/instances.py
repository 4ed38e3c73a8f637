# Generated from fluidstack/platform/_async by scripts/unasync.py: do not edit by hand.
"""``client.instances``: create, inspect, stop, start, rename and delete GPU instances."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from typing import (
    Any,
    Callable,
    Iterable,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

from ...core._sync._resource import Resource, raw_method
from ...core._sync.creates import CreateGuard
from ...core._sync.lifetime import for_the_block
from ...core._sync.pipeline import Pipeline
from ...core._sync.polling import SSH_GOAL, poll_until, with_ssh_goal
from ...core._sync.remote import RemoteAccess
from ...core.errors import (
    ApiError,
    ConflictError,
    NoCapacityError,
    NotFoundError,
)
from ...core.request_options import (
    RequestOptions,
    for_lookups,
    option,
    without_idempotency_key,
)
from ...core.spend import Duration, SweepCriteria, SweepResult, lease_expiry
from ...core.ssh import (
    SshError,
    SshTarget,
)
from ...core.waiters import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    TERMINAL_STATUSES,
    WaitPolicy,
)
from .. import endpoints as api
from ..launch import is_out_of_stock, plan_launch
from ..spend import check_lease, leased_name
from ..types.enums import GPUType, InstanceStatus, Region, SupportedOperatingSystem
from ..types.instances import (
    CreateInstanceResponse,
    InstanceResponse,
    ListInstanceResponse,
    VolumeInstanceRequest,
)
from ..types.launch import LaunchOption, LaunchPlan
from . import spend
from .clock import server_now
from .sweep import sweep_instances
from .teardown import delete_confirmed

Statuses = Union[InstanceStatus, str, Iterable[Union[InstanceStatus, str]]]
Volumes = Optional[Sequence[Union[VolumeInstanceRequest, Mapping[str, Any]]]]

__all__ = ["InstancesResource", "InstancesResourceWithRawResponse"]


class InstancesResource(Resource, RemoteAccess[Union[str, InstanceResponse]]):
    """Operations on GPU instances."""

    def __init__(self, pipeline: Pipeline, spend_guard: Optional[spend.SpendGuard] = None) -> None:
        super().__init__(pipeline)
        self._spend = spend_guard

    @property
    def with_raw_response(self) -> InstancesResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return InstancesResourceWithRawResponse(self)

    def list(
        self,
        *,
        page: Optional[int] = None,
        include_failed_instances: Optional[bool] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> List[ListInstanceResponse]:
        """List one page of the account's instances.

        Args:
            page: Page number, from 1 (the server's default is the first page).
            include_failed_instances: Also list instances whose provisioning failed.
            request_options: Per-call options (timeout, retries, extra headers, ...).
        """
        if page is not None and page < 1:
            raise ValueError("page starts at 1")
        return self._pipeline.call(
            api.INSTANCES,
            query={"page": page, "include_failed_instances": include_failed_instances},
            request_options=request_options,
        )

    def create(
        self,
        *,
        gpu_type: Union[GPUType, str],
        ssh_key: str,
        name: Optional[str] = None,
        gpu_count: Optional[int] = None,
        operating_system_label: Union[SupportedOperatingSystem, str, None] = None,
        region: Union[Region, str, None] = None,
        volumes: Volumes = None,
        lease: Optional[Duration] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> CreateInstanceResponse:
        """Create a GPU instance. It starts ``pending``; poll ``get`` or use ``wait``.

        Safe to retry: the request carries an ``Idempotency-Key``, and if an attempt
        fails after the server may have acted on it (a 5xx, a timeout, a dropped
        connection), the SDK looks for the instance that attempt made and returns it
        instead of creating a second one. For that, every create has a name: when you
        give none, a unique one (``fs-`` and 12 hex digits) is generated. An attempt that
        got no answer may still arrive: the SDK keeps looking for up to 10 s before
        sending it again, and after any resend deletes a second instance carrying the
        generated name (reported to ``EventHooks.on_duplicate``).

        Args:
            gpu_type: GPU model, e.g. ``"RTX_A5000_24GB"`` (see ``configurations.list``).
            ssh_key: Name of an SSH key in your account, installed on the instance.
            name: Name of the instance (default: generated, see above).
            gpu_count: Number of GPUs (server default: 1).
            operating_system_label: OS image (server default: ``ubuntu_20_04_lts_nvidia``).
            region: Region to create it in (default: any with capacity).
            volumes: Volumes to attach.
            lease: How long the instance may live (a ``timedelta`` or seconds). Its
                expiry, the server's time now plus ``lease``, is added to its name
                (``NAME--lease-until-20261126T120000Z``); ``sweep(expired=True)`` and
                ``fluidstack instances sweep --expired`` delete it once past.
            request_options: Per-call options; ``idempotency_key`` sets the header.

        Raises:
            SpendLimitError: The client has a ``max_hourly_spend`` and this instance
                would take the account's hourly spend over it; nothing was created.
        """
        check_lease(name, lease)
        with spend.admitting_create(
            self._spend, self._pipeline, self._all_instances, gpu_type, gpu_count, request_options
        ):
            return self._create(
                gpu_type=gpu_type,
                ssh_key=ssh_key,
                name=name,
                gpu_count=gpu_count,
                operating_system_label=operating_system_label,
                region=region,
                volumes=volumes,
                lease=lease,
                request_options=request_options,
            )

    def _create(
        self,
        *,
        gpu_type: Union[GPUType, str],
        ssh_key: str,
        name: Optional[str],
        gpu_count: Optional[int],
        operating_system_label: Union[SupportedOperatingSystem, str, None],
        region: Union[Region, str, None],
        volumes: Volumes,
        lease: Optional[Duration],
        request_options: Optional[RequestOptions],
    ) -> CreateInstanceResponse:
        """``create`` without the spend check (the caller holds it)."""
        instance_name = name if name is not None else api.generated_name()
        if lease is not None:
            # Expiry on the server's clock: this machine's may be off by hours.
            now = server_now(self._pipeline, request_options)
            instance_name = leased_name(instance_name, lease_expiry(now, lease))
        body = api.create_body(
            gpu_type=gpu_type,
            ssh_key=ssh_key,
            name=instance_name,
            gpu_count=gpu_count,
            operating_system_label=operating_system_label,
            region=region,
            volumes=volumes,
        )

        def find() -> List[Tuple[str, CreateInstanceResponse]]:
            listing = self._all_instances(for_lookups(request_options))
            made = api.find_all_created(listing, instance_name)
            return [(i.id, api.as_create_response(i, gpu_type)) for i in made]

        def delete(instance_id: str) -> None:
            self.delete(instance_id, request_options=for_lookups(request_options))

        guard = CreateGuard(
            operation=api.INSTANCE_CREATE.operation,
            identity=instance_name,
            find=find,
            delete=delete,
            unique=name is None,  # a name you chose may be shared by other instances
        )
        return self._pipeline.call(
            api.INSTANCE_CREATE, body=body, request_options=request_options, recover=guard
        )

    def get(
        self, instance_id: str, *, request_options: Optional[RequestOptions] = None
    ) -> InstanceResponse:
        """Get one instance. A pending instance is answered with 202: that is not an error."""
        return self._pipeline.call(
            api.INSTANCE, path_params={"instance_id": instance_id}, request_options=request_options
        )

    def delete(
        self,
        instance_id: str,
        *,
        wait: bool = False,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> None:
        """Terminate an instance. Billing stops; the instance ends ``terminated``.

        With ``wait``, return only once the instance is ``terminated`` (or gone): a
        delete refused with a transient error, or accepted while the instance stays
        live, is sent again (a few times, within ``timeout`` seconds); an instance that
        is already terminated or gone is not an error.

        Deleting an instance that is already ``terminated`` (or ``failed``) succeeds:
        some servers answer that with 409, which is then checked and taken as done, so
        a teardown that deletes every instance of a name never stops at a gone one.

        Raises:
            WaitTimeoutError: With ``wait``, still not terminated at the deadline; the
                message says how many deletes were sent, ``.instance`` the last state.
        """
        if wait:
            delete_confirmed(
                self._pipeline,
                instance_id,
                get=self.get,
                timeout=timeout,
                poll_interval=poll_interval,
                request_options=request_options,
            )
            return
        try:
            self._pipeline.call(
                api.INSTANCE_DELETE,
                path_params={"instance_id": instance_id},
                request_options=request_options,
            )
        except ConflictError:
            current = self.get(instance_id, request_options=for_lookups(request_options))
            if str(current.status) not in TERMINAL_STATUSES:
                raise

    def stop(
        self, instance_id: str, *, request_options: Optional[RequestOptions] = None
    ) -> ListInstanceResponse:
        """Stop a ``running`` instance (it then bills the stopped price)."""
        return self._pipeline.call(
            api.INSTANCE_STOP,
            path_params={"instance_id": instance_id},
            request_options=request_options,
        )

    def start(
        self, instance_id: str, *, request_options: Optional[RequestOptions] = None
    ) -> ListInstanceResponse:
        """Start a ``stopped`` instance.

        Raises:
            SpendLimitError: The client has a ``max_hourly_spend`` and running this
                instance would take the account's hourly spend over it; nothing was sent.
        """
        with spend.admitting_start(
            self._spend, self._pipeline, self._all_instances, instance_id, request_options
        ):
            return self._pipeline.call(
                api.INSTANCE_START,
                path_params={"instance_id": instance_id},
                request_options=request_options,
            )

    def rename(
        self, instance_id: str, name: str, *, request_options: Optional[RequestOptions] = None
    ) -> ListInstanceResponse:
        """Give an instance a new name."""
        if not name:
            raise ValueError("name must be a non-empty string")
        return self._pipeline.call(
            api.INSTANCE_RENAME,
            path_params={"instance_id": instance_id},
            body={"new_instance_name": name},
            request_options=request_options,
        )

    def _all_instances(
        self, request_options: Optional[RequestOptions] = None
    ) -> List[ListInstanceResponse]:
        found: List[ListInstanceResponse] = []
        for instance in self.iter(include_failed_instances=True, request_options=request_options):
            found.append(instance)
        return found

    def wait(
        self,
        instance_id: str,
        *,
        until: Statuses = InstanceStatus.RUNNING,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: Optional[float] = None,
        on_poll: Optional[Callable[[InstanceResponse], object]] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> InstanceResponse:
        """Poll an instance until it reaches ``until``, and return it.

        Polls every ``poll_interval`` seconds at first, then less often (up to
        ``max_poll_interval``, default 30 s). No single request may outlive the deadline.

        Args:
            instance_id: The instance to watch.
            until: The status (or statuses) to wait for, or ``"ssh"``: running *and*
                its SSH server answers (sshd often starts after the status says
                ``running``). Default: ``running``.
            timeout: Seconds to wait in all (default 900); ``None`` waits forever.
            poll_interval: Seconds between the first polls (default 5).
            max_poll_interval: Longest pause between polls (default 30).
            on_poll: Called with the instance after every poll (progress displays).
            request_options: Per-call options for each poll.

        Raises:
            InstanceFailedError: The instance reached ``failed`` or ``terminated``
                while waiting for another status.
            WaitTimeoutError: The deadline passed; ``.instance`` is the last state seen.
        """
        goals = {str(until)} if isinstance(until, str) else {str(u) for u in until}

        def fetch(options: Optional[RequestOptions]) -> InstanceResponse:
            return self.get(instance_id, request_options=options)

        if SSH_GOAL not in goals:
            policy = WaitPolicy.build(goals, timeout, poll_interval, max_poll_interval)
            return poll_until(
                self._pipeline, policy, fetch, request_options=request_options, on_poll=on_poll
            )
        knock, status_of = with_ssh_goal(fetch, lambda i: str(i.status), _ssh_address)
        policy = WaitPolicy.build(
            goals, timeout, poll_interval, max_poll_interval, status_of=status_of
        )
        return poll_until(
            self._pipeline, policy, knock, request_options=request_options, on_poll=on_poll
        )

    # -- SSH ----------------------------------------------------------------------------

    def _ssh_target(self, instance: Union[str, InstanceResponse]) -> SshTarget:
        found = self.get(instance) if isinstance(instance, str) else instance
        address = _ssh_address(found)
        if address is None:
            raise SshError(
                f"instance {found.id} is {found.status}: it can be reached once running "
                f"(client.instances.wait({found.id!r}, until='ssh'))",
                instance_id=found.id,
            )
        host, port = address
        return SshTarget(host, port, found.username or "ubuntu", found.id)

    def create_and_wait(
        self,
        *,
        gpu_type: Union[GPUType, str],
        ssh_key: str,
        name: Optional[str] = None,
        gpu_count: Optional[int] = None,
        operating_system_label: Union[SupportedOperatingSystem, str, None] = None,
        region: Union[Region, str, None] = None,
        volumes: Volumes = None,
        until: Statuses = InstanceStatus.RUNNING,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_poll: Optional[Callable[[InstanceResponse], object]] = None,
        lease: Optional[Duration] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> InstanceResponse:
        """Create an instance and wait until it is ``running`` (see ``create``, ``wait``;
        ``until="ssh"`` waits until its SSH server answers as well).

        If the wait fails, the instance is left as it is: the error's ``instance``
        attribute says which one, so you can inspect or delete it.
        """
        created = self.create(
            gpu_type=gpu_type,
            ssh_key=ssh_key,
            name=name,
            gpu_count=gpu_count,
            operating_system_label=operating_system_label,
            region=region,
            volumes=volumes,
            lease=lease,
            request_options=request_options,
        )
        return self.wait(
            created.id,
            until=until,
            timeout=timeout,
            poll_interval=poll_interval,
            on_poll=on_poll,
            request_options=for_lookups(request_options),
        )

    @overload
    def launch(
        self,
        *,
        gpu_type: Union[GPUType, str, Sequence[Union[GPUType, str]], None],
        ssh_key: str,
        gpu_count: int = ...,
        regions: Union[Region, str, Sequence[Union[Region, str]], None] = ...,
        max_price_per_hour: Union[float, Decimal, str, None] = ...,
        dry_run: Literal[False] = ...,
        name: Optional[str] = ...,
        operating_system_label: Union[SupportedOperatingSystem, str, None] = ...,
        lease: Optional[Duration] = ...,
        until: None = ...,
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> CreateInstanceResponse: ...

    @overload
    def launch(
        self,
        *,
        gpu_type: Union[GPUType, str, Sequence[Union[GPUType, str]], None],
        ssh_key: str,
        gpu_count: int = ...,
        regions: Union[Region, str, Sequence[Union[Region, str]], None] = ...,
        max_price_per_hour: Union[float, Decimal, str, None] = ...,
        dry_run: Literal[False] = ...,
        name: Optional[str] = ...,
        operating_system_label: Union[SupportedOperatingSystem, str, None] = ...,
        lease: Optional[Duration] = ...,
        until: Statuses,
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> InstanceResponse: ...

    @overload
    def launch(
        self,
        *,
        gpu_type: Union[GPUType, str, Sequence[Union[GPUType, str]], None],
        ssh_key: str,
        gpu_count: int = ...,
        regions: Union[Region, str, Sequence[Union[Region, str]], None] = ...,
        max_price_per_hour: Union[float, Decimal, str, None] = ...,
        dry_run: Literal[True],
        name: Optional[str] = ...,
        operating_system_label: Union[SupportedOperatingSystem, str, None] = ...,
        lease: Optional[Duration] = ...,
        until: Optional[Statuses] = ...,
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> LaunchPlan: ...

    def launch(
        self,
        *,
        gpu_type: Union[GPUType, str, Sequence[Union[GPUType, str]], None],
        ssh_key: str,
        gpu_count: int = 1,
        regions: Union[Region, str, Sequence[Union[Region, str]], None] = None,
        max_price_per_hour: Union[float, Decimal, str, None] = None,
        dry_run: bool = False,
        name: Optional[str] = None,
        operating_system_label: Union[SupportedOperatingSystem, str, None] = None,
        lease: Optional[Duration] = None,
        until: Optional[Statuses] = None,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> Union[CreateInstanceResponse, InstanceResponse, LaunchPlan]:
        """Create an instance wherever it is cheapest, falling back when out of stock.

        Reads the catalog, keeps the configurations that match (GPU type or types, GPU
        count, regions, hourly budget for the whole instance), and tries them cheapest
        first; a region that is out of stock is skipped for the next one.

        Args:
            gpu_type: A GPU type, a list of acceptable ones, or ``None`` for any.
            ssh_key: Name of an SSH key in your account.
            gpu_count: GPUs per instance (default 1).
            regions: Acceptable regions, in order of preference for equal prices;
                ``None`` for any.
            max_price_per_hour: Highest acceptable USD per hour for the whole instance.
            dry_run: Create nothing; return the :class:`LaunchPlan` that would be tried.
            name: Instance name (default: generated).
            operating_system_label: OS image (default: the server's).
            until: Wait for the created instance to reach this status, e.g. ``running``
                or ``"ssh"`` (running and its SSH server answers), and return it (see
                :meth:`wait`; ``timeout`` and ``poll_interval`` apply). Default: return
                the create's answer at once.
            lease: How long the instance may live (see :meth:`create`).
            request_options: Per-call options for each request.

        With a client ``max_hourly_spend``, offers that would take the account's hourly
        spend over it are skipped (and left out of a dry run's plan).

        Raises:
            NoCapacityError: Nothing matches, or every match was out of stock.
            SpendLimitError: Offers match, but every one is over the spend limit.
            WaitTimeoutError, InstanceFailedError: With ``until``, as :meth:`wait`; the
                instance is left as it is (the error's ``instance`` says which).
        """
        check_lease(name, lease)
        created: Optional[CreateInstanceResponse] = None
        with spend.holding(self._spend):
            measured = None
            if self._spend is not None:
                measured = self._spend.measure(self._pipeline, self._all_instances, request_options)
                configurations = measured.configurations
            else:
                configurations = self._pipeline.call(
                    api.CONFIGURATIONS, request_options=for_lookups(request_options)
                )
            plan = plan_launch(
                configurations,
                gpu_type=gpu_type,
                gpu_count=gpu_count,
                regions=regions,
                max_price_per_hour=max_price_per_hour,
            )
            skipped: List[LaunchOption] = []
            if self._spend is not None and measured is not None:
                plan, skipped = spend.affordable(plan, self._spend.limit, measured.hourly)
            if dry_run:
                return plan
            if not plan.options:
                if self._spend is not None and measured is not None and skipped:
                    spend.over_limit(self._spend.limit, measured.hourly, skipped)
                raise NoCapacityError("no configuration in the catalog matches this launch")
            instance_name = name if name is not None else api.generated_name()
            key = option(request_options, "idempotency_key")
            attempts: List[Tuple[LaunchOption, ApiError]] = []
            for number, choice in enumerate(plan.options):
                options = without_idempotency_key(request_options)
                if key:
                    options = {**(options or {}), "idempotency_key": f"{key}-{number}"}
                try:
                    created = self._create(
                        gpu_type=choice.gpu_type,
                        ssh_key=ssh_key,
                        name=instance_name,
                        gpu_count=choice.gpu_count,
                        operating_system_label=operating_system_label,
                        region=choice.region,
                        volumes=None,
                        lease=lease,
                        request_options=options,
                    )
                    break
                except ApiError as exc:
                    if not is_out_of_stock(exc):
                        raise
                    attempts.append((choice, exc))
        if created is None:
            tried = ", ".join(f"{c.gpu_type} in {c.region}" for c, _ in attempts)
            raise NoCapacityError(
                f"out of stock everywhere that matches: {tried}", attempts=attempts
            )
        if until is None:
            return created
        # The wait is outside the spend hold: only creates need to be one at a time.
        return self.wait(
            created.id,
            until=until,
            timeout=timeout,
            poll_interval=poll_interval,
            request_options=for_lookups(request_options),
        )

    @contextmanager
    def ephemeral(
        self,
        *,
        gpu_type: Union[GPUType, str],
        ssh_key: str,
        name: Optional[str] = None,
        gpu_count: Optional[int] = None,
        operating_system_label: Union[SupportedOperatingSystem, str, None] = None,
        region: Union[Region, str, None] = None,
        volumes: Volumes = None,
        until: Statuses = InstanceStatus.RUNNING,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> Iterator[InstanceResponse]:
        """An instance that lives exactly as long as the ``with`` block.

        Creates the instance, waits until it is running (``until="ssh"``: and its SSH
        server answers), yields it, and deletes it on
        the way out, whatever happens: an exception, a failed or timed-out wait, Ctrl-C
        or cancellation. If even the create was interrupted, the instance it may have
        made is looked up by name and deleted. A failed delete raises an error naming
        the instance, so a GPU is never left billing silently.
        """
        instance_name = name if name is not None else api.generated_name()

        def create() -> CreateInstanceResponse:
            return self.create(
                gpu_type=gpu_type,
                ssh_key=ssh_key,
                name=instance_name,
                gpu_count=gpu_count,
                operating_system_label=operating_system_label,
                region=region,
                volumes=volumes,
                request_options=request_options,
            )

        def ready(created: CreateInstanceResponse) -> InstanceResponse:
            return self.wait(
                created.id,
                until=until,
                timeout=timeout,
                poll_interval=poll_interval,
                request_options=for_lookups(request_options),
            )

        def clean_up(created: Optional[CreateInstanceResponse]) -> None:
            self._clean_up(created, instance_name)

        with for_the_block(create, ready, clean_up) as instance:
            yield instance

    def _clean_up(self, created: Optional[CreateInstanceResponse], name: str) -> None:
        instance_id = created.id if created is not None else None
        try:
            if instance_id is None:
                found = api.find_created(self._all_instances(), name)
                if found is None or str(found.status) == "terminated":
                    return
                instance_id = found.id
            self.delete(instance_id)
        except NotFoundError:
            return
        except ApiError as exc:
            what = f"instance {instance_id}" if instance_id else f"the instance named {name!r}"
            raise ApiError(
                f"could not delete {what} on the way out ({exc}); it may still be billing: "
                f"delete it with `fluidstack instances delete {instance_id or name}`"
            ) from exc

    def sweep(
        self,
        *,
        older_than: Optional[Duration] = None,
        name_prefix: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        statuses: Optional[Statuses] = None,
        expired: bool = False,
        dry_run: bool = True,
        wait: bool = True,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        request_options: Optional[RequestOptions] = None,
    ) -> SweepResult[ListInstanceResponse]:
        """Find the instances nobody meant to keep, and (only with ``dry_run=False``)
        delete them.

        Every criterion given must hold, and at least one is required: a sweep never
        selects every instance by default. Ages and leases are judged on the server's
        clock. Instances already ``terminated`` are never selected.

        Args:
            older_than: Created at least this long ago (a ``timedelta`` or seconds).
            name_prefix: Named with this prefix (e.g. ``"ci-"``).
            tags: Not supported here: platform instances have no tags (``ValueError``).
            statuses: In one of these statuses (e.g. ``["running", "stopped"]``).
            expired: Whose lease (``create(..., lease=...)``) has run out.
            dry_run: ``True`` (the default): delete nothing, report what would be.
            wait: Confirm each delete (see :meth:`delete`); ``False`` only sends them.
            timeout: Seconds each confirmed delete may take (default 900).
            poll_interval: Seconds between the first polls of a confirmed delete.
            request_options: Per-call options for each request.

        Returns:
            A :class:`~fluidstack.core.spend.SweepResult`: ``matched`` (each with its
            age, hourly price, cost so far and the reasons it matched), ``deleted``,
            ``failed`` (with the error), and ``undecided`` (instances ``older_than``
            could not judge).
        """
        if tags is not None:
            raise ValueError(
                "platform instances have no tags: select them by name_prefix, older_than, "
                "statuses or expired (Atlas instances have tags: atlas.instances.sweep)"
            )
        criteria = SweepCriteria.build(
            older_than=older_than,
            name_prefix=name_prefix,
            statuses=statuses,
            expired=expired,
        )
        return sweep_instances(
            self._pipeline,
            criteria,
            list_all=self._all_instances,
            delete=self.delete,
            dry_run=dry_run,
            wait=wait,
            timeout=timeout,
            poll_interval=poll_interval,
            request_options=request_options,
        )

    def iter(
        self,
        *,
        include_failed_instances: Optional[bool] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> InstancePager:
        """Every instance of the account, page after page, fetched lazily::

        for instance in client.instances.iter():
            ...
        """
        return InstancePager(self, include_failed_instances, request_options)


def _ssh_address(instance: InstanceResponse) -> Optional[Tuple[str, int]]:
    """Where a running instance answers SSH (``None`` when it does not yet)."""
    if str(instance.status) != "running" or not instance.ip_address:
        return None
    try:
        port = int(instance.ssh_port or 22)
    except ValueError:
        port = 22
    return instance.ip_address, port


class InstancePager:
    """Iterates over all pages of ``instances.list``; stops at an empty or repeated page."""

    def __init__(
        self,
        resource: InstancesResource,
        include_failed_instances: Optional[bool],
        request_options: Optional[RequestOptions],
    ) -> None:
        self._resource = resource
        self._include_failed = include_failed_instances
        self._options = request_options
        self._page = 0
        self._buffer: List[ListInstanceResponse] = []
        self._seen: set[str] = set()
        self._done = False

    def __iter__(self) -> InstancePager:
        return self

    def __next__(self) -> ListInstanceResponse:
        while not self._buffer:
            if self._done:
                raise StopIteration
            self._page += 1
            page = self._resource.list(
                page=self._page,
                include_failed_instances=self._include_failed,
                request_options=self._options,
            )
            fresh = [i for i in page if i.id not in self._seen]
            # A server that ignores `page` repeats itself: stop rather than loop forever.
            if not fresh:
                self._done = True
                raise StopIteration
            self._seen.update(i.id for i in fresh)
            self._buffer = fresh[::-1]
        return self._buffer.pop()


class InstancesResourceWithRawResponse:
    """``client.instances.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: InstancesResource) -> None:
        self.list = raw_method(resource.list)
        self.create = raw_method(resource.create)
        self.get = raw_method(resource.get)
        self.delete = raw_method(resource.delete)
        self.stop = raw_method(resource.stop)
        self.start = raw_method(resource.start)
        self.rename = raw_method(resource.rename)
