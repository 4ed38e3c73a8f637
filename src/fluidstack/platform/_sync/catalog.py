# Generated from fluidstack/platform/_async by scripts/unasync.py: do not edit by hand.
"""``client.configurations`` and ``client.templates``: what can be created."""

from __future__ import annotations

from typing import List, Optional

from ...core._sync._resource import Resource, raw_method
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types.instances import ConfigurationResponse, OperatingSystemResponse

__all__ = [
    "ConfigurationsResource",
    "ConfigurationsResourceWithRawResponse",
    "TemplatesResource",
    "TemplatesResourceWithRawResponse",
]


class ConfigurationsResource(Resource):
    """The catalog of GPU configurations, with prices and regions."""

    @property
    def with_raw_response(self) -> ConfigurationsResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return ConfigurationsResourceWithRawResponse(self)

    def list(
        self, *, request_options: Optional[RequestOptions] = None
    ) -> List[ConfigurationResponse]:
        """List the available configurations (GPU type, counts, regions, prices)."""
        return self._pipeline.call(api.CONFIGURATIONS, request_options=request_options)


class TemplatesResource(Resource):
    """Operating-system templates."""

    @property
    def with_raw_response(self) -> TemplatesResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return TemplatesResourceWithRawResponse(self)

    def list(
        self, *, request_options: Optional[RequestOptions] = None
    ) -> List[OperatingSystemResponse]:
        """List the operating systems instances can be created with."""
        return self._pipeline.call(api.TEMPLATES, request_options=request_options)


class ConfigurationsResourceWithRawResponse:
    """``client.configurations.with_raw_response``."""

    def __init__(self, resource: ConfigurationsResource) -> None:
        self.list = raw_method(resource.list)


class TemplatesResourceWithRawResponse:
    """``client.templates.with_raw_response``."""

    def __init__(self, resource: TemplatesResource) -> None:
        self.list = raw_method(resource.list)
