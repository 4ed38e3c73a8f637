"""What both APIs' commands share to never pay for a forgotten GPU: durations
(``--older-than 2d``, ``--lease 4h``) and ``instances sweep`` (a listing, ``--yes`` to
delete, ``--watch`` to run as a reaper). ``fluidstack cost`` is the platform API's
(:mod:`fluidstack.cli.platform.cost`), re-exported here for older imports."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

import click

from .platform.cost import cost  # re-exported: `fluidstack cost` lived here
from .state import CliState
from .waiting import wait_options

if TYPE_CHECKING:
    from fluidstack.core.spend import SweepMatch, SweepResult

__all__ = ["cost", "parse_duration", "run_sweep", "sweep_options", "to_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> dt.timedelta:
    """A length of time: ``90`` (seconds), ``90s``, ``30m``, ``4h``, ``2d``, ``1w``, or
    several together (``1h30m``); ``ValueError`` for anything else, or for 0."""
    compact = text.strip().lower().replace(" ", "")
    seconds: Optional[float] = None
    try:
        seconds = float(compact)
    except ValueError:
        parts = _PART.findall(compact)
        if parts and "".join(n + u for n, u in parts) == compact:
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds is None or not 0 < seconds < float("inf"):
        raise ValueError(
            f"{text!r} is not a duration: use e.g. 90s, 30m, 4h, 2d, 1w or 1h30m (more than 0)"
        )
    return dt.timedelta(seconds=seconds)


def to_duration(
    ctx: click.Context, param: click.Parameter, value: Optional[str]
) -> Optional[dt.timedelta]:
    """The callback of a ``DURATION`` option."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def sweep_options(statuses: Sequence[str]) -> Callable[[Any], Any]:
    """The selection and action options of ``instances sweep`` (both APIs)."""

    def decorate(func: Any) -> Any:
        for option in reversed(
            [
                click.option(
                    "--older-than",
                    callback=to_duration,
                    metavar="DURATION",
                    help="Created at least this long ago (e.g. 12h, 2d).",
                ),
                click.option("--name-prefix", metavar="PREFIX", help="Named with this prefix."),
                click.option(
                    "--status",
                    "statuses",
                    multiple=True,
                    type=click.Choice(statuses, case_sensitive=False),
                    help="In this status (repeatable).",
                ),
                click.option(
                    "--expired", is_flag=True, help="Whose lease (create --lease) has run out."
                ),
                click.option(
                    "-y",
                    "--yes",
                    is_flag=True,
                    help="Delete what is selected (without it: only list it).",
                ),
                click.option(
                    "--watch",
                    is_flag=True,
                    help="Run as a reaper: sweep every --interval, delete what is selected "
                    "(as --yes does) and log each deletion, until stopped.",
                ),
                click.option(
                    "--interval",
                    callback=to_duration,
                    default="60s",
                    show_default=True,
                    metavar="DURATION",
                    help="With --watch: time between sweeps.",
                ),
                click.option(
                    "--rounds",
                    type=click.IntRange(min=1),
                    default=None,
                    metavar="N",
                    help="With --watch: stop after N sweeps (default: run until stopped).",
                ),
            ]
        ):
            func = option(func)
        return wait_options(func)

    return decorate


def _age(match: SweepMatch[Any]) -> str:
    from fluidstack.core.spend import format_duration

    return "-" if match.age is None else format_duration(match.age.total_seconds())


def _match_data(match: SweepMatch[Any]) -> Dict[str, Any]:
    return {
        "id": match.id,
        "name": match.name,
        "status": match.status,
        "region": match.region,
        "age_seconds": None if match.age is None else round(match.age.total_seconds()),
        "lease_expires": None if match.lease_expires is None else match.lease_expires.isoformat(),
        "hourly": match.hourly,
        "cost_so_far": match.cost_so_far,
        "reasons": list(match.reasons),
    }


def sweep_data(result: SweepResult[Any]) -> Dict[str, Any]:
    """A sweep's result as ``-o json`` shows it."""
    return {
        "dry_run": result.dry_run,
        "checked_at": result.checked_at.isoformat(),
        "criteria": result.criteria.describe(),
        "matched": [_match_data(m) for m in result.matched],
        "deleted": [m.id for m in result.deleted],
        "failed": [
            {"id": f.match.id, "error": str(f.error), "status_code": f.error.status_code}
            for f in result.failed
        ],
        "undecided": [{"id": u.id, "name": u.name, "reason": u.reason} for u in result.undecided],
        # Unknown (no match has a price) is null, not 0.
        "hourly": result.hourly if _priced(result) else None,
        "cost_so_far": result.cost_so_far if _priced(result) else None,
    }


def _sweep_table(result: SweepResult[Any]) -> Any:
    from .render import money, simple_table

    table = simple_table(
        ["ID", "NAME", "STATUS", "AGE", "$/HOUR", "SO FAR", "WHY"],
        [
            [
                m.id,
                m.name or "-",
                m.status,
                _age(m),
                money(m.hourly),
                money(m.cost_so_far),
                "; ".join(m.reasons),
            ]
            for m in result.matched
        ],
    )
    count = len(result.matched)
    table.caption = f"{count} instance{'s' if count != 1 else ''}, " + _totals(result)
    return table


def _priced(result: SweepResult[Any]) -> bool:
    """Whether any price is known: no matches (a total of 0) or at least one priced."""
    return not result.matched or any(m.hourly is not None for m in result.matched)


def _totals(result: SweepResult[Any]) -> str:
    """``$X/hour, $Y so far``: unknown prices (Atlas without a price table) are not
    zero, so a total of none known is ``-`` and a partial one says what it leaves out."""
    from .render import money

    unpriced = sum(1 for m in result.matched if m.hourly is None)
    if result.matched and unpriced == len(result.matched):
        return "-/hour, - so far (no prices known)"
    text = f"{money(result.hourly)}/hour, {money(result.cost_so_far)} so far"
    if unpriced:
        text += f" (without {unpriced} of unknown price)"
    return text


def _deletion_line(match: SweepMatch[Any], at: dt.datetime) -> str:
    from .render import money

    cost = f"; {money(match.cost_so_far)} so far" if match.cost_so_far is not None else ""
    return (
        f"{at.strftime('%Y-%m-%dT%H:%M:%SZ')} deleted instance {match.id} "
        f"({match.name or '-'}, {match.status}): {'; '.join(match.reasons)}{cost}"
    )


_CRITERIA = ("older_than", "name_prefix", "statuses", "expired", "tags")
"""The SDK's sweep criteria (a command has the flags of those its API supports)."""


def wanted_criteria(wanted: Dict[str, Any]) -> List[str]:
    """The criteria among a sweep's keywords."""
    return [name for name in _CRITERIA if name in wanted]


def _no_criterion() -> str:
    """The SDK names its keywords; say this command's flags instead."""
    command = click.get_current_context().command
    flags = [max(p.opts, key=len) for p in command.params if p.name in _CRITERIA and p.opts]
    return (
        f"a sweep needs at least one criterion ({', '.join(flags)}): it never selects "
        "every instance by default"
    )


def run_sweep(
    state: CliState,
    sweep: Callable[..., SweepResult[Any]],
    options: Dict[str, Any],
    command: str,
) -> None:
    """List what ``sweep`` (an ``instances.sweep`` of either API) selects with the
    command's ``options``, delete it with ``--yes``, or with ``--watch`` sweep and delete
    every ``--interval`` until stopped."""
    options = dict(options)
    yes, watch, rounds = options.pop("yes"), options.pop("watch"), options.pop("rounds")
    interval: dt.timedelta = options.pop("interval")
    if rounds is not None and not watch:
        raise click.UsageError("--rounds goes with --watch.")
    # The criteria given (and --timeout, --poll-interval), as the SDK's keywords.
    wanted = {k: v for k, v in options.items() if v is not None and v != () and v is not False}
    if "statuses" in wanted:
        wanted["statuses"] = list(wanted["statuses"])

    def once(dry_run: bool) -> SweepResult[Any]:
        try:
            return sweep(**wanted, dry_run=dry_run)
        except ValueError as exc:  # no criterion, say: before anything is sent
            if not wanted_criteria(wanted):
                raise click.UsageError(_no_criterion()) from exc
            raise click.UsageError(str(exc)) from exc

    if watch:
        _reap(state, once, interval.total_seconds(), rounds)
        return
    result = once(not yes)
    for undecided in result.undecided:
        state.warn(f"left alone: {undecided.id} ({undecided.name or '-'}): {undecided.reason}")
    if state.output == "table" and not state.quiet and not result.matched:
        state.info(f"Nothing matches ({result.criteria.describe()}).")
    else:
        ids = [m.id for m in (result.deleted if yes else result.matched)]
        state.emit(sweep_data(result), table=lambda: _sweep_table(result), ids=ids)
    for failure in result.failed:
        click.echo(f"error: {failure.match.id}: {failure.error}", err=True)
    if yes:
        for match in result.deleted:
            state.info(f"Deleted instance {match.id} ({match.name or '-'}).")
    elif result.matched:
        state.info(f"Nothing was deleted: run `{command} ... --yes` to delete these.")
    if result.failed:
        click.get_current_context().exit(1)


def _reap(
    state: CliState,
    sweep: Callable[[bool], SweepResult[Any]],
    interval: float,
    rounds: Optional[int],
) -> None:
    """The reaper: sweep and delete, log each deletion (stderr; one JSON line each on
    stdout with ``-o json``), sleep, again. A failed round is logged, not fatal; SIGTERM
    (systemd's stop) and Ctrl-C end it after the delete in progress."""
    from fluidstack.core.errors import ApiError

    stopping: List[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    done = 0
    try:
        click.echo(f"reaper started: sweeping every {interval:g}s", err=True)
        while not stopping:
            try:
                result = sweep(False)
            except ApiError as exc:
                click.echo(f"sweep failed (trying again in {interval:g}s): {exc}", err=True)
            else:
                for match in result.deleted:
                    click.echo(_deletion_line(match, result.checked_at), err=True)
                    if state.output == "json":
                        line = {"event": "deleted", "at": result.checked_at.isoformat()}
                        click.echo(json.dumps({**line, **_json(_match_data(match))}))
                for failure in result.failed:
                    click.echo(
                        f"could not delete instance {failure.match.id}: {failure.error}", err=True
                    )
            done += 1
            if rounds is not None and done >= rounds:
                break
            _sleep(interval, stopping)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(f"reaper stopped after {done} sweep{'s' if done != 1 else ''}", err=True)


def _json(data: Dict[str, Any]) -> Dict[str, Any]:
    from .state import jsonable

    result: Dict[str, Any] = jsonable(data)
    return result


def _sleep(seconds: float, stopping: List[int]) -> None:
    """Sleep, waking early once asked to stop."""
    end = time.monotonic() + seconds
    while not stopping:
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))
