"""SSH into emulated instances (``fluidstack-emulator --ssh``, needs the ``[ssh]`` extra).

Every running instance of both APIs answers SSH on the loopback interface: commands and
shells run as the host user in the instance's own directory (its ``$HOME``), with SFTP,
scp, local port forwarding, a ``nvidia-smi`` that reports the instance's GPUs, and its
user data run at first boot. It is a rehearsal of the real thing, not an isolation
boundary: sessions run with the emulator user's rights, unconfined. Only SFTP and scp are
confined to the instance's directory (:mod:`fluidstack.emulator.ssh.sftp`).

:class:`fluidstack.emulator.ssh.machines.SshMachines` is imported on demand (it needs
asyncssh); the states only know :class:`fluidstack.emulator.ssh.hooks.SshHooks`.
"""
