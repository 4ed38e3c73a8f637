"""The catalog: configurations (GPU offers) and operating-system templates."""

from __future__ import annotations

from typing import List

from ..core.endpoint import Endpoint
from ..types.instances import ConfigurationResponse, OperatingSystemResponse

CONFIGURATIONS: Endpoint[List[ConfigurationResponse]] = Endpoint(
    "configurations.list", "GET", "/list_available_configurations", List[ConfigurationResponse]
)
TEMPLATES: Endpoint[List[OperatingSystemResponse]] = Endpoint(
    "templates.list", "GET", "/list_available_os_templates", List[OperatingSystemResponse]
)
