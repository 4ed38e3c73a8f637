"""How the Atlas resource commands print: a listing, one item, a state cell."""

from __future__ import annotations

from typing import Any, Callable, List, Sequence, Tuple

from ..state import CliState

__all__ = ["emit_listing", "emit_one", "status_cell"]


def emit_listing(
    state: CliState,
    items: Sequence[Any],
    headers: Sequence[str],
    row: Callable[[Any], List[Any]],
    ident: Callable[[Any], str],
    empty: str,
) -> None:
    """Emit a listing: a table of ``row(item)`` cells, JSON/YAML of the models, or ids."""
    if not items and state.output == "table":
        state.info(empty)
        return

    def table() -> Any:
        from ..render import simple_table

        return simple_table(list(headers), [row(item) for item in items])

    state.emit(list(items), table=table, ids=[ident(item) for item in items])


def emit_one(state: CliState, item: Any, rows: Callable[[Any], List[Tuple[str, Any]]]) -> None:
    def table() -> Any:
        from ..render import key_value_table

        return key_value_table(rows(item))

    state.emit(item, table=table, ids=[str(getattr(item, "id", None) or item.name)])


def status_cell(value: Any) -> Any:
    from ..render import status_text

    return status_text(value)
