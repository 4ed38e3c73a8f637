"""``python -m fluidstack``: the ``fluidstack`` command."""

from fluidstack.cli import main

if __name__ == "__main__":
    main()
