"""One module per API group: what each endpoint is and what it sends.

The classes users call (``client.instances`` and friends) are thin: each method is a
typed signature, a docstring and one call into the shared pipeline with an endpoint
declared here. They live in ``fluidstack._async`` (written by hand) and
``fluidstack._sync`` (generated from it by ``scripts/unasync.py``).
"""
