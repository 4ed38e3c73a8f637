# Generated from fluidstack/platform/_async by scripts/unasync.py: do not edit by hand.
"""``client.instances``, changing: create (within the spend limit, with a lease), stop,
start, rename, delete (confirmed with ``wait``) and sweep instances."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, List, Mapping, Optional, Tuple, Union

from ...core._sync.creates import CreateGuard
from ...core._sync.pipeline import Pipeline
from ...core.errors import ConflictError
from ...core.request_options import RequestOptions, for_lookups
from ...core.waiters import DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_TIMEOUT, TERMINAL_STATUSES
from .. import endpoints as api
from ..types.enums import GPUType, InstanceStatus, Region, SupportedOperatingSystem
from ..types.instances import CreateInstanceResponse, InstanceResponse, ListInstanceResponse
from .instances_reads import InstanceReads, Statuses, Volumes

if TYPE_CHECKING:
    # A listing needs none of the create, spend, sweep and lease code: each method
    # imports what it uses (issue 24: start-up of `fluidstack instances list`).
    from ...core.spend import Duration, SweepResult
    from . import spend

__all__ = ["InstanceChanges"]


class InstanceChanges(InstanceReads):
    """Creating, changing and deleting instances (see :class:`InstancesResource`)."""

    def __init__(self, pipeline: Pipeline, spend_guard: Optional[spend.SpendGuard] = None) -> None:
        super().__init__(pipeline)
        self._spend = spend_guard

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
        from ..spend import check_lease
        from .spend import admitting_create

        check_lease(name, lease)
        with admitting_create(
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
            from ...core.spend import lease_expiry
            from ..spend import leased_name
            from .clock import server_now

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
        from .spend import admitting_start

        with admitting_start(
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
            from .teardown import delete_confirmed

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
        from ...core.spend import SweepCriteria
        from .sweep import sweep_instances

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
