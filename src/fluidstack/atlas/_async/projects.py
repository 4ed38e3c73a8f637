"""``atlas.projects`` and ``atlas.filesystems``."""

from __future__ import annotations

from typing import List, Optional, Union

from ...core._async._resource import raw_method
from ...core.endpoint import Found
from ...core.request_options import RequestOptions, for_lookups, option
from .. import endpoints as api
from ..endpoints import Id, Tags, id_text
from ..types import Filesystem, Project
from ._resource import AsyncAtlasResource

__all__ = ["AsyncFilesystemsResource", "AsyncProjectsResource"]


class AsyncProjectsResource(AsyncAtlasResource):
    """Projects: what instances, filesystems and clusters belong to. Asked of the
    client's region; no project needs to be chosen for these calls."""

    @property
    def with_raw_response(self) -> AsyncProjectsResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncProjectsResourceWithRawResponse(self)

    async def list(self, *, request_options: Optional[RequestOptions] = None) -> List[Project]:
        """List the organization's projects."""
        return await self._scope.regional(
            api.PROJECTS, project=False, request_options=request_options
        )

    async def create(
        self,
        *,
        name: str,
        tags: Tags = None,
        request_options: Optional[RequestOptions] = None,
    ) -> Project:
        """Create a project.

        Safe to retry: the project carries a ``fluidstack.client-token`` tag, and after a
        failure that may have created it, the project carrying that tag is returned
        instead of a second one being made. ``request_options={"idempotency_key": ...}``
        sets the tag's value, so a retry from another process finds it too.
        """
        token = option(request_options, "idempotency_key") or api.new_client_token()
        body = api.project_body(name=name, tags=tags, client_token=token)

        async def recover() -> Optional[Found[Project]]:
            listing = await self.list(request_options=for_lookups(request_options))
            found = api.find_tagged(listing, token)
            return None if found is None else Found(found)

        return await self._scope.regional(
            api.PROJECT_CREATE,
            project=False,
            body=body,
            request_options=request_options,
            recover=recover,
        )

    async def get(
        self, project_id: Id, *, request_options: Optional[RequestOptions] = None
    ) -> Project:
        """Get one project."""
        return await self._scope.regional(
            api.PROJECT,
            project=False,
            path_params={"project_id": id_text(project_id, "project_id")},
            request_options=request_options,
        )

    async def delete(
        self, project_id: Id, *, request_options: Optional[RequestOptions] = None
    ) -> None:
        """Delete a project. It must hold no instances or filesystems any more."""
        await self._scope.regional(
            api.PROJECT_DELETE,
            project=False,
            path_params={"project_id": id_text(project_id, "project_id")},
            request_options=request_options,
        )


class AsyncFilesystemsResource(AsyncAtlasResource):
    """Shared filesystems of the client's project, in its region."""

    @property
    def with_raw_response(self) -> AsyncFilesystemsResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncFilesystemsResourceWithRawResponse(self)

    async def list(self, *, request_options: Optional[RequestOptions] = None) -> List[Filesystem]:
        """List the project's filesystems."""
        return await self._scope.regional(
            api.FILESYSTEMS, project=True, request_options=request_options
        )

    async def create(
        self,
        *,
        name: str,
        size: Union[str, int],
        request_options: Optional[RequestOptions] = None,
    ) -> Filesystem:
        """Create a filesystem of ``size`` (``"512Gi"``, ``"1Ti"``, or an int of GiB).

        Safe to retry: filesystems have no tags, so after a failure that may have created
        it, a filesystem of this name and size is looked for and returned instead of a
        second one being made. Give filesystems unique names for this to be exact.
        """
        body = api.filesystem_body(name=name, size=size)

        async def recover() -> Optional[Found[Filesystem]]:
            listing = await self.list(request_options=for_lookups(request_options))
            for filesystem in listing:
                if filesystem.name == body["name"] and filesystem.size == body["size"]:
                    return Found(filesystem)
            return None

        return await self._scope.regional(
            api.FILESYSTEM_CREATE,
            project=True,
            body=body,
            request_options=request_options,
            recover=recover,
        )

    async def get(
        self, filesystem_id: Id, *, request_options: Optional[RequestOptions] = None
    ) -> Filesystem:
        """Get one filesystem."""
        return await self._scope.regional(
            api.FILESYSTEM,
            project=True,
            path_params={"filesystem_id": id_text(filesystem_id, "filesystem_id")},
            request_options=request_options,
        )

    async def delete(
        self, filesystem_id: Id, *, request_options: Optional[RequestOptions] = None
    ) -> None:
        """Delete a filesystem. No instance may have it attached."""
        await self._scope.regional(
            api.FILESYSTEM_DELETE,
            project=True,
            path_params={"filesystem_id": id_text(filesystem_id, "filesystem_id")},
            request_options=request_options,
        )


class AsyncProjectsResourceWithRawResponse:
    """``atlas.projects.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: AsyncProjectsResource) -> None:
        self.list = raw_method(resource.list)
        self.create = raw_method(resource.create)
        self.get = raw_method(resource.get)
        self.delete = raw_method(resource.delete)


class AsyncFilesystemsResourceWithRawResponse:
    """``atlas.filesystems.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: AsyncFilesystemsResource) -> None:
        self.list = raw_method(resource.list)
        self.create = raw_method(resource.create)
        self.get = raw_method(resource.get)
        self.delete = raw_method(resource.delete)
