"""What an emulated instance has on its disk: the directory layout, the programs a GPU
image brings (``nvidia-smi``, ``cloud-init status``) and the first boot (its user data).

No asyncssh here: these are plain files and a subprocess, so they are easy to test alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

__all__ = [
    "USERNAME",
    "GpuSpec",
    "InstanceDisk",
    "gpu_spec",
    "parse_user_data",
]

USERNAME = "ubuntu"
"""The login user of every emulated instance (both APIs' images are Ubuntu)."""

_MEMORY = re.compile(r"(\d+)\s*GB$", re.IGNORECASE)


@dataclass(frozen=True)
class GpuSpec:
    """The GPUs ``nvidia-smi`` reports: its product name, how many, MiB each."""

    name: str
    count: int
    memory_mib: int


def gpu_spec(
    model: Optional[str], count: Optional[int], memory_gb: Optional[int]
) -> Optional[GpuSpec]:
    """The ``nvidia-smi`` view of an instance's GPUs, or ``None`` for a CPU instance.

    ``model`` is the API's name (``H100_PCIE_80GB``, ``H100-HGX-80GB``); nvidia-smi names
    products like ``NVIDIA H100 PCIe``, so the memory suffix goes and words are spaced.
    """
    if not model or not count:
        return None
    words = re.split(r"[_\-\s]+", model.strip())
    if memory_gb is None:
        found = _MEMORY.search(words[-1]) if words else None
        memory_gb = int(found.group(1)) if found else 16
    if words and _MEMORY.fullmatch(words[-1]):
        words = words[:-1]
    pretty = " ".join("PCIe" if w.upper() == "PCIE" else w for w in words)
    name = pretty if pretty.upper().startswith("NVIDIA") else f"NVIDIA {pretty}"
    return GpuSpec(name=name, count=int(count), memory_mib=int(memory_gb) * 1024)


@dataclass
class UserData:
    """What the first boot does with an instance's user data."""

    authorized_keys: List[str] = field(default_factory=list)
    write_files: List[Dict[str, Any]] = field(default_factory=list)
    runcmd: List[Any] = field(default_factory=list)
    script: Optional[bytes] = None
    """A ``#!`` script, run as it is."""
    problem: Optional[str] = None
    """Why (part of) the user data was ignored, for the cloud-init log."""


def parse_user_data(raw: Optional[bytes]) -> UserData:
    """Read ``#cloud-config`` (``ssh_authorized_keys``, ``write_files``, ``runcmd``) or a
    ``#!`` script; anything else is logged and ignored, as cloud-init does."""
    if not raw:
        return UserData()
    if raw.startswith(b"#!"):
        return UserData(script=raw)
    if not raw.lstrip().startswith(b"#cloud-config"):
        return UserData(problem="user data is neither #cloud-config nor a #! script: ignored")
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml comes with the [ssh] extra
        return UserData(problem="PyYAML is missing (pip install 'fluidstack[ssh]')")
    try:
        document = yaml.safe_load(raw.decode("utf-8", "replace"))
    except yaml.YAMLError as exc:
        return UserData(problem=f"#cloud-config is not valid YAML: {exc}")
    if not isinstance(document, dict):
        return UserData(problem="#cloud-config is not a mapping: ignored")
    keys = document.get("ssh_authorized_keys") or []
    files = document.get("write_files") or []
    commands = document.get("runcmd") or []
    return UserData(
        authorized_keys=[str(k).strip() for k in keys if isinstance(k, str)]
        if isinstance(keys, list)
        else [],
        write_files=[f for f in files if isinstance(f, dict)] if isinstance(files, list) else [],
        runcmd=list(commands) if isinstance(commands, list) else [],
    )


class InstanceDisk:
    """One instance's directory: its "boot disk" (``home/ubuntu`` is ``$HOME``), logs,
    host key and the programs on its ``PATH``.

    Layout under ``root``::

        etc/ssh/ssh_host_ed25519_key     the instance's host key (0600)
        home/ubuntu/                      $HOME, where sessions start; .ssh/authorized_keys
        bin/                              nvidia-smi and cloud-init, first on PATH
        var/log/cloud-init-output.log     what the first boot's user data printed
        var/lib/cloud/instance/           boot-finished, result.json, user-data scripts
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home" / USERNAME
        self.bin = root / "bin"
        self.host_key_path = root / "etc" / "ssh" / "ssh_host_ed25519_key"
        self.log_path = root / "var" / "log" / "cloud-init-output.log"
        self.cloud_dir = root / "var" / "lib" / "cloud" / "instance"
        self.boot_marker = root / "var" / "lib" / "fluidstack" / "boot"

    @property
    def authorized_keys(self) -> Path:
        return self.home / ".ssh" / "authorized_keys"

    def create(self) -> None:
        for path in (self.home, self.bin, self.host_key_path.parent, self.log_path.parent):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def wipe_boot_disk(self) -> None:
        """An ephemeral instance's boot disk after a stop: everything but its host key."""
        for name in ("home", "bin", "var", "tmp"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        self.create()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def recorded_boot(self) -> Optional[float]:
        try:
            return float(self.boot_marker.read_text())
        except (OSError, ValueError):
            return None

    def record_boot(self, since: float) -> None:
        self.boot_marker.parent.mkdir(parents=True, exist_ok=True)
        self.boot_marker.write_text(repr(since))

    def env(self, instance_id: str, term: Optional[str] = None) -> Dict[str, str]:
        """The environment of a session's processes."""
        env = {
            "HOME": str(self.home),
            "USER": USERNAME,
            "LOGNAME": USERNAME,
            "SHELL": shell(),
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "LANG": "C.UTF-8",
            "FLUIDSTACK_INSTANCE_ID": instance_id,
            "FLUIDSTACK_INSTANCE_ROOT": str(self.root),
        }
        if term:
            env["TERM"] = term
        return env

    def install_tools(self, gpus: Optional[GpuSpec], instance_id: str) -> None:
        """``nvidia-smi`` (GPU instances only, as on a CPU image) and ``cloud-init``."""
        self.bin.mkdir(parents=True, exist_ok=True)
        smi = self.bin / "nvidia-smi"
        if gpus is not None:
            spec = {"name": gpus.name, "count": gpus.count, "memory_mib": gpus.memory_mib,
                    "uuid_seed": instance_id}  # fmt: skip
            _write_program(smi, _NVIDIA_SMI.replace("@SPEC@", json.dumps(spec)))
        elif smi.exists():
            smi.unlink()
        _write_program(
            self.bin / "cloud-init",
            _CLOUD_INIT.replace("@CLOUD_DIR@", repr(str(self.cloud_dir))),
        )

    def write_authorized_keys(self, keys: Sequence[str]) -> None:
        path = self.authorized_keys
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        existing = path.read_text().splitlines() if path.exists() else []
        lines = existing + [k for k in keys if k and k not in existing]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{line}\n" for line in lines))

    def first_boot_script(self, data: UserData) -> Optional[Path]:
        """Write the user data's files and its commands as one script (``None``: nothing
        to run). Paths in ``write_files`` are taken under the instance's root."""
        self.cloud_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a")
        with log:
            log.write(f"Cloud-init v. 23.4-emulated running 'init' for {self.root.name}\n")
            if data.problem:
                log.write(f"WARNING: {data.problem}\n")
            for entry in data.write_files:
                problem = self._write_file(entry)
                if problem:
                    log.write(f"WARNING: write_files: {problem}\n")
        scripts = self.cloud_dir / "scripts"
        scripts.mkdir(exist_ok=True)
        if data.script is not None:
            path = scripts / "part-001"
            path.write_bytes(data.script)
            path.chmod(0o700)
            return path
        if not data.runcmd:
            return None
        lines = ["#!/bin/sh", "set -e"]
        for command in data.runcmd:
            if isinstance(command, list):
                lines.append(" ".join(_shell_quote(str(part)) for part in command))
            else:
                lines.append(str(command))
        path = scripts / "runcmd"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o700)
        return path

    def _write_file(self, entry: Dict[str, Any]) -> Optional[str]:
        target = str(entry.get("path") or "")
        if not target.startswith("/"):
            return f"path {target!r} is not absolute: skipped"
        path = (self.root / target.lstrip("/")).resolve()
        if self.root.resolve() not in path.parents:
            return f"path {target!r} leaves the instance: skipped"
        content = entry.get("content", "")
        encoding = str(entry.get("encoding") or "text").lower()
        try:
            if encoding in ("b64", "base64"):
                data = base64.b64decode(str(content), validate=True)
            else:
                data = str(content).encode()
        except (binascii.Error, ValueError):
            return f"{target}: content is not valid base64: skipped"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab" if entry.get("append") else "wb") as out:
            out.write(data)
        try:
            path.chmod(int(str(entry.get("permissions") or "0644"), 8))
        except ValueError:
            return f"{target}: permissions {entry.get('permissions')!r} are not octal"
        return None

    def finish_boot(self, code: int) -> None:
        with self.log_path.open("a") as log:
            log.write(f"Cloud-init v. 23.4-emulated finished; user data exit status {code}\n")
        result = {"v1": {"errors": [] if code == 0 else [f"user data exited {code}"]}}
        (self.cloud_dir / "result.json").write_text(json.dumps(result))
        (self.cloud_dir / "boot-finished").write_text("done\n")


def run_first_boot(
    disk: InstanceDisk,
    script: Optional[Path],
    instance_id: str,
    extra_env: Optional[Dict[str, str]] = None,
    preexec: Optional[Callable[[], None]] = None,
) -> subprocess.Popen[bytes] | None:
    """Start the first boot's script, its output appended to the cloud-init log;
    ``extra_env`` and ``preexec`` make it (and all it starts) the instance's."""
    if script is None:
        disk.finish_boot(0)
        return None
    log = disk.log_path.open("ab")
    with log:
        return subprocess.Popen(
            [str(script)],
            cwd=str(disk.home),
            env={**disk.env(instance_id), **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
        )


def shell() -> str:
    """The login shell of the emulated user: bash where the host has it."""
    return "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _write_program(path: Path, text: str) -> None:
    path.write_text(text.replace("@PYTHON@", sys.executable))
    path.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP)


# The programs are Python scripts run by the emulator's own interpreter, so they need
# nothing from the host. Their output follows the real tools' formats.

_NVIDIA_SMI = r'''#!@PYTHON@
"""nvidia-smi of an emulated FluidStack instance (the default table, -L, --query-gpu)."""
import hashlib, sys, time

SPEC = @SPEC@
FIELDS = {
    "name": lambda i: SPEC["name"],
    "index": lambda i: str(i),
    "count": lambda i: str(SPEC["count"]),
    "memory.total": lambda i: f"{SPEC['memory_mib']} MiB",
    "memory.used": lambda i: "0 MiB",
    "memory.free": lambda i: f"{SPEC['memory_mib']} MiB",
    "utilization.gpu": lambda i: "0 %",
    "temperature.gpu": lambda i: "34",
    "driver_version": lambda i: "550.90.07",
    "uuid": lambda i: uuid(i),
    "pci.bus_id": lambda i: f"00000000:{0x18 + i:02X}:00.0",
}


def uuid(i):
    h = hashlib.sha256(f"{SPEC['uuid_seed']}/{i}".encode()).hexdigest()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def query(args):
    fields = [f.strip() for f in args["query"].split(",") if f.strip()]
    for f in fields:
        if f not in FIELDS:
            print(f'Field "{f}" is not a valid field to query.', file=sys.stderr)
            return 2
    fmt = args.get("format")
    if fmt is None:
        print('Missing --format option. Valid format is "csv".', file=sys.stderr)
        return 2
    opts = [o.strip() for o in fmt.split(",")]
    if opts[0] != "csv":
        print(f'"{fmt}" is not a valid format. Valid format is "csv".', file=sys.stderr)
        return 2
    units = "nounits" not in opts
    if "noheader" not in opts:
        heads = []
        for f in fields:
            unit = {"memory.total": " [MiB]", "memory.used": " [MiB]", "memory.free": " [MiB]",
                    "utilization.gpu": " [%]"}.get(f, "")
            heads.append(f + unit)
        print(", ".join(heads))
    for i in range(SPEC["count"]):
        values = [FIELDS[f](i) for f in fields]
        if not units:
            values = [v.split(" ")[0] if f.startswith(("memory.", "utilization.")) else v
                      for f, v in zip(fields, values)]
        print(", ".join(values))
    return 0


def table():
    now = time.strftime("%a %b %d %H:%M:%S %Y")
    mem = SPEC["memory_mib"]
    out = [
        now,
        "+-----------------------------------------------------------------------------------------+",
        "| NVIDIA-SMI 550.90.07              Driver Version: 550.90.07      CUDA Version: 12.4     |",
        "|-----------------------------------------+------------------------+----------------------+",
        "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |",
        "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |",
        "|                                         |                        |               MIG M. |",
        "|=========================================+========================+======================|",
    ]
    for i in range(SPEC["count"]):
        name = SPEC["name"][:20]
        out.append(f"| {i:>3}  {name:<20}           On  |   {FIELDS['pci.bus_id'](i)} Off |"
                   f"                    0 |")
        usage = f"0MiB / {mem}MiB"
        out.append(f"| N/A   34C    P0             70W /  700W |{usage:>23} |      0%      Default |")
        out.append("|                                         |                        |             Disabled |")
        out.append("+-----------------------------------------+------------------------+----------------------+")
    out += [
        "",
        "+-----------------------------------------------------------------------------------------+",
        "| Processes:                                                                              |",
        "|  GPU   GI   CI        PID   Type   Process name                              GPU Memory |",
        "|        ID   ID                                                               Usage      |",
        "|=========================================================================================|",
        "|  No running processes found                                                             |",
        "+-----------------------------------------------------------------------------------------+",
    ]
    print("\n".join(out))
    return 0


def main(argv):
    args = {}
    for arg in argv:
        if arg.startswith("--query-gpu="):
            args["query"] = arg.split("=", 1)[1]
        elif arg.startswith("--format="):
            args["format"] = arg.split("=", 1)[1]
        elif arg in ("-L", "--list-gpus"):
            args["list"] = True
        elif arg in ("-h", "--help"):
            print("NVIDIA System Management Interface -- emulated by fluidstack")
            return 0
        else:
            print(f"Invalid combination of input arguments: {arg}", file=sys.stderr)
            return 2
    if args.get("list"):
        for i in range(SPEC["count"]):
            print(f"GPU {i}: {SPEC['name']} (UUID: {uuid(i)})")
        return 0
    if "query" in args:
        return query(args)
    return table()


sys.exit(main(sys.argv[1:]))
'''

_CLOUD_INIT = r'''#!@PYTHON@
"""cloud-init of an emulated FluidStack instance: only `cloud-init status [--wait]`."""
import json, os, sys, time

CLOUD = @CLOUD_DIR@
args = sys.argv[1:]
if not args or args[0] != "status":
    print("usage: cloud-init status [--wait] (the emulator's cloud-init has only this)",
          file=sys.stderr)
    sys.exit(2)
finished = os.path.join(CLOUD, "boot-finished")
if "--wait" in args or "-w" in args:
    while not os.path.exists(finished):
        time.sleep(0.05)
if not os.path.exists(finished):
    print("status: running")
    sys.exit(0)
try:
    with open(os.path.join(CLOUD, "result.json")) as f:
        errors = json.load(f)["v1"]["errors"]
except (OSError, ValueError, KeyError):
    errors = []
print("status: error" if errors else "status: done")
sys.exit(1 if errors else 0)
'''
