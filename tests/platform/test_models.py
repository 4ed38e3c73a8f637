"""Models of a parsed listing share their sets of field names (a large listing costs
about half the memory it would otherwise), and nothing else about them changes."""

from __future__ import annotations

import copy
import gc
import json
import pickle
from decimal import Decimal
from typing import Any, Dict, List, Optional

import pytest

from fluidstack.atlas.endpoints import GLOBAL_INSTANCES
from fluidstack.core.endpoint import _LARGE_BODY, _LISTING_PAGE
from fluidstack.platform.endpoints import INSTANCES as LIST
from fluidstack.types import ListInstanceResponse
from support import INSTANCE


def listing(*overrides: Dict[str, Any]) -> bytes:
    """A listing of one instance per ``overrides``, followed by enough others to make
    it a large body (the only ones whose items share their sets)."""
    items = []
    for i, extra in enumerate(overrides):
        item = dict(INSTANCE, id=f"i-{i}", name=f"n-{i}")
        item.update(extra)
        items.append(item)
    items += [dict(INSTANCE, id=f"pad-{i}") for i in range(_LARGE_BODY // 400)]
    body = json.dumps(items).encode()
    assert len(body) >= _LARGE_BODY
    return body


def parse(*overrides: Dict[str, Any]) -> List[ListInstanceResponse]:
    return LIST.parse(listing(*overrides))[: len(overrides)]


def test_equal_field_sets_are_shared_and_different_ones_are_not() -> None:
    a, b, c = parse({}, {}, {"user_email": "x@example.com"})
    assert a.__pydantic_fields_set__ is b.__pydantic_fields_set__
    assert c.__pydantic_fields_set__ is not b.__pydantic_fields_set__
    assert "user_email" in c.model_fields_set
    assert "user_email" not in a.model_fields_set


def test_changing_one_model_never_changes_another() -> None:
    a, b = parse({}, {})
    a.name = "renamed"
    a.new_field = 1  # extra="allow": unknown attributes are kept
    assert "new_field" in a.model_fields_set
    assert "new_field" not in b.model_fields_set
    assert b.name == "n-1"
    del a.user_email
    assert b.model_fields_set == set(INSTANCE)


def test_the_shared_set_refuses_changes_and_copies_are_plain() -> None:
    a, b = parse({}, {})
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
    a, b = parse({}, {})
    made = roundtrip(a)
    assert type(made.__pydantic_fields_set__) is set
    made.ip_address = "192.0.2.99"
    assert b.ip_address == INSTANCE["ip_address"]
    assert made.model_dump(exclude_unset=True).keys() >= set(INSTANCE)


def test_exclude_unset_sees_the_shared_set() -> None:
    (a,) = parse({})
    assert set(a.model_dump(exclude_unset=True)) == set(INSTANCE)
    assert a == ListInstanceResponse.model_validate(dict(INSTANCE, id="i-0", name="n-0"))


def test_nested_models_share_too_and_stay_independent() -> None:
    # An instance's configuration has as many fields as the instance: sharing only the
    # item's set left half the memory on the table (issue 24, page-by-page listings).
    a, b = parse({}, {})
    assert a.configuration is not None
    assert b.configuration is not None
    assert a.configuration.__pydantic_fields_set__ is b.configuration.__pydantic_fields_set__
    a.configuration.cpu_count = 99
    assert b.configuration.cpu_count == INSTANCE["configuration"]["cpu_count"]
    assert "cpu_count" in b.configuration.model_fields_set


def test_atlas_listings_share_too() -> None:
    item: Dict[str, Any] = {"id": "x", "name": "a", "type": "t", "state": "running"}
    body = json.dumps([dict(item, id=str(i)) for i in range(_LARGE_BODY // 50)]).encode()
    items: List[Any] = GLOBAL_INSTANCES.parse(body)
    assert items[0].__pydantic_fields_set__ is items[1].__pydantic_fields_set__


def test_a_page_of_a_listing_shares_field_sets_too() -> None:
    # Listings are read page by page (~61 KB for 100 instances): each page is lean too.
    body = json.dumps([dict(INSTANCE, id=str(i)) for i in range(100)]).encode()
    assert _LISTING_PAGE <= len(body) < _LARGE_BODY
    items = LIST.parse(body)
    assert items[0].__pydantic_fields_set__ is items[-1].__pydantic_fields_set__
    assert gc.isenabled()


def test_a_listing_builds_one_validator_for_all_its_pages() -> None:
    # A CLI run lists one page and an empty one: each pydantic schema built costs tens
    # of milliseconds of its start-up (issue 24). Sharing field-name sets is done after
    # parsing, so a page, an empty page and a small listing use the same validator.
    from pydantic import TypeAdapter

    from fluidstack.core.endpoint import Endpoint

    fresh = Endpoint(LIST.operation, LIST.method, LIST.path, LIST.response_type)
    page = json.dumps([dict(INSTANCE, id=str(i)) for i in range(100)]).encode()
    assert len(fresh.parse(page)) == 100
    adapter = fresh._adapter["adapter"]
    assert isinstance(adapter, TypeAdapter)
    assert fresh.parse(b"[]") == []
    assert len(fresh.parse(json.dumps([INSTANCE]).encode())) == 1
    assert fresh._adapter["adapter"] is adapter


def test_small_listings_are_parsed_as_they_are() -> None:
    # Sharing costs a little time per item: worth it only where memory adds up.
    body = json.dumps([dict(INSTANCE, id="a"), dict(INSTANCE, id="b")]).encode()
    a, b = LIST.parse(body)
    assert a.__pydantic_fields_set__ is not b.__pydantic_fields_set__
    assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__


@pytest.mark.parametrize(
    ("wire", "price"),
    [
        ('"2.89"', Decimal("2.89")),
        ("2.89", Decimal("2.89")),
        ("0.30000000000000004", Decimal("0.30000000000000004")),  # the digits sent
        ("3", Decimal("3")),
        ('" 1.5 "', Decimal("1.5")),
        ('"1e3"', Decimal("1E+3")),
        ("null", None),
    ],
)
def test_prices_are_the_exact_decimal_sent(wire: str, price: Optional[Decimal]) -> None:
    body = json.dumps([dict(INSTANCE, id="i-0")]).replace("0.5", "__P__")
    (instance,) = LIST.parse(body.replace("__P__", wire).encode())
    assert instance.current_gpu_hr_cost == price


@pytest.mark.parametrize("wire", ['"junk"', "true", '{"a": 1}', "[]", '""'])
def test_a_price_that_is_no_number_is_nan_not_an_error(wire: str) -> None:
    body = json.dumps([dict(INSTANCE, id="i-0")]).replace("0.5", "__P__")
    (instance,) = LIST.parse(body.replace("__P__", wire).encode())
    assert instance.current_gpu_hr_cost is not None
    assert instance.current_gpu_hr_cost.is_nan()
    assert json.loads(instance.model_dump_json())["current_gpu_hr_cost"] is None


def test_prices_are_numbers_in_json() -> None:
    (instance,) = parse({"current_gpu_hr_cost": "2.89"})
    assert json.loads(instance.model_dump_json())["current_gpu_hr_cost"] == 2.89
    assert instance.model_dump()["current_gpu_hr_cost"] == Decimal("2.89")


FULL: Dict[str, Any] = dict(
    INSTANCE,
    volumes=[],
    operating_system_label="ubuntu_20_04_lts_nvidia",
    user_email="a@example.com",
)
"""An instance as the emulator lists it: every field of the model, and nothing else."""


def page_of(*items: Dict[str, Any]) -> List[ListInstanceResponse]:
    body = json.dumps([dict(FULL, id=f"pad-{i}") for i in range(100)] + list(items))
    assert _LISTING_PAGE <= len(body) < _LARGE_BODY
    return LIST.parse(body.encode())


def test_items_with_every_field_share_one_set_naming_them_all() -> None:
    items = page_of()
    assert items[0].__pydantic_fields_set__ is items[-1].__pydantic_fields_set__
    assert items[0].model_fields_set == set(ListInstanceResponse.model_fields) == set(FULL)
    first, last = items[0].configuration, items[-1].configuration
    assert first is not None
    assert last is not None
    assert first.__pydantic_fields_set__ is last.__pydantic_fields_set__
    assert first.model_fields_set == set(FULL["configuration"])


def test_an_extra_field_in_place_of_a_known_one_is_not_every_field() -> None:
    # As many names as the model has fields, but one of them is an extra: that item
    # keeps its own names (the page takes the item-by-item path), the others still share.
    odd = {k: v for k, v in FULL.items() if k != "user_email"}
    odd.update(id="odd", future_field=1)
    items = page_of(odd)
    # (model_fields_set makes a model's set its own: look at the shared ones first.)
    assert items[0].__pydantic_fields_set__ is items[1].__pydantic_fields_set__
    assert items[0].__pydantic_fields_set__ is not items[-1].__pydantic_fields_set__
    assert items[-1].model_fields_set == set(odd)
    assert "user_email" not in items[-1].model_fields_set
    assert items[-1].future_field == 1
    assert items[0].model_fields_set == set(FULL)


def test_a_missing_field_is_not_set_and_its_item_keeps_its_own_names() -> None:
    short = {k: v for k, v in FULL.items() if k != "name"}
    items = page_of(dict(short, id="short"))
    assert "name" not in items[-1].model_fields_set
    assert items[-1].model_dump(exclude_unset=True).keys() == set(short)
    assert items[0].model_fields_set == set(FULL)


def test_volumes_inside_items_share_their_sets_too() -> None:
    volume = {"id": "v", "name": "data", "size_gb": 10, "cost_gb_hr": "0.1"}
    items = page_of(dict(FULL, id="a", volumes=[volume]), dict(FULL, id="b", volumes=[volume]))
    a, b = items[-2].volumes[0], items[-1].volumes[0]
    assert a.__pydantic_fields_set__ is b.__pydantic_fields_set__
    assert a.model_fields_set == set(volume)
    a.size_gb = 20
    assert b.size_gb == 10
