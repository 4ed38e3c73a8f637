"""The base classes every model and enumeration of the SDK builds on."""

from __future__ import annotations

import enum
import operator
from collections import deque
from itertools import repeat
from typing import (
    Any,
    Dict,
    List,
    NoReturn,
    Optional,
    Set,
    Tuple,
    Type,
    TypeVar,
    Union,
    get_args,
)

from pydantic import BaseModel, ConfigDict

__all__ = ["FluidStackModel", "OpenEnum", "share_fields_set", "share_fields_sets"]


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

_FULL_SET: Dict[type, Tuple[int, _SharedFieldsSet]] = {}
"""Per model class, the number of its fields and the shared set naming all of them."""

M = TypeVar("M", bound=FluidStackModel)

# The slots pydantic keeps a model's field-name set and extras in, read and written
# without going through the class's attribute machinery (a listing does it per item).
_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"]
_EXTRA = BaseModel.__dict__["__pydantic_extra__"]


def share_fields_set(model: M) -> M:
    """Let ``model`` share its set of field names with the model of its class before it,
    when the two sets are equal (and so do the larger models inside it: an instance's
    configuration). :func:`share_fields_sets` does the same for a whole listing at once.

    The set each model would hold alone is freed at once, so its memory serves the next
    item. Nothing about the model changes for its user. Used while a whole listing in
    one body is validated, on each item as it is made."""
    _share_one(model)
    names = _nested(type(model))
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


def _share_one(model: FluidStackModel) -> None:
    fields_set = model.__pydantic_fields_set__
    shared = _LATEST_SHARED.get(type(model))
    # A shared set never changes, so this comparison stays true even if another thread
    # replaces the entry meanwhile.
    if shared is None or fields_set != shared:
        shared = _LATEST_SHARED[type(model)] = _SharedFieldsSet(fields_set)
    _FIELDS_SET.__set__(model, shared)


def share_fields_sets(models: List[Any]) -> None:
    """Let the models of one parsed listing, and the models inside them, share their
    sets of field names: a set of more than four names takes 728 bytes, one per model
    was the largest cost of holding a listing (issue 24).

    Done for the whole page after parsing it rather than item by item while parsing:
    in the usual page every item of a class sent every field and nothing else, which
    ``len`` and the (empty) extras show without comparing the sets, and the loops run
    in C (``map``) instead of a Python call per item from inside pydantic's validation:
    about half the cost (issue 24, fifth round). Items of several classes, or that
    differ in their fields, take the item-by-item path."""
    count = len(models)
    if not count:
        return
    cls = type(models[0])
    if not issubclass(cls, FluidStackModel) or list(map(type, models)).count(cls) != count:
        for model in models:  # several classes (a union), or not models
            if isinstance(model, FluidStackModel):
                share_fields_set(model)
        return
    full = _FULL_SET.get(cls)
    if full is None:
        full = _FULL_SET[cls] = (len(cls.model_fields), _SharedFieldsSet(cls.model_fields))
    size, shared = full
    # A validated model's set names only its fields and its extras: with no extras and
    # as many names as the class has fields, it names them all.
    if (
        list(map(len, map(_FIELDS_SET.__get__, models))).count(size) == count
        and list(map(_EXTRA.__get__, models)).count({}) == count
    ):
        deque(map(_FIELDS_SET.__set__, models, repeat(shared, count)), maxlen=0)
    else:
        for model in models:
            _share_one(model)
    for name in _nested(cls):
        # Empty lists (an instance's volumes, usually) and None drop out here.
        inner = list(filter(None, map(operator.attrgetter(name), models)))
        if list in set(map(type, inner)):
            inner = [i for v in inner for i in (v if type(v) is list else (v,))]
        share_fields_sets(inner)


_NESTED: Dict[type, Tuple[str, ...]] = {}
"""Per model class, the fields whose type may hold larger models (see ``_nested``)."""


def _nested(cls: Type[FluidStackModel]) -> Tuple[str, ...]:
    """The fields of ``cls`` that may hold models of more than four fields (an
    instance's configuration, its volumes): a set of up to four names takes 216 bytes,
    of more 728, so only the larger are worth the time a listing spends sharing them
    (sharing a configuration's two-field GPU model too cost a listing of 10,000
    instances 29 M instructions more than it saved in cyclic collections)."""
    names = _NESTED.get(cls)
    if names is None:

        def holds_models(annotation: Any) -> bool:
            if isinstance(annotation, type) and issubclass(annotation, FluidStackModel):
                return len(annotation.model_fields) > 4
            return any(holds_models(arg) for arg in get_args(annotation))

        fields = cls.model_fields.items()
        names = _NESTED[cls] = tuple(n for n, f in fields if holds_models(f.annotation))
    return names


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
