"""Listing 10,000 instances page by page: time, and resident memory held (issue 24).

An emulator (in this process, on loopback) holds N running instances, served in pages of
100. Each sample is a fresh client process that lists them all and keeps the result:

- ``ours``: ``FluidStack(...).instances.iter()`` into a list of models;
- ``floor``: a bare ``httpx.Client`` GET of ``?page=1, 2, ...`` + ``json.loads`` of each
  body, until a page shorter than the first (the same requests ours sends), kept as
  a list of dicts.

Time is the listing's wall time, warm (as bench/run.py's workers): page 1 is read once
first, which opens the connection, and for ours does the lazy imports and builds the
validators; RSS is ``VmRSS``
after ``gc.collect()`` and ``malloc_trim(0)`` with the result held, minus the same
before the listing. Rounds alternate; medians and same-run ratios::

    python bench/listing_pages.py                # 10,000 instances, 5 rounds
    python bench/listing_pages.py --other-src /tmp/main-src   # + another src/, same rounds
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import time


def _rss() -> int:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # pragma: no cover - not glibc
        pass
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def run_impl(impl: str, base_url: str, api_key: str) -> dict:
    import httpx

    if impl == "floor":
        client = httpx.Client(base_url=base_url, headers={"api-key": api_key})
        json.loads(client.get("/instances", params={"page": 1}).content)  # warm-up
        before = _rss()
        started, cpu = time.perf_counter(), time.process_time()
        held: list = []
        page, first = 1, None
        while True:
            items = json.loads(client.get("/instances", params={"page": page}).content)
            held.extend(items)
            first = len(items) if first is None else first
            if not items or len(items) < first:
                break
            page += 1
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    else:
        import fluidstack

        client = fluidstack.FluidStack(api_key=api_key, base_url=base_url)
        client.instances.list(page=1)  # warm-up: lazy imports done, validators built
        before = _rss()
        started, cpu = time.perf_counter(), time.process_time()
        held = list(client.instances.iter())
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    after = _rss()
    return {"seconds": elapsed, "cpu": cpu, "rss": after - before, "count": len(held)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--other-src", help="also measure this copy of src/ (as 'other')")
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.impl:
        print(json.dumps(run_impl(args.impl, args.url, args.key)))
        return
    from fluidstack.emulator import EmulatorServer, EmulatorSettings
    from fluidstack.testing import EmulatorHandle

    settings = EmulatorSettings(
        port=0, manual_clock=True, seed=1, failure_rate=0.0, log_level="warning"
    )
    with EmulatorServer(settings) as server:
        handle = EmulatorHandle(server.base_url, server.api_key, control_token=server.control_token)
        handle.set_capacity("RTX_A4000_16GB", "NORWAY", args.count)
        handle.create_instances({"count": args.count, "gpu_type": "RTX_A4000_16GB"})
        impls = ["ours", "floor"] + (["other"] if args.other_src else [])
        samples: dict = {impl: [] for impl in impls}
        for r in range(args.rounds):
            for impl in impls[r % len(impls) :] + impls[: r % len(impls)]:
                env = {**os.environ}
                if impl == "other":
                    env["PYTHONPATH"] = os.path.abspath(args.other_src)
                out = subprocess.run(
                    [sys.executable, __file__, "--impl", "floor" if impl == "floor" else "ours",
                     "--url", server.base_url, "--key", server.api_key],
                    check=True, capture_output=True, text=True, env=env,
                )  # fmt: skip
                sample = json.loads(out.stdout.strip().splitlines()[-1])
                assert sample["count"] == args.count, sample
                samples[impl].append(sample)
                print(f"round {r + 1} {impl}: {sample}", file=sys.stderr)
    med = {
        impl: (
            statistics.median(s["seconds"] for s in v),
            statistics.median(s["rss"] for s in v),
        )
        for impl, v in samples.items()
    }
    # The client's CPU time (user + system of its process during the listing): on a
    # shared machine, steadier than the wall time, which also counts waits for a core.
    cpu = {impl: statistics.median(s["cpu"] for s in v) for impl, v in samples.items()}
    (ot, om), (ft, fm) = med["ours"], med["floor"]
    print(f"| listing {args.count:,} page by page | ours | floor | ratio |")
    print("|---|---|---|---|")
    print(f"| time | {ot * 1000:.0f} ms | {ft * 1000:.0f} ms | {ot / ft:.2f}x |")
    print(f"| RSS held | {om / 2**20:.1f} MiB | {fm / 2**20:.1f} MiB | {om / fm:.2f}x |")
    oc, fc = cpu["ours"], cpu["floor"]
    print(f"| client CPU time | {oc * 1000:.0f} ms | {fc * 1000:.0f} ms | {oc / fc:.2f}x |")
    if "other" in med:
        xt, xm = med["other"]
        print(f"| other src: time | {xt * 1000:.0f} ms | {ft * 1000:.0f} ms | {xt / ft:.2f}x |")
        mib = f"{xm / 2**20:.1f} MiB | {fm / 2**20:.1f} MiB"
        print(f"| other src: RSS held | {mib} | {xm / fm:.2f}x |")
        xc = cpu["other"]
        ms = f"{xc * 1000:.0f} ms | {fc * 1000:.0f} ms"
        print(f"| other src: client CPU time | {ms} | {xc / fc:.2f}x |")


if __name__ == "__main__":
    main()
