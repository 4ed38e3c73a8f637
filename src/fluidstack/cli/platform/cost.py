"""``fluidstack cost``: what the account's instances burn per hour, what each has cost
so far, and how long the balance lasts at that rate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Dict, List, Optional

import click

from ..state import CliState, output_options, pass_state

__all__ = ["cost"]


@click.command()
@output_options
@pass_state
def cost(state: CliState) -> None:
    """Hourly burn, cost so far of each instance, and how long the balance lasts.

    Ages are measured on the server's clock. The cost so far of an instance is its
    current hourly price over its whole life (an estimate); the balance is the
    authoritative figure.
    """
    from fluidstack.platform.cost import instance_cost

    client = state.client
    found = [i for i in client.instances.iter() if str(i.status) not in ("terminated", "failed")]
    balance = Decimal(repr(client.user.get_balance().balance))
    now = client.server_time()
    rows: List[Dict[str, Any]] = []
    burn = Decimal(0)
    accrued = Decimal(0)
    for instance in found:
        figures = instance_cost(instance, now=now)
        burn += figures.hourly or Decimal(0)
        accrued += figures.accrued or Decimal(0)
        rows.append(
            {
                "id": instance.id,
                "name": instance.name,
                "status": str(instance.status),
                "hourly": figures.hourly,
                "hours": None if figures.hours is None else round(figures.hours, 4),
                "cost_so_far": None
                if figures.accrued is None
                else figures.accrued.quantize(Decimal("0.01")),
            }
        )
    hours_left: Optional[float] = float(balance / burn) if burn > 0 and balance > 0 else None
    if burn > 0 and balance <= 0:
        hours_left = 0.0
    runs_out = None if hours_left is None else now + dt.timedelta(hours=hours_left)
    data = {
        "checked_at": now.isoformat(),
        "hourly_burn": burn,
        "cost_so_far": accrued.quantize(Decimal("0.01")),
        "balance": balance,
        "hours_left": None if hours_left is None else round(hours_left, 2),
        "runs_out_at": None if runs_out is None else runs_out.isoformat(),
        "instances": rows,
    }

    def table() -> Any:
        from rich.console import Group

        from fluidstack.core.spend import format_duration

        from ..render import duration, key_value_table, money, simple_table, status_text

        if hours_left is None:
            lasts = "indefinitely (nothing is billing)" if burn == 0 else "-"
        else:
            lasts = (
                f"{format_duration(hours_left * 3600)} (until {runs_out:%Y-%m-%d %H:%M} UTC)"
                if runs_out is not None
                else "-"
            )
        summary = key_value_table(
            [
                ("Hourly burn", f"{money(burn)}/hour"),
                ("Cost so far", money(accrued)),
                ("Balance", money(balance)),
                ("Lasts", lasts),
            ]
        )
        instances = simple_table(
            ["ID", "NAME", "STATUS", "$/HOUR", "AGE", "SO FAR"],
            [
                [
                    r["id"],
                    r["name"] or "-",
                    status_text(r["status"]),
                    money(r["hourly"]),
                    duration(r["hours"]),
                    money(r["cost_so_far"]),
                ]
                for r in rows
            ],
        )
        return Group(summary, instances) if rows else summary

    state.emit(data, table=table, ids=[r["id"] for r in rows])
