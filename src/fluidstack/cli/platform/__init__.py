"""The platform API's commands (``platform.fluidstack.io``, an ``api-key``): the
top-level groups of ``fluidstack`` other than ``atlas``, one module per command or group
(``fluidstack instances`` is :mod:`.instances`, ``fluidstack run`` is :mod:`.run`)."""
