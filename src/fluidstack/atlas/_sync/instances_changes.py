# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""``atlas.instances``, changing: create (within the spend limit, with a lease), start,
stop, delete (confirmed with ``wait``) and sweep instances."""

from __future__ import annotations

import datetime as dt
from typing import (
    TYPE_CHECKING,
    FrozenSet,
    List,
    Literal,
    Mapping,
    Optional,
    Tuple,
    Union,
    overload,
)

from ...core._sync.creates import CreateGuard
from ...core.endpoint import Endpoint, Found
from ...core.errors import NotFoundError
from ...core.raw import side_calls
from ...core.request_options import RequestOptions, for_lookups, option
from ...core.waiters import DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_TIMEOUT
from .. import endpoints as api
from ..endpoints import Id, Tags, UserData, check_tags, id_text
from ..types import Instance, InstanceState
from .clock import server_now
from .instances_reads import Filesystems, InstanceReads, States

if TYPE_CHECKING:
    # A listing needs none of the create, spend, sweep and lease code: each method
    # imports what it uses (issue 24: start-up of `fluidstack atlas instances list`).
    from ...core.spend import Duration, SweepResult

__all__ = ["InstanceChanges"]

# What an accepted start or stop looks like, for a call whose answer was lost.
_STARTED: FrozenSet[str] = frozenset({"starting", "running"})


_STOPPED: FrozenSet[str] = frozenset({"stopping", "stopped"})


class InstanceChanges(InstanceReads):
    """Creating, starting, stopping and deleting instances (see
    :class:`InstancesResource`)."""

    def create(
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
        from ...core.spend import lease_expiry
        from ..spend import CREATED_AT_TAG, LEASE_TAG, stamp
        from .spend import admitting

        token = option(request_options, "idempotency_key") or api.new_client_token()
        own = check_tags(tags)
        if lease is not None:
            lease_expiry(dt.datetime.now(dt.timezone.utc), lease)  # a bad lease: refused now
        with admitting(self._scope.spend, self._scope, type, f"creating a {type}", request_options):
            # A lease must end on the server's clock: ask it if need be.
            now = server_now(self._scope, request_options, ask=lease is not None)
            own[CREATED_AT_TAG] = stamp(now)
            if lease is not None:
                own[LEASE_TAG] = stamp(lease_expiry(now, lease))
            instance = self._create(
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
        return self.wait(
            instance.id,
            until=until,
            timeout=timeout,
            poll_interval=poll_interval,
            request_options=for_lookups(request_options),
        )

    def _create(
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

        def find() -> List[Tuple[str, Instance]]:
            listing = self.list(request_options=for_lookups(request_options))
            return [(i.id, i) for i in api.find_all_tagged(listing, token)]

        def delete(instance_id: str) -> None:
            self.delete(instance_id, request_options=for_lookups(request_options))

        guard = CreateGuard(
            operation=api.INSTANCE_CREATE.operation,
            identity=token,
            find=find,
            delete=delete,
            unique=True,  # the client token is this call's alone
        )
        return self._scope.regional(
            api.INSTANCE_CREATE,
            project=True,
            body=body,
            request_options=request_options,
            recover=guard,
        )

    @overload
    def start(
        self,
        instance_id: Id,
        *,
        wait: Literal[False] = ...,
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> None: ...

    @overload
    def start(
        self,
        instance_id: Id,
        *,
        wait: Literal[True],
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> Instance: ...

    def start(
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
                    current = self.get(ident, request_options=for_lookups(request_options))
                except NotFoundError:  # the start's own 404 says it
                    current = None
            if current is not None and str(current.state) == "stopped":
                instance_type = current.type
        from .spend import admitting

        with admitting(
            self._scope.spend,
            self._scope,
            instance_type,
            f"starting instance {id_text(instance_id, 'instance_id')}",
            request_options,
        ):
            return self._start(
                instance_id,
                wait=wait,
                timeout=timeout,
                poll_interval=poll_interval,
                request_options=request_options,
            )

    def _start(
        self,
        instance_id: Id,
        *,
        wait: bool,
        timeout: Optional[float],
        poll_interval: float,
        request_options: Optional[RequestOptions],
    ) -> Optional[Instance]:
        return self._act(
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
    def stop(
        self,
        instance_id: Id,
        *,
        wait: Literal[False] = ...,
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> None: ...

    @overload
    def stop(
        self,
        instance_id: Id,
        *,
        wait: Literal[True],
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> Instance: ...

    def stop(
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
        return self._act(
            api.INSTANCE_STOP,
            instance_id,
            _STOPPED,
            "stopped",
            wait,
            timeout,
            poll_interval,
            request_options,
        )

    def _act(
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

        def recover() -> Optional[Found[Optional[Instance]]]:
            # Sent again, an action the server performed would now conflict (409):
            # the instance's state says whether it was.
            current = self.get(ident, request_options=for_lookups(request_options))
            return Found(current) if str(current.state) in accepted else None

        self._scope.regional(
            endpoint,
            project=True,
            path_params={"instance_id": ident},
            request_options=request_options,
            recover=recover,
        )
        if not wait:
            return None
        return self.wait(
            ident,
            until=goal,
            timeout=timeout,
            poll_interval=poll_interval,
            request_options=for_lookups(request_options),
        )

    def delete(
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
            from .teardown import delete_confirmed

            delete_confirmed(
                self._scope,
                ident,
                get=self.get,
                timeout=timeout,
                poll_interval=poll_interval,
                request_options=request_options,
            )
            return
        self._scope.regional(
            api.INSTANCE_DELETE,
            project=True,
            path_params={"instance_id": ident},
            request_options=request_options,
        )

    def sweep(
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
        from ...core.spend import SweepCriteria
        from .sweep import sweep_instances

        criteria = SweepCriteria.build(
            older_than=older_than,
            name_prefix=name_prefix,
            tags=tags,
            statuses=statuses,
            expired=expired,
        )
        return sweep_instances(
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
