"""Tables for the CLI's table output. Imported only when a table is printed.

Listings (:func:`simple_table`) are :class:`ListingTable` objects that Rich renders
when they are printed: building one imports nothing of Rich, so a command that prints
JSON or YAML never loads its table code.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions
    from rich.measure import Measurement
    from rich.segment import Segment
    from rich.table import Table
    from rich.text import Text

    from fluidstack.platform.cost import InstanceCost
    from fluidstack.platform.types.instances import InstanceResponse

__all__ = [
    "STATUS_STYLES",
    "ListingTable",
    "Styled",
    "gpu_label",
    "instance_detail",
    "instance_table",
    "key_value_table",
    "money",
    "plan_table",
    "simple_table",
    "status_text",
    "timestamp",
]

STATUS_STYLES = {
    "running": "green",
    "pending": "yellow",
    "provisioning": "yellow",
    "creating": "yellow",
    "starting": "yellow",
    "stopping": "yellow",
    "deleting": "yellow",
    "shutting_down": "yellow",
    "unhealthy": "red",
    "stopped": "dim",
    "failed": "red",
    "terminated": "red",
    "error": "red",
    "out-of-stock": "red",
    "deleted": "dim",
    "active": "green",
    "healthy": "green",
    "stale": "yellow",
    "attention": "yellow",
    "offline": "red",
}
"""Colours of statuses and states of both APIs (instances, projects, health)."""


class Styled(str):
    """A table cell's text with the Rich style it has on a terminal (``"green"``);
    a plain ``str`` everywhere else."""

    style: str

    def __new__(cls, text: str, style: str = "") -> Styled:
        cell = super().__new__(cls, text)
        cell.style = style
        return cell

    def __rich__(self) -> Text:
        from rich.text import Text

        return Text(str(self), style=self.style)


Cell = Union[str, Styled, "Text"]


class ListingColumn:
    """A column's header and alignment (``"left"`` or ``"right"``), as Rich's has."""

    def __init__(self, header: str, justify: str) -> None:
        self.header = header
        self.justify = justify


class ListingTable:
    """A borderless table with bold headers (Rich's ``SIMPLE_HEAD`` box, no edges), built
    as a Rich table only when printed (``__rich_console__``): it can be printed or grouped
    like any Rich renderable."""

    def __init__(self, headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> None:
        self.columns = [ListingColumn(h, _default_justify(h)) for h in headers]
        self.rows: List[Sequence[Cell]] = [list(row) for row in rows]
        self.caption: Optional[str] = None

    def rich_table(self) -> Table:
        """The Rich table this listing prints as."""
        from rich import box
        from rich.table import Table

        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            header_style="bold",
            caption=self.caption,
        )
        for column in self.columns:
            table.add_column(column.header, justify=column.justify, overflow="fold")  # type: ignore[arg-type]
        for row in self.rows:
            table.add_row(*(_rich_cell(cell) for cell in row))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Table]:
        widths = self._natural_widths()
        # A table that fits gets each column as wide as its widest cell: Rich's own
        # answer, which it would find by measuring every cell (a third of the time of a
        # 50-row listing). Given the widths, it skips that pass; the output is the same.
        if widths is not None and sum(widths) + 3 * len(widths) <= options.max_width:
            yield self._fitted_table(console, widths)
            return
        yield self.rich_table()

    def _fitted_table(self, console: Console, widths: List[int]) -> Table:
        """The Rich table of a listing whose every cell is one line of plain text that
        fits its column: each cell is handed over already justified and padded
        (:class:`_FittedCell`), as the segments Rich's ``Padding`` and ``Text`` would
        make of it, so that Rich lays the table out without wrapping a ``Padding`` and
        a ``Text`` around each of its hundreds of cells (two thirds of a 50-row
        listing's time). The segments, and so the output, are Rich's own; a test
        compares them, with and without colour."""
        from rich import box
        from rich.cells import cell_len
        from rich.segment import Segment
        from rich.style import Style
        from rich.table import Table

        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=0,  # the cells carry Rich's padding (one space each side inside)
            header_style="bold",
            caption=self.caption,
        )
        last = len(self.columns) - 1
        pad = Segment(" ", Style())  # what Rich's Padding yields (its style is "none")
        styles: Dict[str, Style] = {}

        def cell(text: str, style: str, index: int) -> _FittedCell:
            fill = " " * (widths[index] - cell_len(text))
            justified = fill + text if self.columns[index].justify == "right" else text + fill
            if style and style not in styles:
                styles[style] = console.get_style(style)
            segments = [Segment(justified, styles[style] if style else None)]
            if index:  # no padding at the table's edges (pad_edge=False)
                segments.insert(0, pad)
            if index < last:
                segments.append(pad)
            return _FittedCell(segments, widths[index] + (index > 0) + (index < last))

        for index, column in enumerate(self.columns):
            table.add_column(
                cell(column.header, "", index),
                justify=column.justify,  # type: ignore[arg-type]
                width=widths[index] + (index > 0) + (index < last),
                no_wrap=True,
            )
        for row in self.rows:
            table.add_row(
                *(
                    cell(str(text), getattr(text, "style", ""), index)
                    for index, text in enumerate(row)
                )
            )
        return table

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        from rich.measure import Measurement

        return Measurement.get(console, options, self.rich_table())

    def _natural_widths(self) -> Optional[List[int]]:
        """Each column's widest cell (header included) in terminal cells, or ``None``
        when a cell may not print as its own text: Rich markup (``[``), an emoji code
        (``:name:``, two colons), a line break, a tab or another control character.
        Rich measures those itself."""
        from rich.cells import cell_len

        widths = []
        for index, column in enumerate(self.columns):
            width = cell_len(column.header)
            for row in self.rows:
                cell = row[index] if index < len(row) else ""
                text = cell if isinstance(cell, str) else getattr(cell, "plain", None)
                if text is None or "[" in text or text.count(":") > 1 or not text.isprintable():
                    return None
                width = max(width, cell_len(text))
            widths.append(width)
        return widths


class _FittedCell:
    """A listing's cell as the segments Rich would render it as (see
    :meth:`ListingTable._fitted_table`), and its width."""

    __slots__ = ("segments", "width")

    def __init__(self, segments: List[Segment], width: int) -> None:
        self.segments = segments
        self.width = width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> List[Segment]:
        return self.segments

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        from rich.measure import Measurement

        return Measurement(self.width, self.width)


def _default_justify(header: str) -> str:
    return "right" if header.startswith("$") or header in ("GPUS", "BALANCE") else "left"


def _rich_cell(cell: Any) -> Any:
    return cell.__rich__() if isinstance(cell, Styled) else cell


def simple_table(headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> ListingTable:
    """A borderless table with bold headers, easy to read and to ``grep``."""
    return ListingTable(headers, rows)


def key_value_table(rows: Iterable[Tuple[str, Cell]]) -> Table:
    """Two columns, field name and value, for one object."""
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, _rich_cell(value))
    return table


def status_text(status: object) -> Styled:
    value = str(status)
    return Styled(value, STATUS_STYLES.get(value, ""))


def money(value: Union[float, Decimal, None], suffix: str = "") -> str:
    """``$1.23`` (more digits for sub-cent prices), or ``-`` when unknown."""
    if value is None:
        return "-"
    number = float(value)
    if number != number:  # NaN
        return "-"
    digits = 2 if number == 0 or abs(number) >= 0.1 else 4
    return f"${number:,.{digits}f}{suffix}"


def timestamp(value: Optional[dt.datetime]) -> str:
    """``2024-06-01 12:34`` in UTC, or ``-``."""
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M")


def duration(hours: Optional[float]) -> str:
    if hours is None:
        return "-"
    seconds = int(hours * 3600)
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m = rest // 60
    if days:
        return f"{days}d {h}h"
    if h:
        return f"{h}h {m}m"
    return f"{m}m"


def gpu_label(instance: InstanceResponse) -> str:
    config = instance.configuration
    if config is None:
        return "-"
    model = config.gpu_model.name if config.gpu_model is not None else "?"
    return f"{config.gpu_count}x {model}"


def region_label(instance: InstanceResponse) -> str:
    config = instance.configuration
    return str(config.region) if config is not None else "-"


def instance_table(instances: Sequence[InstanceResponse]) -> ListingTable:
    from fluidstack.platform.cost import instance_cost

    rows: List[List[Cell]] = []
    for instance in instances:
        cost = instance_cost(instance)  # the hourly rate: no clock involved
        rows.append(
            [
                instance.id,
                instance.name or "-",
                status_text(instance.status),
                gpu_label(instance),
                region_label(instance),
                instance.ip_address or "-",
                money(cost.hourly),
                timestamp(instance.created_at),
            ]
        )
    return simple_table(
        ["ID", "NAME", "STATUS", "GPU", "REGION", "IP", "$/HOUR", "CREATED (UTC)"], rows
    )


def instance_detail(instance: InstanceResponse, now: Optional[dt.datetime] = None) -> Table:
    """One instance, field by field; its age and cost so far measured at ``now`` (the
    server's time: ``client.server_time()``)."""
    from fluidstack.platform.cost import instance_cost

    cost = instance_cost(instance, now)
    config = instance.configuration
    rows: List[Tuple[str, Cell]] = [
        ("ID", instance.id),
        ("Name", instance.name or "-"),
        ("Status", status_text(instance.status)),
        ("GPU", gpu_label(instance)),
        ("Region", region_label(instance)),
    ]
    if config is not None:
        rows.append(("CPUs / memory", f"{config.cpu_count} / {config.memory_size_gb:g} GB"))
        rows.append(("Disk", f"{config.nvme_storage_size_gb} GB NVMe"))
    rows += [
        ("OS", str(instance.operating_system_label or "-")),
        ("IP address", instance.ip_address or "-"),
        ("SSH", instance.ssh_command or "-"),
        ("SSH keys", ", ".join(instance.ssh_keys) or "-"),
        ("Created", created_text(instance.created_at, cost.hours)),
        ("Cost", money(cost.hourly, "/hour")),
        ("Cost so far", _cost_so_far(cost)),
    ]
    return key_value_table(rows)


def created_text(created: Optional[dt.datetime], hours: Optional[float]) -> str:
    """``2026-11-26 09:30 UTC (2h 5m ago)``; the age only when it is known."""
    if created is None:
        return "-"
    text = timestamp(created) + " UTC"
    return text if hours is None else f"{text} ({duration(hours)} ago)"


def _cost_so_far(cost: InstanceCost) -> str:
    if cost.accrued is not None:
        return f"{money(cost.accrued)} (estimate, over {duration(cost.hours)})"
    if cost.problem:
        return f"unknown: {cost.problem}"
    return "-"


def plan_table(plan: Any) -> ListingTable:
    """The offers ``instances create --cheapest --dry-run`` would try, in order."""
    return simple_table(
        ["#", "GPU TYPE", "GPUS", "REGION", "$/GPU-HOUR", "$/HOUR"],
        [
            [
                str(n),
                str(o.gpu_type),
                str(o.gpu_count),
                str(o.region),
                money(o.price_per_gpu_hour),
                money(o.price_per_hour),
            ]
            for n, o in enumerate(plan.options, start=1)
        ],
    )
