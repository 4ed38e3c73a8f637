# Generated from fluidstack/_async by scripts/unasync.py: do not edit by hand.

