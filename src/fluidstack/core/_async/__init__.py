"""The I/O half of the request pipeline (asynchronous clients): the send loop, its
sleeps, and what resource classes share. Every other pipeline step is pure and lives in
:mod:`fluidstack.core`."""
