"""The client-side rows of the benchmark table: ``import fluidstack``, the SDK's calls
(platform and Atlas) against raw httpx, parsing and holding a big listing, callgrind's
instruction count, and the CLI's wall times.

Each ``measure_*`` function takes the run's ``Counts`` and returns its ``Row`` (or rows);
``bench/run.py`` decides the order and prints the table.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from harness import (
    WORKER,
    Emulator,
    Worker,
    clean_env,
    ensure_lean_python,
    log,
    median,
    rotations,
    run_json,
    wall_time,
)
from table import MIB, Counts, Row, X, fmt

IMPORT_CODE = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def measure_imports(
    counts: Counts,
    ours_py: str,
    vendor_py: Optional[str],
    vendor_why: str,
    ours_env: Dict[str, str],
    lean_env: bool = True,
) -> List[Row]:
    log("import times (fresh process each)")
    lean, lean_why = ensure_lean_python() if lean_env else (None, "--quick")
    where = "SDK's run-time dependencies only"
    if lean is None:
        log(f"lean environment unavailable ({lean_why}): measuring in the project's own")
        where = f"project environment, CLI extras installed: {lean_why}"
    python = str(lean) if lean is not None else ours_py
    variants = {
        "ours": (python, "import fluidstack"),
        "ours_client": (python, "from fluidstack import FluidStack; FluidStack(api_key='k')"),
        "floor": (python, "import httpx, pydantic"),
        "floor_client": (python, "import httpx, pydantic; httpx.Client()"),
    }
    if vendor_py:
        variants["vendor"] = (vendor_py, "import FluidStack.client")
        variants["vendor_client"] = (
            vendor_py,
            "from FluidStack.client import FluidStack; FluidStack(api_key='k')",
        )
    samples: Dict[str, List[float]] = {k: [] for k in variants}
    errors: Dict[str, str] = {}
    for i in range(counts.imports + 1):  # the first round only warms the .pyc caches
        for name in rotations(list(variants), i):
            if name in errors:
                continue
            interpreter, stmt = variants[name]
            argv = [interpreter, "-c", IMPORT_CODE.format(stmt=stmt)]
            env = ours_env if name.startswith("ours") else None
            try:
                result = run_json(argv, timeout=120, env=env)  # prints a float: valid JSON
            except Exception as exc:
                errors[name] = str(exc)[:120]
                continue
            if i:
                samples[name].append(float(result))

    def value(name: str) -> Optional[float]:
        return median(samples[name]) if samples.get(name) else None

    rows = []
    for key, floor, vendor, figure, floor_text, vendor_text in (
        (
            "ours",
            "floor",
            "vendor",
            f"`import fluidstack` (fresh process, median of {counts.imports}; {where})",
            "`import httpx, pydantic`",
            "`import FluidStack.client`",
        ),
        (
            "ours_client",
            "floor_client",
            "vendor_client",
            "`from fluidstack import FluidStack; FluidStack(api_key=...)`: what a script "
            f"pays before its first call ({where})",
            "`import httpx, pydantic; httpx.Client()`",
            "the same with `FluidStack.client`",
        ),
    ):
        row = Row(
            figure=figure,
            unit="ms",
            target=f"≤ 1.15{X} floor",
            ours=value(key),
            floor=value(floor),
            vendor=value(vendor),
        )
        row.floor_text = f"{fmt(row.floor, 'ms')} ({floor_text})"
        if not vendor_py:
            row.vendor_text = f"n/a ({vendor_why})"
        elif row.vendor is not None:
            row.vendor_text = f"{fmt(row.vendor, 'ms')} ({vendor_text})"
        if row.ratio is not None:
            row.met = row.ratio <= 1.15
        for name in (key, floor, vendor):
            if name in errors:
                row.notes.append(f"{name}: {errors[name]}")
        row.samples = {k: samples.get(k, []) for k in (key, floor, vendor)}
        rows.append(row)
    return rows


def _round_robin(
    workers: Dict[str, Worker],
    rounds: int,
    command: Callable[[], Dict[str, Any]],
    collect: Callable[[str, Dict[str, Any]], None],
    errors: Dict[str, str],
) -> None:
    for i in range(rounds):
        for name in rotations(list(workers), i):
            if name in errors:
                continue
            reply = workers[name].ask(**command())
            if not reply.get("ok"):
                errors[name] = str(reply.get("error"))[:160]
                continue
            collect(name, reply)


def _sdk_row(
    figure: str,
    target: str,
    unit: str,
    samples: Dict[str, List[float]],
    errors: Dict[str, str],
    vendor_why: str,
    reduce: Callable[[List[float]], float] = median,
    higher_is_better: bool = False,
) -> Row:
    row = Row(figure=figure, unit=unit, target=target, higher_is_better=higher_is_better)
    for name in ("ours", "floor", "vendor"):
        if samples.get(name):
            setattr(row, name, reduce(samples[name]))
        if name in errors:
            setattr(row, f"{name}_text", f"n/a ({errors[name]})")
            row.notes.append(f"{name}: {errors[name]}")
    if "vendor" not in samples and "vendor" not in errors:
        row.vendor_text = f"n/a ({vendor_why})"
    row.samples = samples
    return row


def measure_http(
    counts: Counts, workers: Dict[str, Worker], ids: List[str], vendor_why: str
) -> List[Row]:
    rows = []

    log(f"instances.list() of {counts.instances}, sequential, keep-alive")
    samples: Dict[str, List[float]] = {k: [] for k in workers}
    errors: Dict[str, str] = {}
    _round_robin(
        workers,
        counts.list_rounds,
        lambda: {"op": "list", "n": counts.list_calls, "expect": counts.instances},
        lambda name, reply: samples[name].extend(reply["times"]),
        errors,
    )
    row = _sdk_row(
        f"`instances.list()` of {counts.instances} instances, sequential, keep-alive",
        f"≤ 1.25{X} floor and ≥ 3{X} faster than 0.0.8",
        "ms",
        samples,
        errors,
        vendor_why,
    )
    row.floor_text = f"{fmt(row.floor, 'ms')} (httpx GET + `json.loads`)"
    if row.ratio is not None:
        row.met = row.ratio <= 1.25 and (row.vendor_ratio is None or row.vendor_ratio >= 3)
        if row.vendor_ratio is None:
            row.notes.append("the vendor half of the target was not measured")
    rows.append(row)

    log("instances.get(id), sequential, keep-alive")
    samples = {k: [] for k in workers}
    errors = {}
    _round_robin(
        workers,
        counts.get_rounds,
        lambda: {"op": "get", "n": counts.get_calls, "ids": ids},
        lambda name, reply: samples[name].extend(reply["times"]),
        errors,
    )
    row = _sdk_row(
        "`instances.get(id)`, sequential, keep-alive",
        f"≤ 1.25{X} floor",
        "ms",
        samples,
        errors,
        vendor_why,
    )
    row.floor_text = f"{fmt(row.floor, 'ms')} (httpx GET + `json.loads`)"
    if row.ratio is not None:
        row.met = row.ratio <= 1.25
    rows.append(row)

    log(f"{counts.async_total} async instances.get with {counts.async_concurrency} in flight")
    samples = {k: [] for k in workers}
    errors = {}
    _round_robin(
        workers,
        counts.async_rounds,
        lambda: {
            "op": "async_get",
            "total": counts.async_total,
            "concurrency": counts.async_concurrency,
            "ids": ids,
        },
        lambda name, reply: samples[name].append(reply["total"] / reply["seconds"]),
        errors,
    )
    row = _sdk_row(
        f"{counts.async_total:,} `instances.get` with {counts.async_concurrency} in flight, "
        "async (throughput)",
        f"≥ 0.85{X} floor's throughput",
        "req/s",
        samples,
        errors,
        vendor_why,
        higher_is_better=True,
    )
    row.floor_text = f"{fmt(row.floor, 'req/s')} (`httpx.AsyncClient`)"
    if row.ratio is not None:
        row.met = row.ratio >= 0.85
    rows.append(row)
    return rows


def measure_async_aiohttp(
    counts: Counts,
    workers: Dict[str, Worker],
    ids: List[str],
    emulator: Emulator,
    ours_env: Dict[str, str],
) -> Row:
    """Our async client on ``AioHttpClient`` against raw ``httpx.AsyncClient``, the
    same calls in the same rounds as the async row above."""
    figure = (
        f"{counts.async_total:,} `instances.get` with {counts.async_concurrency} in flight, "
        "async on `AioHttpClient` (throughput)"
    )
    target = f"≥ 2{X} floor's throughput"
    row = Row(figure=figure, unit="req/s", target=target, higher_is_better=True)
    row.vendor_text = "n/a (not the vendor's transport)"
    try:
        import httpx_aiohttp  # noqa: F401
    except ImportError:
        row.ours_text = "n/a (the aiohttp extra is not installed)"
        return row
    log(f"the same on AioHttpClient ({counts.async_total} calls)")
    aio = Worker("ours-aiohttp", sys.executable, ours_env)
    try:
        reply = aio.ask(op="setup", base_url=emulator.base_url, api_key=emulator.api_key, ids=ids)
        if not reply.get("ok"):
            row.ours_text = f"n/a ({str(reply.get('error'))[:160]})"
            return row
        pair = {"ours": aio, "floor": workers["floor"]}
        samples: Dict[str, List[float]] = {"ours": [], "floor": []}
        errors: Dict[str, str] = {}
        _round_robin(
            pair,
            counts.async_rounds,
            lambda: {
                "op": "async_get",
                "total": counts.async_total,
                "concurrency": counts.async_concurrency,
                "ids": ids,
            },
            lambda name, answer: samples[name].append(answer["total"] / answer["seconds"]),
            errors,
        )
    finally:
        aio.close()
    row = _sdk_row(figure, target, "req/s", samples, errors, "", higher_is_better=True)
    row.vendor_text = "n/a (not the vendor's transport)"
    row.floor_text = f"{fmt(row.floor, 'req/s')} (`httpx.AsyncClient`)"
    if row.ratio is not None:
        row.met = row.ratio >= 2.0
    return row


def measure_parse(
    counts: Counts,
    workers: Dict[str, Worker],
    pythons: Dict[str, str],
    path: Path,
    vendor_why: str,
    ours_env: Dict[str, str],
) -> Row:
    log(f"parse a {counts.parse_items:,}-instance listing")
    samples: Dict[str, List[float]] = {k: [] for k in workers}
    errors: Dict[str, str] = {}
    _round_robin(
        workers,
        counts.parse_rounds,
        lambda: {
            "op": "parse",
            "path": str(path),
            "n": counts.parse_reps,
            "expect": counts.parse_items,
        },
        lambda name, reply: samples[name].extend(reply["times"]),
        errors,
    )
    peaks: Dict[str, List[float]] = {k: [] for k in pythons}
    for i in range(counts.parse_mem_runs):
        for name in rotations(list(pythons), i):
            if name in errors:
                continue
            try:
                result = run_json(
                    [pythons[name], str(WORKER), "parse-mem", name, str(path)],
                    env=ours_env if name == "ours" else None,
                )
            except Exception as exc:
                errors[name] = f"parse-mem: {exc}"[:160]
                continue
            peaks[name].append(result["peak"])
    row = _sdk_row(
        f"parse a {counts.parse_items:,}-instance listing (time; peak traced memory)",
        f"≤ 1.5{X} floor's time",
        "ms",
        samples,
        errors,
        vendor_why,
    )
    for name in ("ours", "floor", "vendor"):
        value = getattr(row, name)
        if value is not None and peaks.get(name):
            text = f"{fmt(value, 'ms')}; {median(peaks[name]) / MIB:.1f} MiB"
            if name == "floor":
                text += " (`json.loads`)"
            setattr(row, f"{name}_text", text)
    row.samples = {"seconds": samples, "peak_bytes": peaks}
    if row.ratio is not None:
        row.met = row.ratio <= 1.5
    return row


def measure_hold_rss(
    counts: Counts,
    pythons: Dict[str, str],
    path: Path,
    vendor_why: str,
    ours_env: Dict[str, str],
) -> Row:
    log(f"RSS of holding a {counts.parse_items:,}-instance listing")
    samples: Dict[str, List[float]] = {k: [] for k in pythons}
    errors: Dict[str, str] = {}
    for i in range(counts.parse_mem_runs):
        for name in rotations(list(pythons), i):
            if name in errors:
                continue
            try:
                result = run_json(
                    [pythons[name], str(WORKER), "hold-rss", name, str(path)],
                    env=ours_env if name == "ours" else None,
                )
            except Exception as exc:
                errors[name] = f"hold-rss: {exc}"[:160]
                continue
            samples[name].append(result["rss"] / MIB)
    row = _sdk_row(
        f"hold a parsed {counts.parse_items:,}-instance listing (RSS, fresh process)",
        f"≤ 1.5{X} floor's RSS",
        "MiB",
        samples,
        errors,
        vendor_why,
    )
    row.floor_text = f"{fmt(row.floor, 'MiB')} (`json.loads`)"
    if row.ratio is not None:
        row.met = row.ratio <= 1.5
    return row


def measure_list_instructions(
    counts: Counts, emulator: Emulator, ours_env: Dict[str, str], skip: Optional[str] = None
) -> Row:
    """Client CPU of one ``instances.list()``, ours and the floor, counted by callgrind:
    instructions do not vary with the machine's load as times do."""
    figure = (
        f"`instances.list()` of {counts.instances}: client CPU per call (instructions, callgrind)"
    )
    row = Row(figure=figure, unit="instr", target=f"≤ 1.10{X} floor")
    row.vendor_text = "— (not measured)"
    valgrind = shutil.which("valgrind")
    if valgrind is None or skip:
        # Under valgrind every run starts Python at ~50x: minutes, too slow for --quick.
        row.ours_text = row.floor_text = f"n/a ({skip or 'no valgrind on this machine'})"
        return row
    log(f"client instructions per instances.list() (callgrind, {counts.instr_calls} calls)")
    per_call: Dict[str, float] = {}
    for name in ("floor", "ours"):
        totals = []
        for n in (0, counts.instr_calls):
            done = subprocess.run(
                [
                    valgrind,
                    "--tool=callgrind",
                    "--callgrind-out-file=/dev/null",
                    sys.executable,
                    str(WORKER),
                    "list-calls",
                    name,
                    emulator.base_url,
                    emulator.api_key,
                    str(n),
                ],
                capture_output=True,
                text=True,
                timeout=900,
                env=clean_env(ours_env if name == "ours" else None),
            )
            found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
            if done.returncode != 0 or found is None:
                setattr(row, f"{name}_text", f"n/a ({done.stderr.strip()[-120:]})")
                return row
            totals.append(int(found.group(1)))
        per_call[name] = (totals[1] - totals[0]) / counts.instr_calls
    row.ours, row.floor = per_call["ours"], per_call["floor"]
    row.ours_text = f"{row.ours / 1e6:.2f} M"
    row.floor_text = f"{row.floor / 1e6:.2f} M (httpx GET + `json.loads`)"
    if row.ratio is not None:
        row.met = row.ratio <= 1.10
    return row


def measure_cli(counts: Counts, emulator: Emulator, ours_env: Dict[str, str]) -> List[Row]:
    log("CLI wall times")
    python = sys.executable
    script = Path(python).with_name("fluidstack")
    base = [str(script)] if script.exists() else [python, "-m", "fluidstack.cli"]
    env = clean_env(
        {
            "FLUIDSTACK_API_KEY": emulator.api_key,
            "FLUIDSTACK_BASE_URL": emulator.base_url,
            **ours_env,
        }
    )
    commands = {
        "help": [*base, "--help"],
        "list": [*base, "instances", "list"],
        "floor": [python, "-c", "pass"],
    }
    samples: Dict[str, List[float]] = {k: [] for k in commands}
    errors: Dict[str, str] = {}
    for i in range(counts.cli_runs + 1):  # the first round warms caches
        for name in rotations(list(commands), i):
            if name in errors:
                continue
            try:
                seconds, status, stderr = wall_time(commands[name], env)
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"[:120]
                continue
            if status != 0:
                errors[name] = f"exit {status}: {stderr}"[:160]
                continue
            if i:
                samples[name].append(seconds)
    floor = median(samples["floor"]) if samples["floor"] else None
    rows = []
    for key, figure, target in (
        ("help", "`fluidstack --help` (wall time)", "< 250 ms"),
        ("list", f"`fluidstack instances list` of {counts.instances} (wall time)", "—"),
    ):
        row = Row(figure=figure, unit="ms", target=target, floor=floor, vendor_text="—")
        row.floor_text = f"{fmt(floor, 'ms')} (`python -c pass`)"
        if key in errors:
            row.ours_text = f"n/a ({errors[key]})"
        elif samples[key]:
            row.ours = median(samples[key])
            if key == "help":
                row.met = row.ours < 0.250
        row.samples = {key: samples[key], "floor": samples["floor"]}
        rows.append(row)
    return rows


def measure_atlas_sdk(
    counts: Counts, emulator: Emulator, project_id: str, ours_env: Dict[str, str]
) -> List[Row]:
    """The Atlas client against raw httpx with the same bearer token, same run."""
    log(f"Atlas instances.list() of {counts.instances}, sequential, keep-alive")
    workers = {
        "ours": Worker("atlas-ours", sys.executable, ours_env),
        "floor": Worker("atlas-floor", sys.executable),
    }
    rows: List[Row] = []
    errors: Dict[str, str] = {}
    try:
        for name, worker in workers.items():
            reply = worker.ask(op="atlas_setup", base_url=emulator.base_url, project_id=project_id)
            if not reply.get("ok"):
                errors[name] = str(reply.get("error"))[:160]
        samples: Dict[str, List[float]] = {k: [] for k in workers}
        _round_robin(
            {k: w for k, w in workers.items() if k not in errors},
            counts.list_rounds,
            lambda: {"op": "list", "n": counts.list_calls, "expect": counts.instances},
            lambda name, reply: samples[name].extend(reply["times"]),
            errors,
        )
        row = _sdk_row(
            f"Atlas `instances.list()` of {counts.instances} instances, sequential, keep-alive",
            f"≤ 1.25{X} floor",
            "ms",
            samples,
            errors,
            "no vendor Python SDK for Atlas",
        )
        row.floor_text = f"{fmt(row.floor, 'ms')} (httpx GET, same bearer header, `json.loads`)"
        row.vendor_text = "— (no vendor Python SDK)"
        if row.ratio is not None:
            row.met = row.ratio <= 1.25
        rows.append(row)

        log("Atlas requests per call with a cached token")
        calls = counts.list_calls * counts.list_rounds
        row = Row(
            figure=f"Atlas: requests per `instances.list()` once the token is cached ({calls} "
            "calls)",
            unit="requests",
            target="1.00 (no token or discovery request)",
            vendor_text="—",
        )
        reply = workers["ours"].ask(op="atlas_requests", n=calls)
        if not reply.get("ok"):
            row.ours_text = f"n/a ({reply.get('error')})"[:200]
        else:
            sent = reply["requests"]
            row.ours = len(sent) / calls
            row.floor = 1.0
            others = sorted({op for op in sent if op != "instances.list"})
            row.ours_text = f"{row.ours:.2f} ({len(sent)} requests)" + (
                f"; also {', '.join(others)}" if others else ""
            )
            row.floor_text = "1.00 (the call itself)"
            row.met = len(sent) == calls
            row.samples = {"requests": sent}
        rows.append(row)
    finally:
        for worker in workers.values():
            worker.close()
    return rows
