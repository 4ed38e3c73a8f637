"""The base classes every model and enumeration of the SDK builds on."""

from __future__ import annotations

import enum
from typing import Any, Dict, NoReturn, Optional, Set, Tuple, Type, TypeVar, Union, get_args

from pydantic import BaseModel, ConfigDict

__all__ = ["FluidStackModel", "OpenEnum", "share_fields_set"]


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

    # A model's ``model_fields_set`` may be shared with the other models of a large
    # listing (see ``share_fields_sets``): it is made the model's own before any change.

    def _own_fields_set(self) -> Set[str]:
        fields_set = self.__pydantic_fields_set__
        if type(fields_set) is _SharedFieldsSet:
            fields_set = set(fields_set)
            object.__setattr__(self, "__pydantic_fields_set__", fields_set)
        return fields_set

    def __setattr__(self, name: str, value: Any) -> None:
        self._own_fields_set()
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        self._own_fields_set()
        super().__delattr__(name)

    @property
    def model_fields_set(self) -> Set[str]:
        """The names of the fields the server (or you) set, as in pydantic."""
        return self._own_fields_set()


class _SharedFieldsSet(Set[str]):
    """The set of field names of many models of one listing, held once for all of them.

    Python sets of more than four names take 728 bytes: one per model was the largest
    cost of holding a listing. Reads behave as on any set; a change raises instead of
    changing every model that shares it (models copy it first), and copies are plain
    sets."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("this set of field names is shared by several models; change the model")

    add = discard = remove = pop = clear = update = _refuse
    intersection_update = difference_update = symmetric_difference_update = _refuse
    __ior__ = __iand__ = __isub__ = __ixor__ = _refuse

    def __copy__(self) -> Set[str]:
        return set(self)

    def __deepcopy__(self, memo: Dict[int, Any]) -> Set[str]:
        return set(self)

    def __reduce__(self) -> Any:
        return (set, (list(self),))


_LATEST_SHARED: Dict[type, _SharedFieldsSet] = {}
"""The shared set last given to a model of each class (one small set per class)."""

M = TypeVar("M", bound=FluidStackModel)


def share_fields_set(model: M) -> M:
    """Let ``model`` share its set of field names with the model of its class before it,
    when the two sets are equal; used on each item of a listing as it is parsed.

    The set each model would hold alone is freed at once, so its memory serves the next
    item: holding a 10,000-instance listing takes about 7 MB less. Nothing about the
    model changes for its user."""
    fields_set = model.__pydantic_fields_set__
    shared = _LATEST_SHARED.get(type(model))
    # A shared set never changes, so this comparison stays true even if another thread
    # replaces the entry meanwhile.
    if shared is None or fields_set != shared:
        shared = _LATEST_SHARED[type(model)] = _SharedFieldsSet(fields_set)
    object.__setattr__(model, "__pydantic_fields_set__", shared)
    # The models inside it (an instance's configuration) share theirs too: each would
    # otherwise keep a set of its own, as large as the item's.
    names = _NESTED.get(type(model))
    if names is None:
        names = _NESTED[type(model)] = _nested_fields(type(model))
    if names:
        values = model.__dict__
        for name in names:
            value = values.get(name)
            if type(value) is list:
                for item in value:
                    if isinstance(item, FluidStackModel):
                        share_fields_set(item)
            elif value is not None and isinstance(value, FluidStackModel):
                share_fields_set(value)
    return model


_NESTED: Dict[type, Tuple[str, ...]] = {}
"""Per model class, the fields whose type may hold models (looked up once a class)."""


def _nested_fields(cls: Type[FluidStackModel]) -> Tuple[str, ...]:
    """The fields of ``cls`` that may hold models of more than four fields: a set of up
    to four names takes 216 bytes, of more 728, so only the larger are worth the time
    a listing spends sharing them."""

    def holds_models(annotation: Any) -> bool:
        if isinstance(annotation, type) and issubclass(annotation, FluidStackModel):
            return len(annotation.model_fields) > 4
        return any(holds_models(arg) for arg in get_args(annotation))

    return tuple(name for name, f in cls.model_fields.items() if holds_models(f.annotation))


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
