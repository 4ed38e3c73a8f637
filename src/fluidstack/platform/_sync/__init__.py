# Generated from fluidstack/platform/_async by scripts/unasync.py: do not edit by hand.

