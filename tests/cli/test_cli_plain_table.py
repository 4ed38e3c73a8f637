"""Listings printed to a pipe are laid out without Rich (issue 24: Rich's layout cost
more than the rest of `fluidstack instances list`): the characters must be exactly those
Rich prints there, whatever the cells."""

from __future__ import annotations

import io
import string
from typing import List, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from fluidstack.cli.render import PlainTable, Styled, simple_table, status_text
from fluidstack.cli.state import CliState

PLAIN_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " -_.:/$,()=+", max_size=12)
ANY_TEXT = st.text(max_size=8)  # markup, unicode, newlines: must fall back to Rich


def rich_lines(table: PlainTable, width: int = 10_000) -> str:
    """What the CLI printed for ``table`` on a pipe before: Rich, lines right-stripped."""
    state = CliState()
    console = state._console(io.StringIO())
    assert not console.is_terminal
    assert console.width == width
    with console.capture() as captured:
        console.print(table)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


def cells(draw_text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    styled = st.builds(Styled, draw_text, st.sampled_from(["", "green", "red", "dim"]))
    return st.one_of(draw_text, styled)


@st.composite
def tables(draw: st.DrawFn, text: st.SearchStrategy[str] = PLAIN_TEXT) -> PlainTable:
    headers: List[str] = draw(
        st.lists(
            st.one_of(st.sampled_from(["ID", "$/HOUR", "GPUS", "NAME"]), text),
            min_size=1,
            max_size=5,
        )
    )
    rows = draw(
        st.lists(st.lists(cells(text), min_size=0, max_size=len(headers)), min_size=0, max_size=6)
    )
    table = simple_table(headers, rows)
    for column in table.columns:
        if draw(st.booleans()):
            column.justify = "right"
    table.caption = draw(st.one_of(st.none(), text))
    return table


@settings(max_examples=300, deadline=None)
@given(tables())
def test_a_plain_table_prints_what_rich_prints(table: PlainTable) -> None:
    plain = table.plain(10_000)
    if plain is not None:  # cells with their own leading/trailing spaces go to Rich
        assert plain == rich_lines(table)


@settings(max_examples=200, deadline=None)
@given(tables(ANY_TEXT))
def test_anything_else_is_either_identical_or_left_to_rich(table: PlainTable) -> None:
    plain = table.plain(10_000)
    if plain is not None:
        assert plain == rich_lines(table)


def test_a_listing_of_instances_is_laid_out_without_rich() -> None:
    rows: Sequence[Sequence[str]] = [
        ["5cdde6cd-c96a-419b-9136-fdc28c8c718d", "bench-0", status_text("running"), "$2.89"],
        ["1dbf303a", "-", status_text("out-of-stock"), "$12.00"],
    ]
    table = simple_table(["ID", "NAME", "STATUS", "$/HOUR"], rows)
    plain = table.plain(10_000)
    assert plain is not None
    assert plain == rich_lines(table)
    assert plain.splitlines()[1] == "\u2500" * len(plain.splitlines()[2])
    table.caption = "2 instances, $14.89/hour in total"
    plain = table.plain(10_000)
    assert plain is not None
    assert plain == rich_lines(table)


def test_what_the_layout_does_not_cover_goes_to_rich() -> None:
    for cell in ("[bold]x[/bold]", "caf\u00e9", "two\nlines", " padded", "\u4e2d"):
        assert simple_table(["A", "B"], [["x", cell]]).plain(10_000) is None
    captioned = simple_table(["A"], [["x"]])
    captioned.caption = "[dim]1 instance"  # markup
    assert captioned.plain(10_000) is None
    assert simple_table(["A"], [["x" * 50]]).plain(40) is None  # Rich folds it
    assert "x" in rich_lines(captioned)
