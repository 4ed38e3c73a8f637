"""The server-side rows of the benchmark table: the emulator's latency on a raw
keep-alive socket, Atlas's regional listing against the platform's, and the emulator at
scale (issue 15) and against a FastAPI hello-world returning the same bytes.

Each ``measure_*`` function takes the run's ``Counts`` and returns its ``Row`` (or rows);
``bench/run.py`` decides the order and prints the table.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from harness import (
    API_KEY,
    SSH_PUBLIC_KEY,
    WORKER,
    Emulator,
    FloorServer,
    RawConnection,
    log,
    median,
    percentile,
    rotations,
    run_json,
)
from table import MIB, Counts, Row, X, fmt


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
