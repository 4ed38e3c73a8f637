# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""``atlas.instances``, beyond the API: ``launch`` (wherever there is capacity, region
after region) and ``disposable`` (an instance for the length of a block)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence, Tuple, Union

from ...core._sync.lifetime import for_the_block
from ...core.errors import (
    ApiError,
    InstanceFailedError,
    NoCapacityError,
    NotFoundError,
    NotSupportedError,
    OutOfStockError,
)
from ...core.request_options import RequestOptions, for_lookups, option
from ...core.waiters import DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_TIMEOUT
from .. import endpoints as api
from ..endpoints import Tags, UserData
from ..types import Instance, InstanceState
from .instances_changes import InstanceChanges
from .instances_reads import Filesystems
from .scope import Scope

if TYPE_CHECKING:
    from ...core.spend import Duration  # the spend and lease code loads when used

__all__ = ["InstanceLaunches"]


class InstanceLaunches(InstanceChanges):
    """Launching instances across regions, and instances for one block (see
    :class:`InstancesResource`)."""

    def launch(
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
        for number, (region, scope) in enumerate(self._launch_scopes(regions, lookups)):
            here = self.__class__(
                scope
            )  # this class, on that region's scope (`type` is a parameter)
            try:
                capacity = scope.regional(api.CAPACITY, project=True, request_options=lookups)
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
                created = here.create(
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
                return here.wait(
                    created.id,
                    until=until,
                    timeout=timeout,
                    poll_interval=poll_interval,
                    request_options=lookups,
                )
            except OutOfStockError as exc:
                # As the vendor's own example does: an out-of-stock instance is deleted.
                here._discard(created.id)
                attempts.append((region, exc))
            except InstanceFailedError:
                here._discard(created.id)
                raise
        if not attempts:
            raise NoCapacityError("no region to launch in")
        tried = "; ".join(f"{region}: {error.message or error}" for region, error in attempts)
        raise NoCapacityError(
            f"no capacity for {type} in any region tried ({tried})", attempts=attempts
        )

    def _launch_scopes(
        self, regions: Optional[Sequence[str]], request_options: Optional[RequestOptions]
    ) -> List[Tuple[str, Scope]]:
        """The regions a launch tries, in order, each with the scope to call it in."""
        current = self._scope
        if regions is None:
            if current.region_api is not None:
                # A region given by its URL: it is the one region this client knows.
                return [(current.region_label, current)]
            regions = [r.name for r in current.directory.known(request_options)]
        return [
            (
                region,
                current
                if region == current.region
                else current.derive(region=region, project_id=current.project_id, region_api=None),
            )
            for region in regions
        ]

    def _discard(self, instance_id: str) -> None:
        """Delete an instance this SDK created and will not hand over; a failure says
        which instance may still exist."""
        try:
            self.delete(instance_id)
        except NotFoundError:
            return
        except ApiError as exc:
            raise ApiError(
                f"could not delete instance {instance_id} ({exc}); it may still be billing: "
                f"delete it with `fluidstack atlas instances delete {instance_id}`"
            ) from exc

    @contextmanager
    def disposable(
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
    ) -> Iterator[Instance]:
        """An instance that lives exactly as long as the ``with`` block.

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

        def create() -> Instance:
            return self.create(
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

        def ready(created: Instance) -> Instance:
            return self.wait(
                created.id,
                until=until,
                timeout=timeout,
                poll_interval=poll_interval,
                request_options=for_lookups(request_options),
            )

        def clean_up(created: Optional[Instance]) -> None:
            self._clean_up(created, token)

        with for_the_block(create, ready, clean_up) as instance:
            yield instance

    def _clean_up(self, created: Optional[Instance], token: str) -> None:
        instance_id = created.id if created is not None else None
        if instance_id is None:
            try:
                found = api.find_tagged(self.list(), token)
            except ApiError as exc:
                raise ApiError(
                    f"could not check whether the interrupted create made an instance ({exc}); "
                    f"look for the tag {api.CLIENT_TOKEN_TAG}={token}"
                ) from exc
            if found is None:
                return
            instance_id = found.id
        self._discard(instance_id)
