# Generated from fluidstack/core/_async by scripts/unasync.py: do not edit by hand.
"""The I/O half of the request pipeline (synchronous clients): the send loop, its
sleeps, and what resource classes share. Every other pipeline step is pure and lives in
:mod:`fluidstack.core`."""
