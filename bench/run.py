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
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client_rows import (
    measure_async_aiohttp,
    measure_atlas_sdk,
    measure_cli,
    measure_hold_rss,
    measure_http,
    measure_imports,
    measure_list_instructions,
    measure_parse,
)
from emulator_rows import measure_atlas_listing, measure_emulator, measure_emulator_scale
from harness import (
    SCRATCH,
    Emulator,
    Worker,
    big_listing,
    ensure_vendor_python,
    log,
    machine,
)
from table import QUICK, Counts, Row, table


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
