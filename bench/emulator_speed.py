"""The emulator rows of issue 24: ``python bench/emulator_speed.py [--scale 100000]``.

1. Atlas ``POST /instances`` p50 with ``--scale`` instances in the region against an
   empty emulator: two emulator processes measured in alternating rounds. The big world
   is made in one ``PUT /_emulator/state``: one instance is created through the API,
   the snapshot's record of it is copied ``--scale`` times (fresh ids, running), and the
   snapshot is restored: seconds, where 100,000 HTTP creates would take minutes.
2. ``POST /instances`` throughput of each API against the FastAPI floor
   (``bench/floor_app.py`` answering the emulator's own create bytes), with 1 and with
   16 keep-alive connections: alternating rounds of ``--requests`` creates each.

Every figure is a median over ``--rounds`` rounds, and each ratio is taken within one run
(the machine is shared: absolute numbers move between runs, ratios much less).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    API_KEY,
    SCRATCH,
    Emulator,
    FloorServer,
    RawConnection,
    log,
    median,
    percentile,
    rotations,
)

REGION = "eu-north-1"
ATLAS_TYPE = "cpu.2x"
API = f"/regions/{REGION}/api/v1alpha1"
ATLAS_POST = json.dumps({"name": "bench", "type": ATLAS_TYPE}).encode()
X = "\u00d7"


# -- the Atlas side ----------------------------------------------------------------------


def atlas_session(emulator: Emulator, capacity: int) -> Tuple[Dict[str, str], str]:
    """A bearer token of the development organization, a project in ``REGION`` and room
    for ``capacity`` instances: ``(headers for the regional API, project id)``."""
    import httpx

    token, project_id = emulator.seed_atlas(0, REGION)
    httpx.put(
        f"{emulator.base_url}/_emulator/atlas/capacity",
        json={"region": REGION, "instance_type": ATLAS_TYPE, "total": capacity},
        headers=emulator.control,
    ).raise_for_status()
    return {"authorization": f"Bearer {token}", "x-project-id": project_id}, project_id


def atlas_world(emulator: Emulator, count: int) -> Tuple[Dict[str, str], float]:
    """Fill one project of ``REGION`` with ``count`` running instances through one
    snapshot restore: its headers (as :func:`atlas_session`) and the seconds the restore
    took."""
    import httpx

    headers, _ = atlas_session(emulator, 1_000_000)
    with httpx.Client(base_url=emulator.base_url, timeout=600) as http:
        made = http.post(f"{API}/instances", json={"name": "model", "type": ATLAS_TYPE},
                         headers=headers)  # fmt: skip
        made.raise_for_status()
        snapshot = http.get(
            "/_emulator/state", params={"secrets": "true"}, headers=emulator.control
        ).json()
        atlas = snapshot["apis"]["atlas"]
        model = atlas["instance"][made.json()["id"]]
        seq = int(atlas["meta"]["seq"]["seq"])
        for n in range(count):
            instance_id = str(uuid.uuid4())
            atlas["instance"][instance_id] = {
                **model,
                "id": instance_id,
                "seq": seq + n + 1,
                "name": f"bench-{n}",
                "segments": [["creating", -200.0], ["starting", -180.0], ["running", -140.0]],
            }
        atlas["meta"]["seq"] = {"seq": seq + count + 1}
        body = json.dumps(snapshot).encode()
        started = time.perf_counter()
        http.put(
            "/_emulator/state",
            content=body,
            headers={**emulator.control, "content-type": "application/json"},
        ).raise_for_status()
        return headers, time.perf_counter() - started


def atlas_create_at_scale(
    scale: int, rounds: int, creates: int, env: Dict[str, str]
) -> Tuple[Dict[str, List[float]], float]:
    """Create times (seconds) in an emulator holding ``scale`` instances and in an empty
    one, alternating; and how long the big world's restore took."""
    full = Emulator(env=env, log_name="emulator-full.log")
    empty = Emulator(env=env, log_name="emulator-empty.log")
    conns: List[RawConnection] = []
    try:
        log(f"Atlas: restoring a world of {scale:,} instances")
        full_headers, restore = atlas_world(full, scale)
        empty_headers, _ = atlas_session(empty, 1_000_000)
        pairs = {
            "full": RawConnection(full.base_url, full_headers),
            "empty": RawConnection(empty.base_url, empty_headers),
        }
        conns.extend(pairs.values())
        for conn in pairs.values():  # warm-up
            conn.timed("POST", f"{API}/instances", ATLAS_POST, min(20, creates), 201)
        times: Dict[str, List[float]] = {"full": [], "empty": []}
        for i in range(rounds):
            for name in rotations(["full", "empty"], i):
                times[name] += pairs[name].timed("POST", f"{API}/instances", ATLAS_POST,
                                                 creates, 201)  # fmt: skip
        return times, restore
    finally:
        for conn in conns:
            conn.close()
        full.stop()
        empty.stop()


# -- POST /instances against the floor ------------------------------------------------------


async def _load(base_url: str, head: bytes, connections: int, total: int, ok: int) -> float:
    """``total`` requests (``head`` is the whole request) over ``connections`` keep-alive
    connections, each sending its next request when the last answer is in: requests a
    second."""
    parts = urlsplit(base_url)
    streams = [
        await asyncio.open_connection(parts.hostname, parts.port) for _ in range(connections)
    ]
    share = [
        total // connections + (1 if i < total % connections else 0) for i in range(connections)
    ]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        for _ in range(n):
            writer.write(head)
            answer = await reader.readuntil(b"\r\n\r\n")
            status = int(answer[9:12])
            length = 0
            for line in answer.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            content = await reader.readexactly(length)
            if status != ok:
                raise RuntimeError(f"answered {status}: {content[:200]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(one(r, w, n) for (r, w), n in zip(streams, share)))
    elapsed = time.perf_counter() - started
    for _, writer in streams:
        writer.close()
    return total / elapsed


def request_bytes(base_url: str, path: str, headers: Dict[str, str], body: bytes) -> bytes:
    host = urlsplit(base_url).netloc
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{head}accept: application/json\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode("latin-1") + body


def throughput(base_url: str, head: bytes, connections: int, total: int, ok: int) -> float:
    return asyncio.run(_load(base_url, head, connections, total, ok))


def post_against_floor(
    rounds: int, requests: int, connections: List[int], env: Dict[str, str]
) -> Dict[str, Dict[str, List[float]]]:
    """Requests a second of ``POST /instances``, ours and the floor's, for each API and
    number of connections: ``{"platform 1": {"ours": [...], "floor": [...]}, ...}``."""
    emulator = Emulator(env=env, log_name="emulator-post.log")
    results: Dict[str, Dict[str, List[float]]] = {}
    try:
        for api, (ours_head, answer, status) in _post_sides(emulator).items():
            results.update(
                _against_floor(api, emulator, ours_head, answer, status, rounds, requests,
                               connections)
            )  # fmt: skip
    finally:
        emulator.stop()
    return results


def _post_sides(emulator: Emulator) -> Dict[str, Tuple[bytes, bytes, int]]:
    """Each API's ``POST /instances`` on ``emulator``: ``{api: (the whole request, the
    answer's body, its status)}`` (the floor app answers that body)."""
    import httpx

    ids = emulator.seed(1)  # an ssh key "k" and one instance, whose offer we reuse
    with httpx.Client(base_url=emulator.base_url, headers={"api-key": API_KEY}) as http:
        made = http.get(f"/instances/{ids[0]}").json()
        gpu_type = made["configuration"]["gpu_model"]["name"]
        region = made["configuration"]["region"]
        http.put(
            "/_emulator/capacity",
            json={"gpu_type": gpu_type, "region": region, "gpus": 1_000_000},
            headers=emulator.control,
        ).raise_for_status()
        post = json.dumps({"gpu_type": gpu_type, "ssh_key": "k", "region": region}).encode()
        platform_answer = http.post("/instances", content=post,
                                    headers={"content-type": "application/json"})  # fmt: skip
        platform_answer.raise_for_status()
    atlas_headers, _ = atlas_session(emulator, 1_000_000)
    with httpx.Client(base_url=emulator.base_url, headers=atlas_headers) as http:
        atlas_answer = http.post(f"{API}/instances", content=ATLAS_POST,
                                 headers={"content-type": "application/json"})  # fmt: skip
        atlas_answer.raise_for_status()
    return {
        "platform": (
            request_bytes(emulator.base_url, "/instances", {"api-key": API_KEY}, post),
            platform_answer.content,
            202,
        ),
        "atlas": (
            request_bytes(emulator.base_url, f"{API}/instances", atlas_headers, ATLAS_POST),
            atlas_answer.content,
            201,
        ),
    }


# -- the same, counted in instructions (callgrind) ---------------------------------------


@contextlib.contextmanager
def _python(executable: str) -> Iterator[None]:
    """``sys.executable`` as ``executable`` meanwhile: what ``FloorServer`` starts."""
    real = sys.executable
    sys.executable = executable
    try:
        yield
    finally:
        sys.executable = real


def _callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, check=False)


def _instructions(
    pid: int, url: str, head: bytes, connections: int, total: int, ok: int, keep: str
) -> float:
    """Instructions the server ``pid`` (under callgrind) ran per request, over ``total``.
    The dump is kept as ``.bench/callgrind-<keep>.out`` for ``callgrind_annotate``."""
    for old in SCRATCH.glob(f"callgrind.{pid}.*"):
        old.unlink()
    _callgrind(pid, "--zero")
    throughput(url, head, connections, total, ok)
    _callgrind(pid, "--dump")
    for _ in range(100):
        for dump in SCRATCH.glob(f"callgrind.{pid}.*"):
            for line in dump.read_text().splitlines():
                if line.startswith(("summary:", "totals:")):
                    dump.replace(SCRATCH / f"callgrind-{keep}.out")
                    return int(line.split()[1]) / total
        time.sleep(0.1)
    raise RuntimeError(f"callgrind wrote no dump for process {pid}")


def instructions_against_floor(
    requests: int, connections: List[int], env: Dict[str, str]
) -> Dict[str, Dict[str, float]]:
    """Server instructions per ``POST /instances``, ours and the floor's, with both
    servers under callgrind (user-space instructions: deterministic, where CPU time on a
    shared machine is not; cache misses and the kernel are not counted):
    ``{"platform 1": {"ours": n, "floor": n}, ...}``."""
    SCRATCH.mkdir(exist_ok=True)
    wrapper = SCRATCH / "callgrind-python"
    wrapper.write_text(
        "#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no "
        f'--callgrind-out-file={SCRATCH}/callgrind.%p {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    emulator = Emulator(python=str(wrapper), env=env, log_name="emulator-callgrind.log")
    results: Dict[str, Dict[str, float]] = {}
    try:
        for api, (ours_head, answer, status) in _post_sides(emulator).items():
            with _python(str(wrapper)):
                floor = FloorServer(b"[]", answer)
            try:
                body = ours_head.split(b"\r\n\r\n", 1)[1]
                floor_head = request_bytes(floor.base_url, "/instances", {}, body)
                sides = {
                    "ours": (emulator.process.pid, emulator.base_url, ours_head, status),
                    "floor": (floor.process.pid, floor.base_url, floor_head, 202),
                }
                for pid, *_ in sides.values():
                    _callgrind(pid, "--instr=on")
                for c in connections:
                    log(f"{api} POST /instances with {c} connection(s), under callgrind")
                    counted: Dict[str, float] = {}
                    for name, (pid, url, head, ok) in sides.items():
                        throughput(url, head, c, max(100, requests // 2), ok)  # warm-up
                        counted[name] = _instructions(
                            pid, url, head, c, requests, ok, f"{api}-{c}-{name}"
                        )
                    results[f"{api} {c}"] = counted
            finally:
                floor.stop()
    finally:
        emulator.stop()
    return results


def _cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _against_floor(
    api: str,
    emulator: Emulator,
    ours_head: bytes,
    answer: bytes,
    status: int,
    rounds: int,
    requests: int,
    connections: List[int],
) -> Dict[str, Dict[str, List[float]]]:
    """One API's rounds against a floor app answering ``answer`` to every POST: requests
    a second, and (``"... cpu"``) the server's CPU seconds per request."""
    floor = FloorServer(b"[]", answer)
    results: Dict[str, Dict[str, List[float]]] = {}
    try:
        body = ours_head.split(b"\r\n\r\n", 1)[1]
        urls = {"ours": emulator.base_url, "floor": floor.base_url}
        pids = {"ours": emulator.process.pid, "floor": floor.process.pid}
        heads = {"ours": ours_head, "floor": request_bytes(floor.base_url, "/instances", {}, body)}
        oks = {"ours": status, "floor": 202}
        for c in connections:
            log(f"{api} POST /instances with {c} connection(s)")
            for name in ("ours", "floor"):  # warm-up
                throughput(urls[name], heads[name], c, requests, oks[name])
            rates: Dict[str, List[float]] = {"ours": [], "floor": []}
            cpu: Dict[str, List[float]] = {"ours": [], "floor": []}
            for i in range(rounds):
                for name in rotations(["ours", "floor"], i):
                    before = _cpu_seconds(pids[name])
                    rates[name].append(throughput(urls[name], heads[name], c, requests, oks[name]))
                    cpu[name].append((_cpu_seconds(pids[name]) - before) / requests)
            results[f"{api} {c}"] = rates
            results[f"{api} {c} cpu"] = cpu
    finally:
        floor.stop()
    return results


# -- the table ---------------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=100_000, help="Atlas instances (100,000)")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds (6)")
    parser.add_argument("--creates", type=int, default=100, help="creates a round at scale")
    parser.add_argument("--requests", type=int, default=1000, help="POSTs a throughput round")
    parser.add_argument("--only", choices=["scale", "post"], help="one half only")
    parser.add_argument(
        "--callgrind", action="store_true",
        help="POST rows only, as server instructions per request with both servers under "
        "valgrind's callgrind (deterministic; slow to start)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny counts (smoke test)")
    parser.add_argument("--json", metavar="PATH", help="also write every sample as JSON")
    parser.add_argument(
        "--ours-src", metavar="DIR", help="run the emulator from DIR (another src/): before/after"
    )
    args = parser.parse_args(argv)
    env = {"PYTHONPATH": str(Path(args.ours_src).resolve())} if args.ours_src else {}
    if args.quick:
        args.scale, args.rounds, args.creates, args.requests = 2_000, 2, 10, 40
    rows: List[Tuple[str, str, str, float, str]] = []
    dump: Dict[str, Any] = {"args": vars(args)}
    if args.callgrind:
        counts = instructions_against_floor(args.requests // 2, [1, 16], env)
        dump["callgrind"] = counts
        print("\n| server instructions per `POST /instances` | ours | floor | ratio |")
        print("|---|---|---|---|")
        for key, pair in counts.items():
            api, connections = key.split()
            ours, floor = pair["ours"] / 1e3, pair["floor"] / 1e3
            print(f"| {api}, {connections} connection(s) | {ours:,.1f}k | {floor:,.1f}k | "
                  f"{ours / floor:.3f}{X} |")  # fmt: skip
        if args.json:
            Path(args.json).write_text(json.dumps(dump, indent=2))
        return 0
    if args.only != "post":
        times, restore = atlas_create_at_scale(args.scale, args.rounds, args.creates, env)
        dump["atlas_create"] = times
        full, empty = median(times["full"]), median(times["empty"])
        rows.append((
            f"Atlas `POST /instances` p50 with {args.scale:,} instances in the region "
            f"({len(times['full'])} creates each; world restored in {restore:.1f} s)",
            f"{full * 1e3:.3f} ms (p90 {percentile(times['full'], 0.9) * 1e3:.3f})",
            f"{empty * 1e3:.3f} ms (empty emulator)",
            full / empty,
            f"≤ 1.5{X}",
        ))  # fmt: skip
    if args.only != "scale":
        results = post_against_floor(args.rounds, args.requests, [1, 16], env)
        dump["post"] = results
        for key, rates in results.items():
            if key.endswith(" cpu"):
                continue
            api, connections = key.split()
            ours, floor = median(rates["ours"]), median(rates["floor"])
            cpu = results[f"{key} cpu"]
            cpu_ours, cpu_floor = median(cpu["ours"]) * 1e6, median(cpu["floor"]) * 1e6
            rows.append((
                f"{api} `POST /instances`, {connections} keep-alive connection(s), "
                f"{args.requests:,} a round (throughput)",
                f"{ours:,.0f} req/s ({cpu_ours:.0f} µs server CPU a request)",
                f"{floor:,.0f} req/s ({cpu_floor:.0f} µs; FastAPI hello-world, same answer)",
                ours / floor,
                f"≥ 0.85{X}",
            ))  # fmt: skip
    print()
    print("| figure | ours | floor (same run) | ratio | target |\n|---|---|---|---|---|")
    for figure, ours_text, floor_text, ratio, target in rows:
        print(f"| {figure} | {ours_text} | {floor_text} | {ratio:.2f}{X} | {target} |")
    if args.json:
        Path(args.json).write_text(json.dumps(dump, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
