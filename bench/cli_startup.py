"""Start-up costs: the CLI's `instances list` and the SDK's imports, against raw scripts.

Every sample is a fresh process (what a person typing a command, or a serverless cold
start, pays), timed from spawn to exit. Rows, each with its floor in the same rounds:

- ``fluidstack instances list`` (50 instances, a table) against a raw httpx script that
  sends the same ``GET /instances`` and prints the JSON;
- ``fluidstack atlas instances list`` (50 instances, logged in with client credentials,
  token and region URL kept in the profile by an earlier command) against a raw httpx
  script sending the same bearer ``GET`` and printing the JSON;
- ``from fluidstack import FluidStack`` and ``from fluidstack.atlas import Atlas``
  against ``import httpx, pydantic`` (in-process ``perf_counter``, as bench/run.py).

The CLI rows run in ``.bench/cli-venv`` (this project with the ``[cli]`` extra and
nothing else, as ``pip install 'fluidstack[cli]'`` leaves a user); the import rows in
``.bench/lean-venv`` (run-time dependencies only). The development environment is not
used for either: it has trio, which httpcore imports when it is installed, and httpx's
own CLI dependencies. The emulator runs in its own process on loopback.

``--ours-src DIR`` adds a column for another copy of ``src/`` (e.g. main's, from
``git archive main src | tar -x -C DIR``) measured in the same alternating rounds::

    python bench/cli_startup.py                       # 8 rounds
    python bench/cli_startup.py --rounds 12 --ours-src /tmp/main-src
    python bench/cli_startup.py --rounds 6 --ours-src /tmp/main-src --instructions

``--instructions`` adds, after the rounds, each CLI row's instructions in one run under
``valgrind --tool=callgrind`` (``PYTHONHASHSEED=0``): a figure the machine's load does
not move. (Under callgrind a run takes ~50x longer, so the CLI's 2-second deferral of
the garbage collector, ``fluidstack.cli.collector``, ends during the run and ~45 M
instructions of collections are counted that a real run does not make, in every
version's column alike.)

``--steps DIR [DIR ...]`` counts, instead of everything above, each CLI row's
instructions for each of several copies of ``src/`` (e.g. one per commit, from ``git
archive COMMIT src``) against one emulator, ``--step-runs`` times each in alternation,
and prints the medians: the figures of a per-commit table. Counts of one copy against one
emulator repeat within ~0.5 M, but another session (other ids and tokens) or a change
off the command's path moves them by a few M (where the collector runs), so the copies
are compared in one session::

    python bench/cli_startup.py --steps /tmp/main/src /tmp/step1/src --step-runs 3
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    ROOT,
    SCRATCH,
    Emulator,
    clean_env,
    ensure_lean_python,
    log,
    median,
    rotations,
)

CLI_VENV = SCRATCH / "cli-venv"
INSTANCES = 50
IMPORT_CODE = (
    "import time; t, c = time.perf_counter(), time.process_time(); {stmt}; "
    "print(time.perf_counter() - t, time.process_time() - c)"
)

RAW_PLATFORM = """\
import json, os, sys, httpx
r = httpx.get(os.environ["FLUIDSTACK_BASE_URL"] + "/instances",
              headers={"api-key": os.environ["FLUIDSTACK_API_KEY"]})
r.raise_for_status()
sys.stdout.write(json.dumps(r.json(), indent=2) + "\\n")
"""

RAW_ATLAS = """\
import json, os, sys, httpx
r = httpx.get(os.environ["RAW_URL"], headers={
    "authorization": "Bearer " + os.environ["RAW_TOKEN"],
    "x-project-id": os.environ["RAW_PROJECT"]})
r.raise_for_status()
sys.stdout.write(json.dumps(r.json(), indent=2) + "\\n")
"""


def ensure_cli_python() -> Path:
    """``.bench/cli-venv``'s interpreter: the project (editable) with its ``[cli]`` extra."""
    python = CLI_VENV / "bin" / "python"
    probe = [str(python), "-c", "import click, rich, fluidstack.cli"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    log(f"creating {CLI_VENV.relative_to(ROOT)} (the project with its [cli] extra)")
    SCRATCH.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(CLI_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-e", f"{ROOT}[cli]"],
        check=True, env=clean_env(),
    )  # fmt: skip
    subprocess.run(probe, check=True)
    return python


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: List[str], env: Dict[str, str], cwd: str) -> Tuple[float, float]:
    """Wall seconds from spawn to exit, and the CPU seconds (user + system) the process
    used (children reaped meanwhile: only this one; the emulator is never reaped before
    the end). On a shared machine the wall time also counts the waits for a core, so
    the CPU time is the steadier figure."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, timeout=120)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{argv[-3:]} exited {done.returncode}: {done.stderr[-400:]!r}")
    return elapsed, cpu


def count_instructions(argv: List[str], env: Dict[str, str], cwd: str) -> int:
    """The instructions one run of ``argv`` executes, counted by callgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("--instructions needs valgrind (apt-get install valgrind)")
    done = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        capture_output=True,
        text=True,
        env={**env, "PYTHONHASHSEED": "0"},
        cwd=cwd,
        timeout=600,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{argv[-3:]} under callgrind: {done.stderr[-400:]!r}")
    return int(found.group(1))


def count_steps(
    sources: List[str], runs: int, cli: List[str], base_env: Dict[str, str], cwd: str
) -> None:
    """``--steps``: the median instructions of each CLI row for each copy of ``src/``."""
    rows = (["instances", "list"], ["atlas", "instances", "list"])
    counts: Dict[Tuple[str, str], List[int]] = {}
    for i in range(runs):
        for source in rotations(sources, i):
            env = clean_env({**base_env, "PYTHONPATH": str(Path(source).resolve())})
            for argv in rows:
                if i == 0:
                    timed([*cli, *argv], env, cwd)  # writes the copy's .pyc files
                n = count_instructions([*cli, *argv], env, cwd)
                counts.setdefault((source, " ".join(argv)), []).append(n)
                log(f"{source}: {' '.join(argv)}: {n:,}")
    print("\ninstructions (M), median of", runs, "counts each (all counts in brackets)\n")
    print("| src | instances list | atlas instances list |")
    print("|---|---|---|")
    for source in sources:
        cells = []
        for argv in rows:
            found = counts[(source, " ".join(argv))]
            every = ", ".join(f"{n / 1e6:,.1f}" for n in found)
            cells.append(f"{median(found) / 1e6:,.1f} ({every})")
        print(f"| {source} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--ours-src", help="another src/ to measure in the same rounds")
    parser.add_argument("--json", help="write every sample here")
    parser.add_argument(
        "--instructions", action="store_true", help="also count each CLI row's instructions"
    )
    parser.add_argument(
        "--steps", nargs="+", metavar="SRC", help="only count instructions, for each src/"
    )
    parser.add_argument("--step-runs", type=int, default=3, help="counts per --steps entry")
    args = parser.parse_args()

    cli_py = ensure_cli_python()
    lean_py, why = ensure_lean_python()
    if lean_py is None:
        sys.exit(f"no lean environment: {why}")
    versions: Dict[str, Dict[str, str]] = {"ours": {}}
    if args.ours_src:
        versions["other"] = {"PYTHONPATH": str(Path(args.ours_src).resolve())}

    emulator = Emulator(log_name="emulator-cli.log")
    scratch = tempfile.mkdtemp(prefix="fs-cli-bench-")
    try:
        emulator.seed(INSTANCES)
        token, project = emulator.seed_atlas(INSTANCES)
        home = Path(scratch) / "home"
        home.mkdir()
        base_env = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "FLUIDSTACK_API_KEY": emulator.api_key,
            "FLUIDSTACK_BASE_URL": emulator.base_url,
            # The profile `atlas login` writes: this run's own, not clean_env()'s path in
            # .bench/, which every run (and every bench) would share.
            "FLUIDSTACK_CONFIG": str(home / "config.toml"),
            "COLUMNS": "120",
        }
        env = {name: clean_env({**base_env, **extra}) for name, extra in versions.items()}
        cli = [str(cli_py), "-m", "fluidstack.cli"]
        script = cli_py.with_name("fluidstack")
        if script.exists():
            cli = [str(script)]
        # Log in once (the profile keeps the token) and warm the region URL cache.
        setup = env["ours"]
        for argv in (
            ["atlas", "login", "--url", emulator.base_url, "--client-id",
             "fs-emulator-client", "--client-secret", "fs-emulator-secret"],
            ["atlas", "use", "--region", "eu-north-1", "--project", project],
            ["atlas", "instances", "list"],
        ):  # fmt: skip
            timed([*cli, *argv], setup, scratch)
        raw_env = clean_env(
            {
                **base_env,
                "RAW_URL": f"{emulator.base_url}/regions/eu-north-1/api/v1alpha1/instances",
                "RAW_TOKEN": token,
                "RAW_PROJECT": project,
            }
        )
        if args.steps:
            count_steps(args.steps, args.step_runs, cli, base_env, scratch)
            return
        commands: Dict[str, Tuple[List[str], Dict[str, str]]] = {
            "raw platform": ([str(cli_py), "-c", RAW_PLATFORM], raw_env),
            "raw atlas": ([str(cli_py), "-c", RAW_ATLAS], raw_env),
            "import httpx, pydantic": (
                [str(lean_py), "-c", IMPORT_CODE.format(stmt="import httpx, pydantic")],
                clean_env(),
            ),
        }
        for name, version_env in env.items():
            commands[f"{name}: instances list"] = ([*cli, "instances", "list"], version_env)
            commands[f"{name}: atlas instances list"] = (
                [*cli, "atlas", "instances", "list"],
                version_env,
            )
            for stmt in ("from fluidstack import FluidStack", "from fluidstack.atlas import Atlas"):
                commands[f"{name}: {stmt}"] = (
                    [str(lean_py), "-c", IMPORT_CODE.format(stmt=stmt)],
                    clean_env(versions[name]),
                )
        samples: Dict[str, List[float]] = {name: [] for name in commands}
        cpu: Dict[str, List[float]] = {name: [] for name in commands}
        for i in range(args.rounds + 1):  # round 0 warms the .pyc and page caches
            for name in rotations(list(commands), i):
                argv, command_env = commands[name]
                if "import" in name and "list" not in name:
                    done = subprocess.run(
                        argv, capture_output=True, text=True, env=command_env, cwd=scratch
                    )
                    if done.returncode != 0:
                        raise RuntimeError(done.stderr[-400:])
                    seconds, cpu_seconds = map(float, done.stdout.split())
                else:
                    seconds, cpu_seconds = timed(argv, command_env, scratch)
                if i:
                    samples[name].append(seconds)
                    cpu[name].append(cpu_seconds)
            log(f"round {i}/{args.rounds} done")
        instructions: Dict[str, int] = {}
        if args.instructions:
            for name, (argv, command_env) in commands.items():
                if "list" in name or name.startswith("raw"):
                    instructions[name] = count_instructions(argv, command_env, scratch)
                    log(f"{name}: {instructions[name]:,} instructions")
    finally:
        emulator.stop()

    pairs = [
        ("instances list", "raw platform"),
        ("atlas instances list", "raw atlas"),
        ("from fluidstack import FluidStack", "import httpx, pydantic"),
        ("from fluidstack.atlas import Atlas", "import httpx, pydantic"),
    ]
    for title, figures in (("wall time", samples), ("CPU time (user + system)", cpu)):

        def ms(name: str, figures: Dict[str, List[float]] = figures) -> float:
            return median(figures[name]) * 1000

        print(f"\n{title}: {args.rounds} rounds, medians (ms), ratio to the floor's\n")
        print("| figure | floor |" + "".join(f" {n} |" for n in versions))
        print("|---|---|" + "---|" * len(versions))
        for figure, floor in pairs:
            cells = "".join(
                f" {ms(f'{n}: {figure}'):.1f} = {ms(f'{n}: {figure}') / ms(floor):.2f}x |"
                for n in versions
            )
            print(f"| {figure} | {ms(floor):.1f} ({floor}) |{cells}")
    if instructions:
        print("\ninstructions, one run each under callgrind (M), ratio to the floor's\n")
        print("| figure | floor |" + "".join(f" {n} |" for n in versions))
        print("|---|---|" + "---|" * len(versions))
        for figure, floor in pairs[:2]:
            cells = "".join(
                f" {instructions[f'{n}: {figure}'] / 1e6:,.0f} = "
                f"{instructions[f'{n}: {figure}'] / instructions[floor]:.2f}x |"
                for n in versions
            )
            print(f"| {figure} | {instructions[floor] / 1e6:,.0f} ({floor}) |{cells}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"wall": samples, "cpu": cpu, "instructions": instructions}, indent=1)
        )


if __name__ == "__main__":
    main()
