"""Models of a parsed listing share their sets of field names (a large listing costs
about half the memory it would otherwise), and nothing else about them changes."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any, Dict, List

import pytest

from fluidstack.atlas.endpoints import GLOBAL_INSTANCES
from fluidstack.resources.instances import LIST
from fluidstack.types import ListInstanceResponse
from support import INSTANCE


def listing(*overrides: Dict[str, Any]) -> bytes:
    items = []
    for i, extra in enumerate(overrides):
        item = dict(INSTANCE, id=f"i-{i}", name=f"n-{i}")
        item.update(extra)
        items.append(item)
    return json.dumps(items).encode()


def test_equal_field_sets_are_shared_and_different_ones_are_not() -> None:
    a, b, c = LIST.parse(listing({}, {}, {"user_email": "x@example.com"}))
    assert a.__pydantic_fields_set__ is b.__pydantic_fields_set__
    assert c.__pydantic_fields_set__ is not b.__pydantic_fields_set__
    assert "user_email" in c.model_fields_set
    assert "user_email" not in a.model_fields_set


def test_changing_one_model_never_changes_another() -> None:
    a, b = LIST.parse(listing({}, {}))
    a.name = "renamed"
    a.new_field = 1  # extra="allow": unknown attributes are kept
    assert "new_field" in a.model_fields_set
    assert "new_field" not in b.model_fields_set
    assert b.name == "n-1"
    del a.user_email
    assert b.model_fields_set == set(INSTANCE)


def test_the_shared_set_refuses_changes_and_copies_are_plain() -> None:
    a, b = LIST.parse(listing({}, {}))
    shared = a.__pydantic_fields_set__
    for change in (lambda: shared.add("x"), lambda: shared.discard("id"), shared.clear):
        with pytest.raises(TypeError, match="shared by several models"):
            change()
    assert type(copy.copy(shared)) is set
    assert type(copy.deepcopy(shared)) is set
    # model_fields_set is the model's own, as pydantic documents it: changes stick.
    a.model_fields_set.add("volumes")
    assert a.__pydantic_fields_set__ is not b.__pydantic_fields_set__


@pytest.mark.parametrize(
    "roundtrip",
    [
        lambda m: pickle.loads(pickle.dumps(m)),
        copy.copy,
        copy.deepcopy,
        lambda m: m.model_copy(update={"name": "copied"}),
    ],
    ids=["pickle", "copy", "deepcopy", "model_copy"],
)
def test_copies_and_pickles_behave_as_pydantic_models(roundtrip: Any) -> None:
    a, b = LIST.parse(listing({}, {}))
    made = roundtrip(a)
    assert type(made.__pydantic_fields_set__) is set
    made.ip_address = "192.0.2.99"
    assert b.ip_address == INSTANCE["ip_address"]
    assert made.model_dump(exclude_unset=True).keys() >= set(INSTANCE)


def test_exclude_unset_sees_the_shared_set() -> None:
    (a,) = LIST.parse(listing({}))
    assert set(a.model_dump(exclude_unset=True)) == set(INSTANCE)
    assert a == ListInstanceResponse.model_validate(dict(INSTANCE, id="i-0", name="n-0"))


def test_atlas_listings_share_too() -> None:
    item: Dict[str, Any] = {"id": "x", "name": "a", "type": "t", "state": "running"}
    items: List[Any] = GLOBAL_INSTANCES.parse(json.dumps([item, dict(item, id="y")]).encode())
    assert items[0].__pydantic_fields_set__ is items[1].__pydantic_fields_set__
