"""The ``fluidstack`` program's start-up without needless garbage collections.

Starting a command loads hundreds of modules: classes, functions and models that live
until the process ends. With Python's default thresholds the cyclic garbage collector
runs every 700 new objects and scans the young ones each time: for ``fluidstack
instances list``, 106 collections that freed under 500 objects in all and took 21-25 ms
of CPU, 6-7% of the command (issue 24). :func:`defer_collection` lets the start-up run without
them, and keeps the collector's usual behaviour for the rest of any command that runs on
(waits, forwarded ports, ``fluidstack run``). :func:`skip_final_collection` spares the
interpreter's collections at exit the same walk over everything start-up made.

Only the program's entry point (:func:`fluidstack.cli.main`) calls it: the command line
run in-process (Click's ``CliRunner``, tests) leaves the host process's collector alone.
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import threading

__all__ = ["START_UP_SECONDS", "START_UP_THRESHOLD", "defer_collection", "skip_final_collection"]

START_UP_THRESHOLD = 200_000
"""Objects that may accumulate before the first collection. ``instances list`` of 50
instances ends with ~77,000; only objects that stay alive (or garbage in reference
cycles) count, so objects freed as they go never bring the collection closer."""

START_UP_SECONDS = 2.0
"""After this long the usual thresholds are back even without a collection, so that a
command that runs on (a wait, ``forward``, ``run``) collects as any program does."""


def defer_collection(
    threshold: int = START_UP_THRESHOLD, seconds: float = START_UP_SECONDS
) -> Optional[threading.Timer]:
    """Raise the collector's first threshold to ``threshold`` until the first collection
    or for ``seconds``, whichever ends first; then restore the thresholds it had. The
    collector stays enabled throughout.

    Returns the (daemon) timer that ends the deferral; ``timer.function()`` ends it at
    once. ``None``, and nothing changed, when the collector is disabled or its first
    threshold is already as high."""
    usual = gc.get_threshold()
    if not gc.isenabled() or usual[0] == 0 or usual[0] >= threshold:
        return None
    raised = (threshold, *usual[1:])

    def restore() -> None:
        # Idempotent, so no lock: both ends may race only to set the same thresholds.
        if gc.get_threshold() == raised:  # unless someone has set their own since
            gc.set_threshold(*usual)

    def on_collection(phase: str, info: Any) -> None:
        # Left in gc.callbacks until the deadline: the collector is walking the list now.
        restore()

    def at_deadline() -> None:
        restore()
        with contextlib.suppress(ValueError):  # removed already
            gc.callbacks.remove(on_collection)

    gc.set_threshold(*raised)
    gc.callbacks.append(on_collection)
    import threading  # after raising: importing it made the first collections

    timer = threading.Timer(seconds, at_deadline)
    timer.daemon = True  # never holds the program open
    timer.start()
    return timer


def skip_final_collection() -> None:
    """Move every object the collector tracks to its permanent generation
    (``gc.freeze()``), once the command has ended and the process is about to exit.

    At exit the interpreter collects four more times (once, then once per stage of
    unloading the modules), each walking every object start-up made (modules, classes,
    models: ~77,000 for ``instances list``) to find them all alive: 75 M of the
    command's 1,522 M instructions (issue 24, fifth round). Frozen objects are left out.
    What is given up: reference cycles still alive at exit are not collected, so their
    finalizers do not run, which Python never promised at exit anyway; the command's
    own files and connections are closed by then (``atexit`` handlers still run).
    Called only when :func:`fluidstack.cli.main` runs as the program (no ``argv``): a
    caller that passes its own arguments and catches ``SystemExit`` keeps its collector."""
    gc.freeze()
