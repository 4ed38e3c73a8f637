"""``instances.iter()`` sends no request it does not need: once the page size is known
(a page followed by another was full), a short page is the last, with no request for an
empty one after it (issue 24). Requests are counted in the emulator's journal."""

from __future__ import annotations

from typing import Any, List

import pytest

from support import Clients

pytestmark = pytest.mark.anyio


def listing_requests(clients: Clients, mark: int) -> int:
    return sum(
        1
        for e in clients.emulator.journal()[mark:]
        if e["method"] == "GET" and e["path"] == "/instances"
    )


async def ids_of(clients: Clients, client: Any) -> List[str]:
    pager = client.instances.iter()
    if clients.is_async:
        return [i.id async for i in pager]
    return [i.id for i in pager]


async def test_no_empty_trailing_page_after_a_short_last_page(clients: Clients) -> None:
    clients.emulator.set_capacity("RTX_A4000_16GB", "NORWAY", 1000)
    made = clients.emulator.create_instances(
        {"count": 250, "gpu_type": "RTX_A4000_16GB"}, return_ids=True
    )
    client = clients.make()
    mark = len(clients.emulator.journal())
    assert await ids_of(clients, client) == made["ids"]
    # Pages of 100, 100 and 50: the third is short, so there is no fourth request.
    assert listing_requests(clients, mark) == 3
    mark = len(clients.emulator.journal())
    assert await ids_of(clients, client) == made["ids"]  # the same again
    assert listing_requests(clients, mark) == 3


async def test_a_full_last_page_ends_at_the_empty_page(clients: Clients) -> None:
    clients.emulator.set_capacity("RTX_A4000_16GB", "NORWAY", 1000)
    made = clients.emulator.create_instances(
        {"count": 200, "gpu_type": "RTX_A4000_16GB"}, return_ids=True
    )
    client = clients.make()
    mark = len(clients.emulator.journal())
    assert await ids_of(clients, client) == made["ids"]
    assert listing_requests(clients, mark) == 3  # 100, 100, then [] shows the end


async def test_a_short_second_page_is_the_last(clients: Clients) -> None:
    clients.emulator.set_capacity("RTX_A4000_16GB", "NORWAY", 1000)
    made = clients.emulator.create_instances(
        {"count": 150, "gpu_type": "RTX_A4000_16GB"}, return_ids=True
    )
    client = clients.make()
    mark = len(clients.emulator.journal())
    assert await ids_of(clients, client) == made["ids"]
    assert listing_requests(clients, mark) == 2  # 100, then 50 (short: the end)
