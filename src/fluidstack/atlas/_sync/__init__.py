# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
