"""The base classes every model and enumeration of the SDK builds on."""

from __future__ import annotations

import enum
from typing import Any, Optional, Type, TypeVar, Union

from pydantic import BaseModel, ConfigDict

__all__ = ["FluidStackModel", "OpenEnum"]


class FluidStackModel(BaseModel):
    """Base of every response and request model.

    Fields the SDK does not know yet are kept (``model.model_extra`` lists them, and
    they are readable as attributes), so a newer server never breaks an older SDK.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        # Numbers where the spec says string (ports, prices) are accepted as text.
        coerce_numbers_to_str=True,
        # Validators are built on first use, which keeps imports cheap.
        defer_build=True,
    )


E = TypeVar("E", bound="OpenEnum")


class OpenEnum(str, enum.Enum):
    """A string enumeration that also accepts values it does not list.

    The FluidStack API adds GPU types, regions and statuses over time. Known values
    are members (``GPUType.H100_PCIE_80GB``) and compare equal to their strings;
    an unknown value becomes an ad-hoc member of the same class instead of an error.
    """

    @classmethod
    def _missing_(cls, value: object) -> Optional[Any]:
        if isinstance(value, str):
            member = str.__new__(cls, value)
            member._name_ = value
            member._value_ = value
            return member
        return None

    @property
    def is_known(self) -> bool:
        """Whether this SDK version lists the value."""
        return self._name_ in type(self).__members__

    @classmethod
    def canonical(cls: Type[E], value: Union[str, E]) -> E:
        """The member spelled like ``value`` ignoring case (``rtx_a4000_16gb`` is
        ``RTX_A4000_16GB``), else ``value`` itself as an ad-hoc member."""
        text = str(value).strip()
        for member in cls:
            if member.value.lower() == text.lower():
                return member
        return cls(text)

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return format(str(self.value), format_spec)
