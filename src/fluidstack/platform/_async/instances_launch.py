"""``client.instances``, beyond the API: ``launch`` (the cheapest matching offer, falling
back to the next when one is out of stock) and ``ephemeral`` (an instance for one block)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from decimal import Decimal
from typing import (
    TYPE_CHECKING,
    AsyncIterator,
    List,
    Literal,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

from ...core._async.lifetime import for_the_block
from ...core.errors import ApiError, NoCapacityError, NotFoundError
from ...core.request_options import RequestOptions, for_lookups, option, without_idempotency_key
from ...core.waiters import DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_TIMEOUT
from .. import endpoints as api
from ..types.enums import GPUType, InstanceStatus, Region, SupportedOperatingSystem
from ..types.instances import CreateInstanceResponse, InstanceResponse
from .instances_changes import AsyncInstanceChanges
from .instances_reads import Statuses, Volumes

if TYPE_CHECKING:
    from ...core.spend import Duration
    from ..types.launch import LaunchOption, LaunchPlan

__all__ = ["AsyncInstanceLaunches"]


class AsyncInstanceLaunches(AsyncInstanceChanges):
    """Launching instances across offers, and instances for one block (see
    :class:`AsyncInstancesResource`)."""

    @overload
    async def launch(
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
    async def launch(
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
    async def launch(
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

    async def launch(
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
        # Imported here: a listing needs none of the launch, lease and spend code.
        from ..launch import is_out_of_stock, plan_launch
        from ..spend import check_lease
        from . import spend

        check_lease(name, lease)
        created: Optional[CreateInstanceResponse] = None
        async with spend.holding(self._spend):
            measured = None
            if self._spend is not None:
                measured = await self._spend.measure(
                    self._pipeline, self._all_instances, request_options
                )
                configurations = measured.configurations
            else:
                configurations = await self._pipeline.call(
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
                    created = await self._create(
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
        return await self.wait(
            created.id,
            until=until,
            timeout=timeout,
            poll_interval=poll_interval,
            request_options=for_lookups(request_options),
        )

    @asynccontextmanager
    async def ephemeral(
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
    ) -> AsyncIterator[InstanceResponse]:
        """An instance that lives exactly as long as the ``async with`` block.

        Creates the instance, waits until it is running (``until="ssh"``: and its SSH
        server answers), yields it, and deletes it on
        the way out, whatever happens: an exception, a failed or timed-out wait, Ctrl-C
        or cancellation. If even the create was interrupted, the instance it may have
        made is looked up by name and deleted. A failed delete raises an error naming
        the instance, so a GPU is never left billing silently.
        """
        instance_name = name if name is not None else api.generated_name()

        async def create() -> CreateInstanceResponse:
            return await self.create(
                gpu_type=gpu_type,
                ssh_key=ssh_key,
                name=instance_name,
                gpu_count=gpu_count,
                operating_system_label=operating_system_label,
                region=region,
                volumes=volumes,
                request_options=request_options,
            )

        async def ready(created: CreateInstanceResponse) -> InstanceResponse:
            return await self.wait(
                created.id,
                until=until,
                timeout=timeout,
                poll_interval=poll_interval,
                request_options=for_lookups(request_options),
            )

        async def clean_up(created: Optional[CreateInstanceResponse]) -> None:
            await self._clean_up(created, instance_name)

        async with for_the_block(create, ready, clean_up) as instance:
            yield instance

    async def _clean_up(self, created: Optional[CreateInstanceResponse], name: str) -> None:
        instance_id = created.id if created is not None else None
        try:
            if instance_id is None:
                found = api.find_created(await self._all_instances(), name)
                if found is None or str(found.status) == "terminated":
                    return
                instance_id = found.id
            await self.delete(instance_id)
        except NotFoundError:
            return
        except ApiError as exc:
            what = f"instance {instance_id}" if instance_id else f"the instance named {name!r}"
            raise ApiError(
                f"could not delete {what} on the way out ({exc}); it may still be billing: "
                f"delete it with `fluidstack instances delete {instance_id or name}`"
            ) from exc
