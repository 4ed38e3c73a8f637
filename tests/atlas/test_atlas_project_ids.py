"""Project ids are checked without importing :mod:`uuid` (it imports ``platform``, a
cost every CLI start would pay): the check must accept and refuse exactly what
``uuid.UUID`` does, and give the same canonical form."""

from __future__ import annotations

import uuid

import pytest

from fluidstack.atlas.settings import check_project_id

SPELLINGS = [
    "12345678-1234-5678-1234-567812345678",
    "{12345678-1234-5678-1234-567812345678}",
    "urn:uuid:12345678-1234-5678-1234-567812345678",
    "12345678123456781234567812345678",
    "ABCDEF00-0000-4000-8000-000000000000",
    "1234-5678-1234-5678-1234-5678-1234-5678",
    "+2345678123456781234567812345678",
    "1_345678123456781234567812345678",
    "xyz",
    "",
    "1-2-3",
    "12345678-1234-5678-1234-5678123456789",
    "g2345678123456781234567812345678",
    *(str(uuid.UUID(int=n)) for n in (0, 1, 2**128 - 1)),
]


@pytest.mark.parametrize("text", SPELLINGS)
def test_project_ids_are_parsed_as_uuid_parses_them(text: str) -> None:
    try:
        expected = str(uuid.UUID(text.strip()))
    except ValueError:
        with pytest.raises(ValueError, match="must be a project's id"):
            check_project_id(text)
    else:
        assert check_project_id(text) == expected


def test_a_uuid_instance_is_taken_as_it_is() -> None:
    value = uuid.uuid4()
    assert check_project_id(value) == str(value)
    assert check_project_id(None) is None
