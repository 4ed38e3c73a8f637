"""An Atlas instance's answer written from a template (``Instance.view_json``, issue 24)
is byte for byte what encoding its view gives, whatever the instance holds."""

from __future__ import annotations

import random
from typing import Any

from fluidstack.emulator.atlas.records import Instance
from fluidstack.emulator.encoding import dumps

_TEXTS = ["", "a", "bench", 'q"uote\\', "tab\there", "caf\u00e9", "\u2603\U0001f600", "\ud800",
          "\x00\x1f\x7f", "</script>", "\u2028\u2029"]  # fmt: skip


def _instance(rng: random.Random, **changes: Any) -> Instance:
    def text() -> str:
        return "".join(rng.choice(_TEXTS) for _ in range(rng.randint(0, 3)))

    fields: dict[str, Any] = {
        "id": text() or "00000000-0000-4000-8000-000000000000", "seq": 1, "org_id": "o",
        "project_id": "p", "region": "r", "name": text(), "type": text(), "image": text(),
        "preemptible": rng.random() < 0.5, "ephemeral": rng.random() < 0.5,
        "user_data": rng.choice([None, text()]),
        "filesystems": [text() for _ in range(rng.randint(0, 3))],
        "tags": {text(): text() for _ in range(rng.randint(0, 3))}, "ip": text(),
        "created_at": 0.0, "segments": [("creating", 0.0)], "reserved": True,
    }  # fmt: skip
    fields.update(changes)
    return Instance(**fields)


def test_view_json_is_the_encoded_view() -> None:
    rng = random.Random(24)
    states = ["creating", "starting", "running", "stopping", "stopped", "error", "out-of-stock"]
    for _ in range(3_000):
        instance = _instance(rng)
        for state in states:
            assert instance.view_json(state) == dumps(instance.view(state))


def test_view_json_of_unusual_values_is_the_encoded_view() -> None:
    rng = random.Random(7)
    for changes in ({"preemptible": 1}, {"ephemeral": None}, {"user_data": 5},
                    {"ip": None}, {"tags": {"k": 1}}, {"filesystems": [None]}):  # fmt: skip
        instance = _instance(rng, **changes)
        for state in ("running", "creating"):
            assert instance.view_json(state) == dumps(instance.view(state))
