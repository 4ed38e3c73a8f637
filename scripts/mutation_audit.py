#!/usr/bin/env python3
"""Break important behaviours on purpose, one at a time, and check that a test notices.

Each mutation replaces one piece of source text in a private copy of the tree (the
``_async`` original; the ``_sync`` twin is regenerated), runs the tests that should
catch it with that copy first on ``PYTHONPATH``, and counts it *caught* when they fail.
A mutation whose text is no longer found is reported *stale*: update it with the code.

    python scripts/mutation_audit.py              # every mutation, a table at the end
    python scripts/mutation_audit.py -k commit    # those whose name contains "commit"
    python scripts/mutation_audit.py --list

Not part of CI (minutes of runs); the closing notes of issue 29 report its table.
Exit status: 0 when every mutation was caught, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    why: str
    path: str
    old: str
    new: str
    tests: Tuple[str, ...]
    """pytest arguments (files, ``-k`` expressions) of the tests that must fail."""


MUTATIONS: List[Mutation] = [
    Mutation(
        "idempotency-key",
        "a create is sent without its Idempotency-Key",
        "src/fluidstack/core/request.py",
        "        and endpoint.sends_idempotency_key\n",
        "        and False\n",
        ("tests/platform/test_e2e_emulator.py", "-k", "performed"),
    ),
    Mutation(
        "atlas-org-isolation",
        "an organization can use another organization's project (and all in it)",
        "src/fluidstack/emulator/atlas/base.py",
        "            or project.org_id != org.id\n",
        "",
        ("tests/reliability/test_atlas_isolation.py",),
    ),
    Mutation(
        "response-size-cap",
        "a streamed body past max_response_bytes is read on",
        "src/fluidstack/core/_async/pipeline.py",
        "                if size > limit:\n",
        "                if False:\n",
        ("tests/platform/test_hostile_network.py", "-k", "item12 or memory_limited"),
    ),
    Mutation(
        "platform-create-commit",
        "the platform emulator acknowledges a create without writing it to --db",
        "src/fluidstack/emulator/platform/instances.py",
        "            self._remember(account, idempotency_key, fingerprint, 202, body)\n"
        "            self._commit()\n",
        "            self._remember(account, idempotency_key, fingerprint, 202, body)\n",
        (
            "tests/reliability/test_acknowledged_writes.py",
            "-k",
            "POST and instances and not regions",
        ),
    ),
    Mutation(
        "atlas-create-commit",
        "the Atlas emulator acknowledges a create without writing it to --db",
        "src/fluidstack/emulator/atlas/instances.py",
        "                tags=tags,\n            )\n            self._commit()\n",
        "                tags=tags,\n            )\n",
        (
            "tests/reliability/test_acknowledged_writes.py",
            "-k",
            "regions and POST and instances and not actions",
        ),
    ),
    Mutation(
        "instances-delete-confirmation",
        "`fluidstack instances delete` deletes without --yes off a terminal",
        "src/fluidstack/cli/instance_commands.py",
        "        confirm_or_require_yes(",
        "        (lambda *a, **k: None)(",
        ("tests/cli/test_cli_confirmations.py", "-k", "instances"),
    ),
    Mutation(
        "atlas-filesystems-delete-confirmation",
        "`fluidstack atlas filesystems delete` deletes without --yes",
        "src/fluidstack/cli/atlas/filesystems.py",
        "    confirm_or_require_yes(",
        "    (lambda *a, **k: None)(",
        ("tests/cli/test_cli_confirmations.py", "-k", "filesystems"),
    ),
    Mutation(
        "atlas-members-delete-confirmation",
        "`fluidstack atlas members delete` deletes without --yes",
        "src/fluidstack/cli/atlas/organization.py",
        '    confirm_or_require_yes(state, f"Remove member {member_id}?"',
        '    (lambda *a, **k: None)(state, f"Remove member {member_id}?"',
        ("tests/cli/test_cli_confirmations.py", "-k", "members"),
    ),
    Mutation(
        "token-refresh",
        "an Atlas client with a refresh token never uses it",
        "src/fluidstack/atlas/_async/auth.py",
        "        if self._refresh_token is not None:\n",
        "        if False:\n",
        ("tests/atlas/test_atlas_auth.py",),
    ),
    Mutation(
        "retry-guard",
        "a non-idempotent request is repeated after an ambiguous failure",
        "src/fluidstack/core/budget.py",
        "        if outcome is Outcome.AMBIGUOUS and not idempotent:\n            return None\n",
        "",
        ("tests/core/test_core_units.py", "tests/reliability/test_faults.py"),
    ),
]


def _copy_tree(into: Path) -> None:
    """The tracked files of the working tree (with uncommitted edits), nothing else."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _apply(tree: Path, mutation: Mutation) -> bool:
    path = tree / mutation.path
    text = path.read_text()
    if mutation.old not in text:
        return False
    path.write_text(text.replace(mutation.old, mutation.new, 1))
    if "/_async/" in mutation.path:
        subprocess.run([sys.executable, "scripts/unasync.py"], cwd=tree, check=True,
                       capture_output=True)  # fmt: skip
    return True


def _run_tests(tree: Path, tests: Sequence[str], timeout: float) -> Tuple[str, float, str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
            cwd=tree, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "caught (timeout)", time.monotonic() - started, ""
    elapsed = time.monotonic() - started
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    if done.returncode == 5:
        return "no tests ran", elapsed, last
    return ("caught" if done.returncode != 0 else "SURVIVED"), elapsed, last


def _check_isolation(tree: Path) -> None:
    """The copy, not the installed tree, must be what the tests import."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    found = subprocess.run(
        [sys.executable, "-c", "import fluidstack; print(fluidstack.__file__)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not found.startswith(str(tree)):
        raise SystemExit(f"the tests would import {found}, not the mutated copy")


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="only", help="only mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--timeout", type=float, default=900, help="per mutation, seconds")
    args = parser.parse_args(list(argv) or None)
    chosen = [m for m in MUTATIONS if not args.only or args.only in m.name]
    if args.list:
        for m in chosen:
            print(f"{m.name:40} {m.why}")
        return 0
    rows = []
    for mutation in chosen:
        with tempfile.TemporaryDirectory(prefix="fs-mutant-") as scratch:
            tree = Path(scratch)
            _copy_tree(tree)
            _check_isolation(tree)
            if not _apply(tree, mutation):
                rows.append((mutation, "STALE (text not found)", 0.0, ""))
            else:
                rows.append((mutation, *_run_tests(tree, mutation.tests, args.timeout)))
        name, verdict, seconds = mutation.name, rows[-1][1], rows[-1][2]
        print(f"{name}: {verdict} ({seconds:.0f} s)", flush=True)
    print("\n| mutation | what breaks | result | time |\n| --- | --- | --- | --- |")
    for mutation, verdict, seconds, _ in rows:
        print(f"| {mutation.name} | {mutation.why} | {verdict} | {seconds:.0f} s |")
    return 0 if all(row[1].startswith("caught") for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
