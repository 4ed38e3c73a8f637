"""The plumbing of the benchmarks: the emulator subprocess, the vendor virtual environment,
the measurement workers, and small statistics helpers. ``RawConnection`` lives in
``raw_http.py`` and is importable from here too, as the benchmarks have always done.

Nothing here measures anything by itself; ``bench/run.py`` decides what to run and how
often, and prints the table.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for raw_http, however we were found

from raw_http import RawConnection  # noqa: F401 - re-exported: the benchmarks import it from here

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".bench"
WORKER = Path(__file__).resolve().parent / "worker.py"
VENDOR_VERSION = "0.0.8"
VENDOR_VENV = SCRATCH / "vendor-venv"
API_KEY = "fs-emulator-dev-key"
SSH_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- statistics --------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return float(ordered[index])


def rotations(names: Sequence[str], round_index: int) -> List[str]:
    """The order of the implementations in one round: rotated, so none always goes first."""
    shift = round_index % len(names) if names else 0
    return list(names[shift:]) + list(names[:shift])


# -- subprocess environment ------------------------------------------------------------


def clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment of every measured process: no PYTHONPATH, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FLUIDSTACK_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["FLUIDSTACK_CONFIG"] = str(SCRATCH / "no-such-config.toml")
    env["NO_COLOR"] = "1"
    if extra:
        env.update(extra)
    return env


def scratch_cwd() -> Path:
    """An empty working directory, so that ``-c`` never imports something from the repo."""
    path = SCRATCH / "cwd"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- the vendor SDK's throw-away virtual environment ---------------------------------------


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - the bench runs on Linux/macOS
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _vendor_ok(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, FluidStack.client; print(m.version('fluidstack'))",
        ],
        capture_output=True,
        text=True,
        cwd=scratch_cwd(),
        env=clean_env(),
        timeout=120,
    )
    return probe.returncode == 0 and probe.stdout.strip() == VENDOR_VERSION


def ensure_vendor_python() -> Tuple[Optional[Path], str]:
    """The interpreter of ``.bench/vendor-venv`` with ``fluidstack==0.0.8``, creating it
    when needed; ``(None, why)`` when that is not possible (no network, no PyPI, ...)."""
    python = _venv_python(VENDOR_VENV)
    try:
        if _vendor_ok(python):
            return python, "ok"
        log(f"creating {VENDOR_VENV.relative_to(ROOT)} with fluidstack=={VENDOR_VERSION}")
        SCRATCH.mkdir(exist_ok=True)
        made = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(VENDOR_VENV)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if made.returncode != 0:
            return None, "venv failed: " + _tail(made.stderr)
        pip = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"fluidstack=={VENDOR_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env=clean_env(),
        )
        if pip.returncode != 0:
            return None, "pip install failed: " + _tail(pip.stderr)
        if not _vendor_ok(python):
            return None, "installed, but 'import FluidStack.client' fails"
        return python, "ok"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


LEAN_VENV = SCRATCH / "lean-venv"
"""A virtual environment with this project and its run-time dependencies only."""


def ensure_lean_python() -> Tuple[Optional[Path], str]:
    """The interpreter of ``.bench/lean-venv``: this project (editable) with nothing but
    its run-time dependencies, as ``pip install fluidstack`` leaves a user. Import times
    are measured there because httpx imports its own CLI (click, rich, pygments) when
    they are installed, which the project's development environment has: that would
    inflate the floor and ours alike. ``(None, why)`` when it cannot be made."""
    python = _venv_python(LEAN_VENV)
    probe = [
        str(python),
        "-c",
        "import fluidstack, httpx, pydantic, importlib.util as u\n"
        "print('lean' if u.find_spec('click') is None else 'click is installed')",
    ]

    def lean() -> Tuple[bool, str]:
        done = subprocess.run(
            probe, capture_output=True, text=True, cwd=scratch_cwd(), env=clean_env(), timeout=120
        )
        return done.returncode == 0 and done.stdout.strip() == "lean", _tail(
            done.stderr or done.stdout
        )

    try:
        if python.exists() and lean()[0]:
            return python, "ok"
        log(f"creating {LEAN_VENV.relative_to(ROOT)} with the SDK's run-time dependencies only")
        SCRATCH.mkdir(exist_ok=True)
        made = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(LEAN_VENV)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if made.returncode != 0:
            return None, "venv failed: " + _tail(made.stderr)
        install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        pip = subprocess.run(
            [*install, "-e", str(ROOT)],
            capture_output=True,
            text=True,
            timeout=600,
            env=clean_env(),
        )
        if pip.returncode != 0:
            return None, "pip install failed: " + _tail(pip.stderr)
        ok, why = lean()
        return (python, "ok") if ok else (None, "made, but not lean: " + why)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _tail(text: str, limit: int = 160) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    return last[:limit]


# -- the emulator ------------------------------------------------------------------------


class Emulator:
    """``python -m fluidstack.emulator`` in its own process (its own GIL), on loopback."""

    def __init__(
        self,
        python: str = sys.executable,
        env: Optional[Dict[str, str]] = None,
        log_name: str = "emulator.log",
    ) -> None:
        SCRATCH.mkdir(exist_ok=True)
        self._log = open(SCRATCH / log_name, "wb")  # noqa: SIM115 - closed in stop()
        # The control API wants its token in x-emulator-token on every call.
        self.control = {"x-emulator-token": secrets.token_urlsafe(24)}
        self.process = subprocess.Popen(
            [
                python,
                "-m",
                "fluidstack.emulator",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--manual-clock",
                "--seed",
                "1",
                "--failure-rate",
                "0",
                # Atlas tokens last the whole run (86,400 real seconds), so no row pays for
                # a refresh it did not ask.
                "--token-ttl",
                "86400",
                "--log-level",
                "warning",
                # One argument: a token drawn with a leading "-" is not taken for an option.
                "--control-token=" + self.control["x-emulator-token"],
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=scratch_cwd(),
            env=clean_env(env),
        )
        lines: queue.Queue[Optional[str]] = queue.Queue()

        def drain() -> None:
            assert self.process.stdout is not None
            for raw in self.process.stdout:
                lines.put(raw.decode("utf-8", "replace"))
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + 60
        self.base_url = ""
        while not self.base_url:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError("the emulator did not start (see .bench/emulator.log)")
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.base_url = match.group(1)
        self.api_key = API_KEY

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def seed(self, count: int) -> List[str]:
        """Create ``count`` running instances; their ids, in listing order."""
        import httpx

        with httpx.Client(base_url=self.base_url, headers={"api-key": self.api_key}) as http:
            http.post("/_emulator/reset", json={}, headers=self.control).raise_for_status()
            http.post("/ssh_keys", json={"name": "k", "public_key": SSH_PUBLIC_KEY})
            configs = http.get("/list_available_configurations").json()
            config = next(c for c in configs if 1 in c["gpu_counts"])
            gpu_type, region = config["gpu_type"], config["regions"][0]
            http.put(
                "/_emulator/capacity",
                json={"gpu_type": gpu_type, "region": region, "gpus": count + 64},
                headers=self.control,
            ).raise_for_status()
            for _ in range(count):
                made = http.post(
                    "/instances", json={"gpu_type": gpu_type, "ssh_key": "k", "region": region}
                )
                if made.status_code >= 300:
                    raise RuntimeError(f"seeding: POST /instances answered {made.text[:200]}")
            # Let provisioning finish so that GET /instances/{id} answers 200 "running".
            http.post(
                "/_emulator/clock/advance", json={"seconds": 3600}, headers=self.control
            ).raise_for_status()
            listing = http.get("/instances").json()
        if len(listing) != count:
            raise RuntimeError(f"seeded {count} instances but the listing has {len(listing)}")
        return [item["id"] for item in listing]

    def seed_atlas(self, count: int, region: str = "eu-north-1") -> Tuple[str, str]:
        """Create ``count`` running Atlas instances in one project of ``region`` (the
        development client's organization); returns ``(access token, project id)``."""
        import httpx

        with httpx.Client(base_url=self.base_url) as http:
            token = http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "fs-emulator-client",
                    "client_secret": "fs-emulator-secret",
                },
            )
            token.raise_for_status()
            access = str(token.json()["access_token"])
            http.headers["authorization"] = f"Bearer {access}"
            api = f"/regions/{region}/api/v1alpha1"
            project = http.post(f"{api}/projects", json={"name": "bench"})
            project.raise_for_status()
            project_id = str(project.json()["id"])
            http.put(
                "/_emulator/atlas/capacity",
                json={"region": region, "instance_type": "cpu.2x", "total": count + 64},
                headers=self.control,
            ).raise_for_status()
            headers = {"x-project-id": project_id}
            for n in range(count):
                made = http.post(
                    f"{api}/instances",
                    json={"name": f"bench-{n}", "type": "cpu.2x"},
                    headers=headers,
                )
                if made.status_code >= 300:
                    raise RuntimeError(f"seeding Atlas: POST answered {made.text[:200]}")
            http.post(
                "/_emulator/clock/advance", json={"seconds": 600}, headers=self.control
            ).raise_for_status()
            listing = http.get(f"{api}/instances", headers=headers).json()
        if len(listing) != count or any(i["state"] != "running" for i in listing):
            raise RuntimeError(f"seeded {count} Atlas instances but the listing differs")
        return access, project_id

    def rss(self) -> int:
        """Resident memory of the emulator process, in bytes (Linux)."""
        return _rss_of(self.process.pid)

    def control_call(self, method: str, path: str, body: Optional[Any] = None) -> Any:
        """One control-API call (``/_emulator/...``); raises on an error answer."""
        import httpx

        response = httpx.request(
            method,
            self.base_url + "/_emulator" + path,
            json=body if body is not None else ({} if method != "GET" else None),
            headers=self.control,
            timeout=600,
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} /_emulator{path}: {response.text[:300]}")
        return response.json() if response.content else None

    def listing_bytes(self) -> bytes:
        import httpx

        response = httpx.get(self.base_url + "/instances", headers={"api-key": self.api_key})
        response.raise_for_status()
        return response.content


def big_listing(sample: bytes, count: int) -> bytes:
    """A listing of ``count`` instances shaped like the emulator's (ids and names vary)."""
    items = json.loads(sample)
    out = []
    for i in range(count):
        item = dict(items[i % len(items)])
        item["id"] = f"{i:08x}-0000-4000-8000-{i * 7919 % 10**12:012d}"
        item["name"] = f"{item.get('name') or 'instance'}-{i}"
        out.append(item)
    return json.dumps(out, separators=(",", ":")).encode()


def _rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class FloorServer:
    """``bench/floor_app.py``: a FastAPI hello-world on the same uvicorn settings as the
    emulator, answering ``GET /instances`` and ``POST /instances`` with fixed bytes."""

    def __init__(self, get_body: bytes, post_body: bytes) -> None:
        SCRATCH.mkdir(exist_ok=True)
        (SCRATCH / "floor-get.json").write_bytes(get_body)
        (SCRATCH / "floor-post.json").write_bytes(post_body)
        self._log = open(SCRATCH / "floor.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve().parent / "floor_app.py"),
                str(SCRATCH / "floor-get.json"),
                str(SCRATCH / "floor-post.json"),
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=scratch_cwd(),
            env=clean_env(),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            self.stop()
            raise RuntimeError("the floor app did not start (see .bench/floor.log)")
        self.base_url = match.group(1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self._log.close()


# -- workers ----------------------------------------------------------------------------


class Worker:
    """A long-lived ``worker.py serve IMPL`` process, driven one JSON line at a time."""

    def __init__(self, impl: str, python: str, env: Optional[Dict[str, str]] = None) -> None:
        self.impl = impl
        self.error: Optional[str] = None
        self.process = subprocess.Popen(
            [python, str(WORKER), "serve", impl],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=scratch_cwd(),
            env=clean_env(env),
        )

    def ask(self, **command: Any) -> Dict[str, Any]:
        """Send one command; the reply, or ``{"ok": False, "error": ...}``."""
        if self.error is not None:
            return {"ok": False, "error": self.error}
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (BrokenPipeError, OSError) as exc:
            line = ""
            self.error = f"worker died: {exc}"
        if not line:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            self.error = self.error or "worker died: " + _tail(stderr or "no output")
            return {"ok": False, "error": self.error}
        reply: Dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        if self.process.poll() is None and self.error is None:
            try:
                self.ask(op="quit")
            except Exception:  # pragma: no cover - best effort
                pass
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def run_json(argv: List[str], timeout: float = 300, env: Optional[Dict[str, str]] = None) -> Any:
    """Run a one-shot worker and return the JSON it prints (raises with its stderr)."""
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=scratch_cwd(),
        env=clean_env(env),
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(_tail(done.stderr or done.stdout))
    return json.loads(done.stdout.strip().splitlines()[-1])


def wall_time(argv: List[str], env: Dict[str, str], timeout: float = 60) -> Tuple[float, int, str]:
    """Seconds from spawn to exit, the exit status, and the tail of stderr."""
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        capture_output=True,
        cwd=scratch_cwd(),
        env=env,
        timeout=timeout,
    )
    elapsed = time.perf_counter() - started
    return elapsed, done.returncode, _tail(done.stderr.decode("utf-8", "replace"))


# -- the machine ------------------------------------------------------------------------


def machine() -> Dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import platform

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
