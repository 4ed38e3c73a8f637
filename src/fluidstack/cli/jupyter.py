"""``fluidstack [atlas] jupyter INSTANCE``: JupyterLab on an instance, reached from here.

Over one SSH command (the SDK's ``instances.exec``) the instance runs
:data:`REMOTE_SCRIPT`: if the JupyterLab this tool started on that port still runs (its
pid file, ``~/.fluidstack/jupyter/jupyter-PORT.pid``), it says so with the token it was
started with; otherwise it installs JupyterLab into a venv there if there is none
(``~/.fluidstack/jupyter/venv``), starts it on the instance's loopback with a new token
and waits until the port answers. Then the port is forwarded here (as ``instances
forward`` does), the URL with the token printed, and opened in the browser when this
runs on a terminal, until Ctrl-C; JupyterLab keeps running there (``--stop`` ends it).

The install step and the start command can be replaced (``--install-command``,
``--start-command`` or ``$FLUIDSTACK_JUPYTER_INSTALL``, ``$FLUIDSTACK_JUPYTER_START``):
an instance without internet access, a Jupyter of your own, or the emulator's tests,
which start a stand-in HTTP server offline. Both run in a shell on the instance with
``$FLUIDSTACK_JUPYTER_PORT`` and ``_VENV`` set; the start command also gets ``_TOKEN``
and ``_DIR`` (and runs in that folder).

Only Click is imported at module level: ``fluidstack --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from typing import Any, List, Optional

import click

from .forwarding import hold_until_interrupted, open_forwards
from .instance_commands import InstanceCommands, _decorate, _with_ssh_port
from .remote import identity_option, ssh_errors
from .state import CliError, CliState, pass_state

__all__ = ["DEFAULT_INSTALL", "DEFAULT_START", "REMOTE_SCRIPT", "add_jupyter", "remote_script"]

DEFAULT_INSTALL = (
    'python3 -m venv "$FLUIDSTACK_JUPYTER_VENV" && '
    '"$FLUIDSTACK_JUPYTER_VENV/bin/pip" install --quiet jupyterlab'
)
"""Installs JupyterLab into a venv on the instance (run only when none is found)."""

DEFAULT_START = (
    'jl="$FLUIDSTACK_JUPYTER_VENV/bin/jupyter-lab"; [ -x "$jl" ] || jl=jupyter-lab; '
    'exec "$jl" --no-browser --ip=127.0.0.1 --port="$FLUIDSTACK_JUPYTER_PORT" '
    '--port-retries=0 --ServerApp.token="$FLUIDSTACK_JUPYTER_TOKEN" '
    '--ServerApp.root_dir="$FLUIDSTACK_JUPYTER_DIR"'
)
"""Starts JupyterLab on the instance's loopback, on the port and with the token given."""

# POSIX sh (dash on Ubuntu). Prints one last line: "running TOKEN", "started TOKEN",
# "stopped" or "not-running"; anything else before it is the install's or a failure's.
REMOTE_SCRIPT = r"""
set -e
umask 077
state="$HOME/.fluidstack/jupyter"
mkdir -p "$state"
export FLUIDSTACK_JUPYTER_PORT="$port" FLUIDSTACK_JUPYTER_VENV="$state/venv"
pidfile="$state/jupyter-$port.pid" tokenfile="$state/jupyter-$port.token"
log="$state/jupyter-$port.log"
alive() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
if [ "$action" = stop ]; then
  if alive; then kill "$(cat "$pidfile")"; rm -f "$pidfile" "$tokenfile"; echo stopped
  else echo not-running; fi
  exit 0
fi
if alive && [ -s "$tokenfile" ]; then echo "running $(cat "$tokenfile")"; exit 0; fi
case "$dir" in "~") dir=. ;; "~/"*) dir="${dir#??}" ;; esac
if ! [ -x "$FLUIDSTACK_JUPYTER_VENV/bin/jupyter-lab" ] && ! command -v jupyter-lab >/dev/null
then
  echo "Installing JupyterLab into $FLUIDSTACK_JUPYTER_VENV ..." >&2
  sh -c "$install" >&2
fi
FLUIDSTACK_JUPYTER_DIR="$(cd && cd "$dir" && pwd)"
FLUIDSTACK_JUPYTER_TOKEN="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
export FLUIDSTACK_JUPYTER_DIR FLUIDSTACK_JUPYTER_TOKEN
printf '%s\n' "$FLUIDSTACK_JUPYTER_TOKEN" > "$tokenfile"
cd "$FLUIDSTACK_JUPYTER_DIR"
nohup sh -c "$start" </dev/null >"$log" 2>&1 &
echo $! > "$pidfile"
i=0
until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" \
    2>/dev/null; do
  if ! alive; then
    echo "JupyterLab exited at start; the end of $log:" >&2; tail -n 20 "$log" >&2; exit 3
  fi
  i=$((i + 1))
  if [ "$i" -gt "$wait_tenths" ]; then
    echo "nothing answered on port $port in time; the end of $log:" >&2
    tail -n 20 "$log" >&2; exit 3
  fi
  sleep 0.1
done
echo "started $FLUIDSTACK_JUPYTER_TOKEN"
"""


def remote_script(
    port: int, directory: str, install: str, start: str, action: str = "start",
    wait_seconds: float = 120.0,
) -> str:  # fmt: skip
    """:data:`REMOTE_SCRIPT` with its inputs set (each quoted for the shell)."""
    values = {
        "port": str(port),
        "dir": directory,
        "install": install,
        "start": start,
        "action": action,
        "wait_tenths": str(int(wait_seconds * 10)),
    }
    header = "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())
    return header + REMOTE_SCRIPT


def _run_remote(resource: Any, instance: Any, script: str, key: Optional[str]) -> str:
    """Run ``script`` on the instance; its last line (the install's output streams to
    stderr as it comes)."""
    stderr: Any = getattr(sys.stderr, "buffer", sys.stderr)
    with ssh_errors():
        result = resource.exec(instance, script, key_path=key, stderr=stderr)
    lines: List[str] = str(result.stdout).strip().splitlines()
    if result.exit_status != 0 or not lines:
        raise CliError(
            f"could not start JupyterLab on instance {getattr(instance, 'id', instance)} "
            f"(exit status {result.exit_status}; its messages are above)"
        )
    return lines[-1]


def _open_browser(state: CliState, url: str, no_browser: bool) -> None:
    # Never off a terminal: not in tests, scripts or CI, where a browser is nobody's.
    if no_browser or not sys.stdout.isatty() or not sys.stdin.isatty():
        return
    import webbrowser

    try:
        webbrowser.open(url)
    except Exception:  # no browser at all: the printed URL is enough
        state.info("Open the URL above in your browser.")


def add_jupyter(api: InstanceCommands, group: click.Group, prog: str) -> click.Command:
    """``jupyter INSTANCE [--port] [--dir] ...`` in ``group``, on ``api``'s instances."""

    def jupyter(
        state: CliState,
        instance_id: str,
        port: int,
        directory: str,
        local_port: Optional[int],
        no_browser: bool,
        stop: bool,
        install_command: Optional[str],
        start_command: Optional[str],
        identity: Optional[str],
        ssh_port: Optional[int] = None,
    ) -> None:
        import os

        resource = api.resource(state, ssh_port)
        instance = resource.get(api.resolve(state, instance_id))
        key = os.path.expanduser(identity) if identity else None
        script = remote_script(
            port,
            directory,
            install_command or DEFAULT_INSTALL,
            start_command or DEFAULT_START,
            "stop" if stop else "start",
        )
        outcome = _run_remote(resource, instance, script, key)
        if stop:
            done = "Stopped" if outcome == "stopped" else "No JupyterLab of this tool ran"
            state.info(f"{done} on port {port} of instance {instance.id}.")
            return
        verb, _, token = outcome.partition(" ")
        if verb not in ("running", "started") or not token:
            raise CliError(f"unexpected answer from the instance's start script: {outcome!r}")
        state.info(
            f"JupyterLab {'was already running' if verb == 'running' else 'started'} on "
            f"port {port} of instance {instance.id}."
        )
        local = port if local_port is None else local_port
        with contextlib.ExitStack() as stack:
            try:
                forwards = stack.enter_context(
                    open_forwards(resource, instance, [(local, port)], identity)
                )
            except CliError:  # the local port is taken
                if local_port is not None:
                    raise
                # The same port number here is only a convenience: any free one will do.
                forwards = stack.enter_context(
                    open_forwards(resource, instance, [(0, port)], identity)
                )
            url = f"{forwards[0].url}lab?token={token}"
            click.echo(url)
            sys.stdout.flush()
            _open_browser(state, url, no_browser)
            hold_until_interrupted(state, forwards)
        stop_hint = f"{prog} jupyter {instance_id} --stop"
        if port != 8888:
            stop_hint += f" --port {port}"
        state.info(f"JupyterLab keeps running on the instance; stop it with: {stop_hint}")

    help_text = f"""Run JupyterLab on an instance and open it here, until Ctrl-C.

    INSTANCE is an id or a name. Starts JupyterLab on the instance's loopback if it is
    not running there yet (installing it into a venv, ~/.fluidstack/jupyter/venv, when
    none is found), forwards its port here over SSH, prints the URL with its token and
    opens it in your browser (not with --no-browser, nor off a terminal). JupyterLab
    keeps running on the instance after Ctrl-C; --stop ends it.

    \b
    Examples:
      {prog} jupyter trainer
      {prog} jupyter trainer --port 8890 --dir work --no-browser
      {prog} jupyter trainer --stop
    """
    decorators: List[Any] = [
        group.command("jupyter", help=help_text),
        click.argument("instance_id", metavar="INSTANCE", shell_complete=api.complete_ids),
        click.option(
            "--port",
            type=click.IntRange(1, 65535),
            default=8888,
            metavar="PORT",
            show_default=True,
            help="Port JupyterLab listens on, on the instance.",
        ),
        click.option(
            "--dir",
            "directory",
            default=".",
            metavar="DIR",
            help="Folder JupyterLab opens, on the instance (relative: to the home; default: home).",
        ),
        click.option(
            "--local-port",
            type=click.IntRange(0, 65535),
            metavar="PORT",
            help="Port here (default: --port if free, else any free one; 0: any).",
        ),
        click.option("--no-browser", is_flag=True, help="Print the URL; do not open a browser."),
        click.option("--stop", is_flag=True, help="Stop the JupyterLab this started there."),
        click.option(
            "--install-command",
            envvar="FLUIDSTACK_JUPYTER_INSTALL",
            metavar="SHELL",
            help="Replaces the install step, run when no JupyterLab is found "
            "(env: FLUIDSTACK_JUPYTER_INSTALL).",
        ),
        click.option(
            "--start-command",
            envvar="FLUIDSTACK_JUPYTER_START",
            metavar="SHELL",
            help="Replaces the start command; it gets $FLUIDSTACK_JUPYTER_PORT, _TOKEN, "
            "_DIR (it runs there) and _VENV (env: FLUIDSTACK_JUPYTER_START).",
        ),
        *_with_ssh_port(api, [identity_option]),
        pass_state,
    ]
    return _decorate(jupyter, decorators)
