"""Benchmarks of the SDK, the CLI and the emulator: ``python bench/run.py``.

Starts the emulator in its own process on loopback, measures this project's SDK ("ours"),
the least a Python client on httpx can do ("floor") and the vendor SDK 0.0.8 ("vendor",
installed into ``.bench/vendor-venv``) in interleaved rounds, and prints one Markdown
table of medians and of ratios measured in the same run.

    python bench/run.py               # the full run, a few minutes
    python bench/run.py --quick       # tiny counts (the smoke test uses this)
    python bench/run.py --no-vendor   # skip the vendor SDK
    python bench/run.py --json out.json   # also write every sample

See docs/benchmarks.md for what each row measures and why its floor is the floor.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    API_KEY,
    SCRATCH,
    SSH_PUBLIC_KEY,
    WORKER,
    Emulator,
    FloorServer,
    RawConnection,
    Worker,
    big_listing,
    clean_env,
    ensure_lean_python,
    ensure_vendor_python,
    log,
    machine,
    median,
    percentile,
    rotations,
    run_json,
    wall_time,
)

MIB = 1024 * 1024
X = "\u00d7"  # the multiplication sign, in the table


@dataclass(frozen=True)
class Counts:
    imports: int = 15
    instances: int = 50
    list_rounds: int = 10
    list_calls: int = 20
    get_rounds: int = 10
    get_calls: int = 50
    async_rounds: int = 5
    async_total: int = 1000
    async_concurrency: int = 50
    parse_items: int = 10_000
    parse_rounds: int = 3
    parse_reps: int = 3
    parse_mem_runs: int = 2
    cli_runs: int = 12
    emulator_requests: int = 3000
    instr_calls: int = 50
    scale_instances: int = 100_000
    scale_small: int = 1_000
    scale_rounds: int = 6
    scale_creates: int = 100
    scale_pages: int = 100
    scale_walks: int = 3
    framework_requests: int = 500


QUICK = Counts(
    imports=2,
    instances=50,
    list_rounds=1,
    list_calls=3,
    get_rounds=1,
    get_calls=5,
    async_rounds=1,
    async_total=60,
    async_concurrency=10,
    parse_items=300,
    parse_rounds=1,
    parse_reps=1,
    parse_mem_runs=1,
    cli_runs=1,
    emulator_requests=100,
    scale_instances=2_000,
    scale_small=100,
    scale_rounds=2,
    scale_creates=20,
    scale_pages=20,
    scale_walks=1,
    framework_requests=50,
)


@dataclass
class Row:
    """One line of the table. Values are medians; ``None`` means not measured."""

    figure: str
    unit: str  # "ms", "req/s"
    target: str
    ours: Optional[float] = None
    floor: Optional[float] = None
    vendor: Optional[float] = None
    ours_text: str = ""
    floor_text: str = ""
    vendor_text: str = ""
    higher_is_better: bool = False
    met: Optional[bool] = None
    notes: List[str] = field(default_factory=list)
    samples: Dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> Optional[float]:
        """ours / floor (times), or ours / floor throughput."""
        if self.ours is None or not self.floor:
            return None
        return self.ours / self.floor

    @property
    def vendor_ratio(self) -> Optional[float]:
        """How many times faster than the vendor ours is (>1: faster)."""
        if self.ours is None or self.vendor is None or not self.ours:
            return None
        return self.ours / self.vendor if self.higher_is_better else self.vendor / self.ours


def fmt(value: Optional[float], unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        ms = value * 1000
        return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    return f"{value:.3g} {unit}"


def cell(row: Row, who: str) -> str:
    text = getattr(row, f"{who}_text")
    if text:
        return str(text)
    return fmt(getattr(row, who), row.unit)


# -- measurements -------------------------------------------------------------------------

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


def measure_emulator(counts: Counts, emulator: Emulator, instance_id: str) -> Row:
    log("emulator GET /instances/{id} latency (raw keep-alive socket)")
    row = Row(
        figure="emulator: `GET /instances/{id}` on keep-alive (p50, p99, req/s)",
        unit="ms",
        target="p50 ≤ 2 ms",
        floor_text="—",
        vendor_text="—",
    )
    try:
        result = run_json(
            [
                sys.executable,
                str(WORKER),
                "emulator-latency",
                emulator.base_url,
                emulator.api_key,
                f"/instances/{instance_id}",
                str(counts.emulator_requests),
            ]
        )
    except Exception as exc:
        row.ours_text = f"n/a ({exc})"
        return row
    times = result["times"]
    p50, p99 = median(times), percentile(times, 0.99)
    rate = len(times) / result["elapsed"]
    row.ours = p50
    row.ours_text = f"p50 {fmt(p50, 'ms')}, p99 {fmt(p99, 'ms')}, {rate:,.0f} req/s"
    row.met = p50 <= 0.002
    row.samples = {"p50": p50, "p99": p99, "rps": rate, "n": len(times)}
    return row


def measure_atlas_listing(
    counts: Counts, emulator: Emulator, token: str, project_id: str, instances: int
) -> Row:
    """Atlas's regional listing against the platform's, in the same server and run."""
    log("emulator Atlas GET /instances vs platform GET /instances (raw keep-alive socket)")
    row = Row(
        figure=f"emulator: Atlas `GET /regions/<r>/api/v1alpha1/instances` of {instances} "
        "on keep-alive (p50)",
        unit="ms",
        target=f"≤ 1.2{X} platform `GET /instances`",
        floor_text="—",
        vendor_text="—",
    )
    region = "/regions/eu-north-1/api/v1alpha1/instances"
    atlas_headers = f"authorization: Bearer {token}\nx-project-id: {project_id}"
    platform_headers = f"api-key: {emulator.api_key}"
    rounds = 6
    per_round = max(20, counts.emulator_requests // rounds)
    samples: Dict[str, List[float]] = {"atlas": [], "platform": []}
    try:
        for index in range(rounds):
            order = ["atlas", "platform"] if index % 2 == 0 else ["platform", "atlas"]
            for which in order:
                if which == "atlas":
                    headers, path = atlas_headers, region
                else:
                    headers, path = platform_headers, "/instances"
                result = run_json(
                    [sys.executable, str(WORKER), "raw-latency", emulator.base_url, headers, path,
                     str(per_round)]
                )  # fmt: skip
                samples[which].extend(result["times"])
    except Exception as exc:
        row.ours_text = f"n/a ({exc})"
        return row
    atlas, platform = median(samples["atlas"]), median(samples["platform"])
    row.ours, row.floor = atlas, platform
    row.ours_text = f"p50 {fmt(atlas, 'ms')}, p99 {fmt(percentile(samples['atlas'], 0.99), 'ms')}"
    row.floor_text = f"p50 {fmt(platform, 'ms')} (platform `GET /instances` of {instances})"
    row.met = atlas <= 1.2 * platform
    row.samples = {"atlas_p50": atlas, "platform_p50": platform, "n": len(samples["atlas"])}
    return row


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


SCALE_GPU = ("RTX_A4000_16GB", "NORWAY")
"""What the scale rows create: a one-GPU offer, in one region."""


def _seed(emulator: Emulator, api_key: str, count: int, notes: List[str]) -> None:
    """``count`` running instances for ``api_key``: one bulk control call, or (on code
    that has none, e.g. to measure the code before it) ``count`` creates."""
    gpu, region = SCALE_GPU
    if count <= 0:
        return
    try:
        emulator.control_call(
            "POST",
            "/instances",
            {"instances": [{"api_key": api_key, "count": count, "gpu_type": gpu,
                            "region": region}]},
        )  # fmt: skip
        return
    except RuntimeError as exc:
        if "Not Found" not in str(exc) and "not allowed" not in str(exc).lower():
            raise
    note = "seeded through POST /instances: this code has no bulk control call"
    if note not in notes:
        notes.append(note)
    conn = RawConnection(emulator.base_url, {"api-key": api_key})
    try:
        key = json.dumps({"name": "k", "public_key": SSH_PUBLIC_KEY}).encode()
        conn.request("POST", "/ssh_keys", key)
        body = json.dumps({"gpu_type": gpu, "ssh_key": "k", "region": region}).encode()
        for _ in range(count):
            status, content = conn.request("POST", "/instances", body)
            if status != 202:
                raise RuntimeError(f"seeding: POST /instances answered {status}: {content[:200]!r}")
    finally:
        conn.close()


def _walk(conn: RawConnection) -> Tuple[float, int]:
    """Every page of ``GET /instances``, in order: seconds and pages."""
    started = time.perf_counter()
    page = 1
    while True:
        status, content = conn.request("GET", f"/instances?page={page}")
        if status != 200:
            raise RuntimeError(f"GET /instances?page={page} answered {status}")
        if content == b"[]":
            return time.perf_counter() - started, page - 1
        page += 1


def _fresh_account(emulator: Emulator, conn: RawConnection) -> None:
    """The default account without instances, with its SSH key ``k``."""
    emulator.control_call("POST", "/reset", {"api_key": API_KEY})
    key = json.dumps({"name": "k", "public_key": SSH_PUBLIC_KEY}).encode()
    status, _ = conn.request("POST", "/ssh_keys", key)
    if status != 200:
        raise RuntimeError(f"POST /ssh_keys answered {status}")


def measure_emulator_scale(counts: Counts, ours_env: Dict[str, str]) -> List[Row]:
    """The emulator at scale (issue 15): two emulator processes, one holding
    ``scale_instances`` instances and one (nearly) empty, measured in alternating rounds;
    then the framework rows against a FastAPI hello-world returning the same bytes."""
    big, small = counts.scale_instances, counts.scale_small
    log(f"emulator at scale: seeding {big:,} + {small:,} instances")
    gpu, region = SCALE_GPU
    rows: List[Row] = []
    notes: List[str] = []
    empty = Emulator(env=ours_env, log_name="emulator-empty.log")
    full = Emulator(env=ours_env, log_name="emulator-full.log")
    conns: List[RawConnection] = []
    floor: Optional[FloorServer] = None

    def conn(emulator_or_url: Any, key: Optional[str] = API_KEY) -> RawConnection:
        url = emulator_or_url if isinstance(emulator_or_url, str) else emulator_or_url.base_url
        made = RawConnection(url, {"api-key": key} if key else {})
        conns.append(made)
        return made

    try:
        for emulator in (empty, full):
            emulator.control_call(
                "PUT", "/capacity", {"gpu_type": gpu, "region": region, "gpus": 1_000_000}
            )
        full.control_call("POST", "/accounts", {"api_key": "bench-small"})
        empty.control_call("POST", "/accounts", {"api_key": "bench-list"})
        rss_before = full.rss()
        started = time.perf_counter()
        _seed(full, API_KEY, big, notes)
        seeded_in = time.perf_counter() - started
        _seed(full, "bench-small", small, notes)
        _seed(empty, "bench-list", 2, notes)
        rss_seeded = full.rss()
        post = json.dumps({"gpu_type": gpu, "ssh_key": "k", "region": region}).encode()

        # 1. POST /instances at `big` existing instances vs on an empty store.
        full_conn, empty_conn = conn(full), conn(empty)
        key = json.dumps({"name": "k", "public_key": SSH_PUBLIC_KEY}).encode()
        full_conn.request("POST", "/ssh_keys", key)
        creates: Dict[str, List[float]] = {"full": [], "empty": []}
        for i in range(counts.scale_rounds):
            for name in rotations(["full", "empty"], i):
                if name == "empty":
                    _fresh_account(empty, empty_conn)
                    creates[name] += empty_conn.timed("POST", "/instances", post,
                                                      counts.scale_creates, 202)  # fmt: skip
                else:
                    creates[name] += full_conn.timed("POST", "/instances", post,
                                                     counts.scale_creates, 202)  # fmt: skip
        row = Row(
            figure=f"emulator: `POST /instances` p50 at {big:,} existing instances "
            f"(floor: on an empty store; {len(creates['full'])} creates each)",
            unit="ms",
            target=f"≤ 1.5{X} floor",
            ours=median(creates["full"]),
            floor=median(creates["empty"]),
            vendor_text="—",
        )
        row.met = row.ratio is not None and row.ratio <= 1.5
        row.floor_text = f"{fmt(row.floor, 'ms')} (empty store)"
        row.samples = creates
        row.notes += notes
        rows.append(row)

        # 2. Page 1 against the last page of the same account.
        listed = big + counts.scale_rounds * counts.scale_creates
        last = math.ceil(listed / 100)
        pages: Dict[str, List[float]] = {"first": [], "last": []}
        for i in range(counts.scale_rounds):
            for name in rotations(["first", "last"], i):
                path = f"/instances?page={1 if name == 'first' else last}"
                pages[name] += full_conn.timed("GET", path, b"", counts.scale_pages, 200)
        row = Row(
            figure=f"emulator: `GET /instances?page={last}` (the last page) at {listed:,} "
            "instances, p50",
            unit="ms",
            target=f"≤ 1.5{X} page 1",
            ours=median(pages["last"]),
            floor=median(pages["first"]),
            vendor_text="—",
        )
        row.floor_text = f"{fmt(row.floor, 'ms')} (page 1)"
        row.met = row.ratio is not None and row.ratio <= 1.5
        row.samples = pages
        rows.append(row)

        # 3. Every page, per instance: `big` against `small` (after one warm-up walk each).
        small_conn = conn(full, "bench-small")
        walks: Dict[str, List[float]] = {"big": [], "small": []}
        sizes = {"big": listed, "small": small}
        walkers = {"big": full_conn, "small": small_conn}
        for name in ("big", "small"):
            _walk(walkers[name])
        for i in range(counts.scale_walks):
            for name in rotations(["big", "small"], i):
                seconds, _ = _walk(walkers[name])
                walks[name].append(seconds / sizes[name])
        row = Row(
            figure=f"emulator: every page of `GET /instances`, per instance, at {listed:,} "
            "instances",
            unit="ms",
            target=f"≤ 1.3{X} floor",
            ours=median(walks["big"]),
            floor=median(walks["small"]),
            vendor_text="—",
        )
        row.ours_text = f"{row.ours * 1e6:.2f} µs" if row.ours is not None else ""
        row.floor_text = (
            f"{row.floor * 1e6:.2f} µs (at {small:,} instances)" if row.floor is not None else ""
        )
        row.met = row.ratio is not None and row.ratio <= 1.3
        row.samples = walks
        rows.append(row)

        # 4. Resident memory.
        rss_listed = full.rss()
        row = Row(
            figure=f"emulator: RSS at {big + small:,} instances (seeded; after listing them all)",
            unit="MiB",
            target="reported",
            ours=rss_listed / MIB,
            floor=rss_before / MIB,
            vendor_text="—",
        )
        row.ours_text = (
            f"{rss_seeded / MIB:.0f} MiB seeded; {rss_listed / MIB:.0f} MiB after listing "
            f"(seeding took {seeded_in:.1f} s)"
        )
        row.floor_text = f"{rss_before / MIB:.0f} MiB (before seeding)"
        row.samples = {"before": rss_before, "seeded": rss_seeded, "listed": rss_listed}
        rows.append(row)
    finally:
        for made in conns:
            made.close()
        conns.clear()
        full.stop()

    # 5, 6. Framework overhead against a FastAPI hello-world answering the same bytes.
    try:
        log("emulator vs a FastAPI hello-world returning the same bytes")
        list_conn = conn(empty, "bench-list")
        _, get_body = list_conn.request("GET", "/instances")
        create_conn = conn(empty)
        _fresh_account(empty, create_conn)
        status, post_body = create_conn.request("POST", "/instances", post)
        if status != 202:
            raise RuntimeError(f"POST /instances answered {status}")
        floor = FloorServer(get_body, post_body)
        floor_conn = conn(floor.base_url, None)
        n = counts.framework_requests
        for method, ok in (("GET", 200), ("POST", 202)):
            rates: Dict[str, List[float]] = {"ours": [], "floor": []}
            body = post if method == "POST" else b""
            ours_conn = list_conn if method == "GET" else create_conn
            ours_conn.timed(method, "/instances", body, min(50, n), ok)  # warm-up
            floor_conn.timed(method, "/instances", body, min(50, n), ok)
            for i in range(counts.scale_rounds):
                for name in rotations(["ours", "floor"], i):
                    if name == "ours":
                        if method == "POST":
                            _fresh_account(empty, create_conn)
                        times = ours_conn.timed(method, "/instances", body, n, ok)
                    else:
                        times = floor_conn.timed(method, "/instances", body, n, ok)
                    rates[name].append(len(times) / sum(times))
            what = (
                f"a small `GET /instances` ({len(get_body):,} bytes)"
                if method == "GET"
                else "`POST /instances` (a create, 202)"
            )
            row = Row(
                figure=f"emulator: {what}, sequential keep-alive (throughput)",
                unit="req/s",
                target=f"≥ 0.85{X} floor",
                ours=median(rates["ours"]),
                floor=median(rates["floor"]),
                vendor_text="—",
                higher_is_better=True,
            )
            row.floor_text = f"{fmt(row.floor, 'req/s')} (FastAPI hello-world, same bytes)"
            row.met = row.ratio is not None and row.ratio >= 0.85
            row.samples = rates
            rows.append(row)
    finally:
        for made in conns:
            made.close()
        if floor is not None:
            floor.stop()
        empty.stop()
    return rows


# -- the table ------------------------------------------------------------------------------


def ratio_text(row: Row) -> str:
    ratio = row.ratio
    if ratio is None:
        return "—"
    return f"{ratio:.2f}{X}"


def vendor_ratio_text(row: Row) -> str:
    ratio = row.vendor_ratio
    if ratio is None:
        return "—"
    return f"{ratio:.2f}{X}"


def verdict(row: Row) -> str:
    if row.met is None:
        return "—"
    return "met" if row.met else "**missed**"


def table(rows: List[Row]) -> str:
    head = [
        "figure",
        "ours",
        "floor (same run)",
        "vendor 0.0.8 (same run)",
        "ours / floor",
        "ours faster than 0.0.8",
        "target",
        "status",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [
            row.figure,
            cell(row, "ours"),
            cell(row, "floor"),
            cell(row, "vendor"),
            ratio_text(row),
            vendor_ratio_text(row),
            row.target,
            verdict(row),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts (smoke test)")
    parser.add_argument("--no-vendor", action="store_true", help="skip the vendor SDK 0.0.8")
    parser.add_argument("--json", metavar="PATH", help="also write every sample as JSON")
    parser.add_argument(
        "--ours-src",
        metavar="DIR",
        help="measure the fluidstack package found in DIR (a patched copy of src/) instead "
        "of the installed one; used to try a fix before proposing it",
    )
    parser.add_argument(
        "--scale",
        metavar="N",
        type=int,
        help="instances of the emulator's scale rows (default 100,000; 2,000 with --quick)",
    )
    parser.add_argument(
        "--only-scale",
        action="store_true",
        help="only the emulator's scale and framework rows (issue 15)",
    )
    args = parser.parse_args(argv)
    ours_env: Dict[str, str] = {}
    if args.ours_src:
        ours_env["PYTHONPATH"] = str(Path(args.ours_src).resolve())
    counts = QUICK if args.quick else Counts()
    if args.scale:
        counts = replace(counts, scale_instances=args.scale)

    try:
        import fluidstack  # noqa: F401 - fail early, in the interpreter that runs this
    except ImportError:
        print(
            "bench/run.py needs the project's interpreter: .venv/bin/python bench/run.py",
            file=sys.stderr,
        )
        return 2

    SCRATCH.mkdir(exist_ok=True)
    vendor_py: Optional[str] = None
    if args.no_vendor:
        vendor_why = "--no-vendor"
    else:
        found, vendor_why = ensure_vendor_python()
        vendor_py = str(found) if found is not None else None
        if vendor_py is None:
            log(f"vendor SDK unavailable: {vendor_why}")

    info = machine()
    log(f"{info['cpu']}, {info['nproc']} CPUs, Python {info['python']}")
    rows: List[Row] = []
    if not args.only_scale:
        rows.extend(
            measure_imports(
                counts, sys.executable, vendor_py, vendor_why, ours_env, lean_env=not args.quick
            )
        )

        emulator = Emulator(env=ours_env)
        workers: Dict[str, Worker] = {}
        try:
            log(f"emulator at {emulator.base_url}; seeding {counts.instances} instances")
            ids = emulator.seed(counts.instances)
            listing_path = SCRATCH / f"listing-{counts.parse_items}.json"
            listing_path.write_bytes(big_listing(emulator.listing_bytes(), counts.parse_items))

            pythons = {"ours": sys.executable, "floor": sys.executable}
            if vendor_py:
                pythons["vendor"] = vendor_py
            for name, python in pythons.items():
                workers[name] = Worker(name, python, ours_env if name == "ours" else None)
            setup_errors: Dict[str, str] = {}
            for name, worker in workers.items():
                reply = worker.ask(
                    op="setup", base_url=emulator.base_url, api_key=emulator.api_key, ids=ids
                )
                if not reply.get("ok"):
                    setup_errors[name] = str(reply.get("error"))[:160]
            for name, why in setup_errors.items():
                log(f"{name} worker failed to set up: {why}")
                workers.pop(name).close()
                if name == "vendor":
                    vendor_why = why

            rows.extend(measure_http(counts, workers, ids, vendor_why))
            rows.append(measure_async_aiohttp(counts, workers, ids, emulator, ours_env))
            rows.append(measure_parse(counts, workers, pythons, listing_path, vendor_why, ours_env))
            rows.append(measure_hold_rss(counts, pythons, listing_path, vendor_why, ours_env))
            for worker in workers.values():
                worker.close()
            workers.clear()
            rows.extend(measure_cli(counts, emulator, ours_env))
            rows.append(
                measure_list_instructions(
                    counts, emulator, ours_env, skip="--quick" if args.quick else None
                )
            )
            rows.append(measure_emulator(counts, emulator, ids[0]))
            token, project_id = emulator.seed_atlas(counts.instances)
            rows.extend(measure_atlas_sdk(counts, emulator, project_id, ours_env))
            rows.append(
                measure_atlas_listing(counts, emulator, token, project_id, counts.instances)
            )
        finally:
            for worker in workers.values():
                worker.close()
            emulator.stop()
    rows.extend(measure_emulator_scale(counts, ours_env))

    print()
    print(
        f"Machine: {info['cpu']}, {info['nproc']} CPUs; Python {info['python']}; "
        f"{info['platform']}; {info['date']}"
        + ("; QUICK counts" if args.quick else "")
        + (f"; ours from {args.ours_src}" if args.ours_src else "")
    )
    print()
    print(table(rows))
    notes = [f"- {row.figure}: {note}" for row in rows for note in row.notes]
    if notes:
        print()
        print("Notes:")
        print("\n".join(notes))
    missed = [row.figure for row in rows if row.met is False]
    print()
    print(f"Targets met: {sum(row.met is True for row in rows)}; missed: {len(missed)}")
    if args.json:
        payload = {
            "machine": info,
            "counts": asdict(counts),
            "vendor": vendor_why if vendor_py is None else "ok",
            "ours_src": args.ours_src,
            "rows": [
                {
                    **asdict(row),
                    "ratio": row.ratio,
                    "vendor_ratio": row.vendor_ratio,
                }
                for row in rows
            ],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
