# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""Where an Atlas call goes: the management API, or a region's API (found through the
management API's region list, asked once per client, or kept from an earlier process)
with the project it is about."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, TypeVar
from urllib.parse import urlsplit

from ...core._sync._io import new_lock
from ...core._sync.pipeline import Pipeline
from ...core._sync.spend_guard import SpendLimit
from ...core.endpoint import Endpoint, Found
from ...core.errors import (
    MissingProjectError,
    MissingRegionError,
    NotFoundError,
    UnknownRegionError,
)
from ...core.raw import side_calls
from ...core.request_options import RequestOptions, for_lookups
from ..settings import ENV_PROJECT_ID, ENV_REGION, api_root

if TYPE_CHECKING:  # the models load with the first call, not with ``import``
    from ..types import Region

__all__ = ["RegionDirectory", "Scope"]

T = TypeVar("T")


class RegionDirectory:
    """The regions of the management API's ``GET /regions``, shared by a client and its
    views. Asked once; asked again only when a region name is not in the answer.

    ``cached`` seeds it with region URLs kept from an earlier process (``{name: url}``,
    e.g. what ``on_regions`` was given): a region found there needs no ``GET /regions``
    at all. Such a URL is trusted until it fails: a region not in it, or a 404 from its
    URL (see :meth:`stale`), makes the client ask the management API again.
    ``on_regions`` is called with ``{name: url}`` of every list the client reads."""

    def __init__(
        self,
        pipeline: Pipeline,
        cached: Optional[Mapping[str, str]] = None,
        on_regions: Optional[Callable[[Dict[str, str]], object]] = None,
    ) -> None:
        self._pipeline = pipeline
        self._regions: Optional[List[Region]] = None
        self._roots: Dict[str, str] = {}
        """API roots already worked out, by region name (for the answer held)."""
        self._cached: Dict[str, str] = dict(cached or {})
        """Region URLs from an earlier process, not yet confirmed by a list of our own."""
        self._on_regions = on_regions
        self._lock = new_lock()

    def fetch(self, request_options: Optional[RequestOptions] = None) -> List[Region]:
        """Ask the management API (always), and remember the answer."""
        from .. import endpoints as api

        regions = self._pipeline.call(api.REGIONS, request_options=request_options)
        self._regions = regions
        self._roots = {}
        self._cached = {}  # a list of our own replaces what an earlier process kept
        if self._on_regions is not None:
            self._on_regions({r.name: r.url for r in regions})
        return regions

    def known(
        self, request_options: Optional[RequestOptions] = None, *, again: bool = False
    ) -> List[Region]:
        """The regions, asked only when not known yet (or ``again``)."""
        if self._regions is None or again:
            with self._lock:
                if self._regions is None or again:
                    with side_calls():
                        self.fetch(for_lookups(request_options))
        assert self._regions is not None
        return self._regions

    def api_root(self, name: str, request_options: Optional[RequestOptions]) -> str:
        """The API root of region ``name``; raises :class:`UnknownRegionError`."""
        root = self._roots.get(name)
        if root is not None:  # every regional call asks: worked out once per list
            return root
        kept = self._cached.get(name)
        if kept is not None and self._regions is None:
            try:
                root = api_root(kept, f"the URL of region {name}")
            except ValueError:
                root = None  # a damaged cache entry: ask the management API instead
            if root is not None:
                self._roots[name] = root
                return root
        regions = self.known(request_options)
        found = _named(regions, name)
        if found is None:
            # A region added since the list was read: one more look before giving up.
            regions = self.known(request_options, again=True)
            found = _named(regions, name)
        if found is None:
            names = [r.name for r in regions]
            listed = ", ".join(names) if names else "none"
            raise UnknownRegionError(
                f"no region named {name!r}; the regions are: {listed}",
                region=name,
                known=names,
            )
        root = api_root(found.url, f"the URL of region {name}")
        self._roots[name] = root
        return root

    def stale(
        self, name: str, root: str, request_options: Optional[RequestOptions]
    ) -> Optional[str]:
        """A call to ``root``, region ``name``'s URL, was answered 404. When that URL came
        from the cache (not from a list this client read), ask the management API again
        and return the region's new root if it moved; ``None`` when the 404 stands."""
        if self._regions is not None or self._roots.get(name) != root:
            return None  # the URL is this process's own: the 404 is the answer
        self.known(request_options, again=True)
        try:
            fresh = self.api_root(name, request_options)
        except UnknownRegionError:
            return None
        return fresh if fresh != root else None


def _stamp_region(result: Any, region: str) -> None:
    """Say on each instance which region described it (its API does not)."""
    from ..types import Instance  # loaded already: ``result`` was parsed with it

    for item in result if isinstance(result, list) else (result,):
        if isinstance(item, Instance):
            # Straight into the model's dict: pydantic's __setattr__ cost 9 us per
            # instance (a tenth of a list() call), and the server did not set this
            # field, so it stays out of model_fields_set.
            item.__dict__["region"] = region


def _named(regions: List[Region], name: str) -> Optional[Region]:
    return next((r for r in regions if r.name == name), None)


class Scope:
    """A client's (or view's) region and project, and the calls made within them."""

    def __init__(
        self,
        pipeline: Pipeline,
        directory: RegionDirectory,
        *,
        region: Optional[str],
        project_id: Optional[str],
        region_api: Optional[str],
        spend: Optional[SpendLimit] = None,
        prices: Optional[Dict[str, Decimal]] = None,
        ssh_port: int = 22,
    ) -> None:
        self.pipeline = pipeline
        self.directory = directory
        self.region = region
        self.project_id = project_id
        self.region_api = region_api
        self.ssh_port = ssh_port
        """The port instances answer SSH on (the API reports only their address)."""
        self.spend = spend
        """The client's spend limit, shared by its views (``None``: no limit)."""
        self.prices = prices
        """The client's price table, USD per hour by instance type (``None``: none)."""

    def derive(
        self,
        *,
        region: Optional[str],
        project_id: Optional[str],
        region_api: Optional[str],
    ) -> Scope:
        return Scope(
            self.pipeline,
            self.directory,
            region=region,
            project_id=project_id,
            region_api=region_api,
            ssh_port=self.ssh_port,
            spend=self.spend,
            prices=self.prices,
        )

    @property
    def region_label(self) -> str:
        """The region's name, or its host when it was given only by URL."""
        if self.region is not None:
            return self.region
        if self.region_api is not None:
            return urlsplit(self.region_api).netloc
        return "(none)"

    @property
    def location(self) -> str:
        """The region, as errors name it."""
        return f"region {self.region_label}"

    def region_root(self, request_options: Optional[RequestOptions]) -> str:
        if self.region_api is not None:
            return self.region_api
        if self.region is None:
            regions = self.directory.known(request_options)
            known = [r.name for r in regions]
            raise MissingRegionError(
                "no region chosen: pass region=... to Atlas(...) or with_options(), or set "
                f"{ENV_REGION}; the regions are: {', '.join(known) or 'none'}",
                known=known,
            )
        return self.directory.api_root(self.region, request_options)

    def project_headers(self) -> Dict[str, str]:
        if self.project_id is None:
            raise MissingProjectError(
                "no project chosen: pass project_id=... to Atlas(...) or with_options(), or "
                f"set {ENV_PROJECT_ID}; atlas.projects.list() shows your projects"
            )
        return {"x-project-id": self.project_id}

    def regional(
        self,
        endpoint: Endpoint[T],
        *,
        project: bool,
        path_params: Optional[Mapping[str, str]] = None,
        body: Optional[Mapping[str, Any]] = None,
        request_options: Optional[RequestOptions] = None,
        recover: Optional[Callable[[], Optional[Found[T]]]] = None,
    ) -> T:
        """Send ``endpoint`` to this scope's region (with ``X-PROJECT-ID`` when
        ``project``)."""
        headers = self.project_headers() if project else None
        root = self.region_root(request_options)
        try:
            result = self.pipeline.call(
                endpoint,
                path_params=path_params,
                body=body,
                headers=headers,
                request_options=request_options,
                recover=recover,
                base_url=root,
                location=self.location,
            )
        except NotFoundError:
            # A region URL kept from an earlier process may have moved: one more look.
            moved = None
            if self.region is not None and self.region_api is None:
                moved = self.directory.stale(self.region, root, request_options)
            if moved is None:
                raise
            result = self.pipeline.call(
                endpoint,
                path_params=path_params,
                body=body,
                headers=headers,
                request_options=request_options,
                recover=recover,
                base_url=moved,
                location=self.location,
            )
        if self.region is not None:
            _stamp_region(result, self.region)
        return result

    def management(
        self,
        endpoint: Endpoint[T],
        *,
        path_params: Optional[Mapping[str, str]] = None,
        body: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        request_options: Optional[RequestOptions] = None,
        recover: Optional[Callable[[], Optional[Found[T]]]] = None,
    ) -> T:
        """Send ``endpoint`` to the management API."""
        return self.pipeline.call(
            endpoint,
            path_params=path_params,
            body=body,
            headers=headers,
            request_options=request_options,
            recover=recover,
        )
