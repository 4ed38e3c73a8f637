"""Listings print with each column as wide as its widest cell, given to Rich instead of
measured by it (issue 24, third round): the output must be exactly what Rich prints when
it measures every cell itself."""

from __future__ import annotations

import io
from typing import List, Sequence

import pytest
from rich.console import Console

from fluidstack.cli.render import Cell, ListingTable, Styled


def _print(renderable: object, width: int) -> str:
    console = Console(
        file=io.StringIO(), color_system=None, highlight=False, emoji=False, width=width
    )
    with console.capture() as captured:
        console.print(renderable)
    return captured.get()


ROWS: List[Sequence[Cell]] = [
    ["2a7b07d2-753a-45ba-8004-2404db368ecf", "dapper", Styled("running", "green"), "$2.89"],
    ["1dbf", "", Styled("failed", "red"), "$12,345.6789"],
    ["short"],  # a short row: Rich fills it with empty cells
]

CASES = {
    "plain": ROWS,
    "wide characters": [*ROWS, ["名前", "ünïcödé", "é", "-"]],
    "one colon": [*ROWS, ["a", "2026-12-07 12:31", "x", "$1.00"]],
    # Cells whose printed width only Rich can tell: markup, emoji codes, line breaks.
    "markup": [*ROWS, ["[bold]x[/bold]", "[not markup", "a", "b"]],
    "emoji code": [*ROWS, ["a :smile: b", "2001:db8::1", "a", "b"]],
    "line break": [*ROWS, ["two\nlines", "tab\there", "a", "b"]],
}


@pytest.mark.parametrize("width", [10_000, 120, 40])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_listing_prints_as_rich_measures_it(case: str, width: int) -> None:
    listing = ListingTable(["ID", "NAME", "STATUS", "$/HOUR"], CASES[case])
    listing.caption = "3 instances"
    # rich_table() alone has no widths set: Rich measures every cell.
    assert _print(listing, width) == _print(listing.rich_table(), width)


def test_widths_are_given_only_for_plain_one_line_cells() -> None:
    assert ListingTable(["A", "B"], [["abc", Styled("x" * 7)]])._natural_widths() == [3, 7]
    assert ListingTable(["A"], [["[b]x"]])._natural_widths() is None
    assert ListingTable(["A"], [["a\nb"]])._natural_widths() is None


@pytest.mark.parametrize("color", ["standard", "truecolor"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_listing_prints_as_rich_does_in_colour_too(case: str, color: str) -> None:
    # Fitted cells are handed to Rich as the segments its Padding and Text would make
    # (issue 24, fifth round): with colour, each segment's style shows in the output.
    listing = ListingTable(["ID", "NAME", "STATUS", "$/HOUR"], CASES[case])
    listing.caption = "3 instances"
    for width in (10_000, 120):
        console = Console(
            file=io.StringIO(),
            color_system=color,  # type: ignore[arg-type]
            highlight=False,
            emoji=False,
            width=width,
        )
        with console.capture() as ours:
            console.print(listing)
        with console.capture() as rich:
            console.print(listing.rich_table())
        assert ours.get() == rich.get()
