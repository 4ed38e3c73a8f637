"""``python -m fluidstack.emulator`` / ``fluidstack-emulator``: run the local API server.

The CLI team mounts the same flags as ``fluidstack emulator``: use :func:`add_arguments`
on a parser (or subparser) and :func:`run_from_args` on the parsed namespace.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, List, Optional, Tuple, TypeVar

from fluidstack.emulator.settings import (
    DEFAULT_ATLAS_REGIONS,
    DEV_API_KEY,
    DEV_ATLAS_CLIENT_ID,
    DEV_ATLAS_CLIENT_SECRET,
    DEV_ATLAS_USER_EMAIL,
    LOG_LEVELS,
    EmulatorSettings,
    check_allowed_host,
    parse_atlas_client,
    parse_atlas_user,
)
from fluidstack.emulator.throttle import parse_attempts

__all__ = ["add_arguments", "build_parser", "main", "run_from_args", "settings_from_args"]


T = TypeVar("T", int, float)


def _checked(
    convert: Callable[[str], T], noun: str, ok: Callable[[T], bool], rule: str
) -> Callable[[str], T]:
    """An argparse ``type=`` that converts, then checks a bound, with a clear message."""

    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    return parse


_fraction = _checked(float, "a number", lambda v: 0.0 <= v <= 1.0, "between 0 and 1")
_positive_float = _checked(float, "a number", lambda v: v > 0, "positive")
_port = _checked(int, "a port number", lambda v: 0 <= v <= 65535, "between 0 and 65535")
_positive_int = _checked(int, "an integer", lambda v: v >= 1, "at least 1")
_non_negative_int = _checked(int, "an integer", lambda v: v >= 0, "at least 0")


def _atlas_client(text: str) -> str:
    try:
        parse_atlas_client(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _atlas_user(text: str) -> str:
    try:
        parse_atlas_user(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _control_token(text: str) -> str:
    if not 8 <= len(text) <= 512 or not all(33 <= ord(c) <= 126 for c in text):
        raise argparse.ArgumentTypeError("must be 8-512 printable ASCII characters, no spaces")
    return text


def _allowed_host(text: str) -> str:
    try:
        return check_allowed_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _auth_attempts(text: str) -> Tuple[int, float]:
    try:
        return parse_attempts(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _region_list(text: str) -> List[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected region names separated by commas: {text!r}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the emulator's flags to ``parser`` (a parser or a subcommand's parser)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=8080, help="TCP port; 0 picks a free one (default 8080)"
    )
    parser.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        default=[],
        metavar="KEY",
        help=f"accept KEY, one account per key (repeatable; default: {DEV_API_KEY})",
    )
    parser.add_argument(
        "--db", metavar="PATH", help="SQLite file keeping state across restarts (default: memory)"
    )
    parser.add_argument(
        "--time-scale",
        type=_positive_float,
        default=100.0,
        metavar="FACTOR",
        help="simulated seconds per real second (default 100)",
    )
    parser.add_argument(
        "--manual-clock",
        action="store_true",
        help="simulated time moves only via POST /_emulator/clock/advance",
    )
    parser.add_argument("--seed", type=int, help="seed for ids, names and failures")
    parser.add_argument(
        "--failure-rate",
        type=_fraction,
        default=0.02,
        metavar="FRACTION",
        help="fraction of provisions that end failed (default 0.02)",
    )
    parser.add_argument(
        "--page-size",
        type=_positive_int,
        default=100,
        metavar="N",
        help="instances per page of GET /instances (default 100)",
    )
    parser.add_argument(
        "--initial-balance",
        type=float,
        default=1000.0,
        metavar="USD",
        help="balance of every account at start and after a reset (default 1000)",
    )
    parser.add_argument(
        "--atlas-client",
        dest="atlas_clients",
        action="append",
        type=_atlas_client,
        default=[],
        metavar="ID:SECRET",
        help="accept this Atlas OAuth client, one organization per client (repeatable; "
        f"default: {DEV_ATLAS_CLIENT_ID}:{DEV_ATLAS_CLIENT_SECRET})",
    )
    parser.add_argument(
        "--atlas-user",
        dest="atlas_users",
        action="append",
        type=_atlas_user,
        default=[],
        metavar="EMAIL:PASSWORD[:CLIENT_ID]",
        help="an Atlas user who logs in at /authorize, a member of the first --atlas-client's "
        "organization or of CLIENT_ID's (repeatable; default: "
        f"{DEV_ATLAS_USER_EMAIL} with a random password, shown at start)",
    )
    parser.add_argument(
        "--atlas-regions",
        type=_region_list,
        default=list(DEFAULT_ATLAS_REGIONS),
        metavar="A,B,...",
        help=f"Atlas regions to serve (default {','.join(DEFAULT_ATLAS_REGIONS)})",
    )
    parser.add_argument(
        "--token-ttl",
        type=_positive_float,
        default=3600.0,
        metavar="SECONDS",
        help="lifetime of Atlas access tokens, in real (wall-clock) seconds (default 3600)",
    )
    parser.add_argument(
        "--auth-attempts",
        type=_auth_attempts,
        default=(10, 60.0),
        metavar="N/SECONDS",
        help="failed logins of one client id or e-mail allowed per SECONDS (real) at "
        "/oauth/token and /authorize before 429 with Retry-After; 0 turns it off "
        "(default 10/60)",
    )
    parser.add_argument(
        "--atlas-max-projects",
        type=_non_negative_int,
        default=100,
        metavar="N",
        help="projects one Atlas organization may hold; 0 means no limit (default 100)",
    )
    parser.add_argument(
        "--ssh",
        action="store_true",
        help="every running instance answers SSH on loopback (needs fluidstack[ssh])",
    )
    parser.add_argument(
        "--ssh-port",
        type=_port,
        default=2222,
        metavar="PORT",
        help="SSH port of Atlas instances, each on its own loopback address; 0 picks a free "
        "one (default 2222)",
    )
    parser.add_argument(
        "--slurm",
        action="store_true",
        help="with --ssh: a real single-node Slurm on this machine behind every Slurm "
        "cluster's login node (needs the slurm-wlm and munge packages)",
    )
    parser.add_argument(
        "--import-state",
        metavar="FILE",
        help="start from this snapshot (GET /_emulator/state), replacing what --db held",
    )
    parser.add_argument(
        "--export-on-exit",
        metavar="FILE",
        help="write the state as a snapshot to FILE when the emulator stops",
    )
    parser.add_argument(
        "--export-secrets",
        action="store_true",
        help="--export-on-exit includes secrets (key hashes, sessions, tokens, signing key)",
    )
    parser.add_argument(
        "--no-control",
        dest="control",
        action="store_false",
        help="disable the /_emulator/* control API",
    )
    parser.add_argument(
        "--control-token",
        type=_control_token,
        metavar="TOKEN",
        help="what control-API requests must send in x-emulator-token "
        "(default: random, printed at start)",
    )
    parser.add_argument(
        "--stripe-webhook-secret",
        metavar="SECRET",
        help="the signing secret of POST /webhooks/stripe/payment_completed "
        "(default: random; GET /_emulator/payments/webhook-secret tells it)",
    )
    parser.add_argument(
        "--dev-login",
        dest="dev_login",
        action="store_const",
        const=True,
        default=None,
        help="accept this run's development login code at /auth/callback even with "
        "--no-control (it is on whenever the control API is)",
    )
    parser.add_argument(
        "--header-timeout",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="real seconds a client may take to send a request's headers (default 10)",
    )
    parser.add_argument(
        "--max-connections",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="open connections served at once (default 1000)",
    )
    parser.add_argument(
        "--body-timeout",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="real seconds a client may take to send a request's body (default 30)",
    )
    parser.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        type=_allowed_host,
        default=[],
        metavar="NAME[:PORT]",
        help="also answer requests whose Host is NAME (repeatable; default: only localhost, "
        "127.x.y.z, [::1] and the --host address; others get 421)",
    )

    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="worker processes; only 1 is supported: the state lives in one process",
    )
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default="info", help="logging level (default info)"
    )
    return parser


def build_parser(prog: str = "fluidstack-emulator") -> argparse.ArgumentParser:
    """The standalone command's parser."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A faithful, stateful local FluidStack API server (platform and Atlas). "
        "'%(prog)s replay FILE' replays a recorded journal (see its --help).",
    )
    return add_arguments(parser)


def settings_from_args(args: argparse.Namespace) -> EmulatorSettings:
    """Settings from a namespace parsed with :func:`add_arguments`' flags."""
    return EmulatorSettings(
        host=args.host,
        port=args.port,
        api_keys=list(args.api_keys),
        db_path=args.db,
        time_scale=args.time_scale,
        manual_clock=args.manual_clock,
        seed=args.seed,
        failure_rate=args.failure_rate,
        page_size=args.page_size,
        control=args.control,
        control_token=args.control_token,
        dev_login=args.dev_login,
        stripe_webhook_secret=args.stripe_webhook_secret,
        header_timeout=args.header_timeout,
        max_connections=args.max_connections,
        body_timeout=args.body_timeout,
        allowed_hosts=list(args.allowed_hosts),
        log_level=args.log_level,
        initial_balance=args.initial_balance,
        atlas_clients=list(args.atlas_clients),
        atlas_users=list(args.atlas_users),
        atlas_regions=list(args.atlas_regions),
        token_ttl=args.token_ttl,
        auth_attempt_limit=args.auth_attempts[0],
        auth_attempt_window=args.auth_attempts[1],
        atlas_max_projects=args.atlas_max_projects,
        ssh=args.ssh,
        ssh_port=args.ssh_port,
        slurm=getattr(args, "slurm", False),
        import_state=args.import_state,
        export_on_exit=args.export_on_exit,
        export_secrets=args.export_secrets,
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run the emulator in the foreground until Ctrl-C or SIGTERM; the exit status."""
    from fluidstack.emulator.server import run_forever

    workers = getattr(args, "workers", 1)
    if workers != 1:
        print(
            f"fluidstack-emulator: --workers {workers}: the emulator runs as one process. "
            "Its state lives in that process's memory (--db is a durable copy it writes "
            "through, not shared storage), so several workers would each answer from their "
            "own state. One process serves thousands of requests per second; run several "
            "emulators on different ports (and files) for isolation.",
            file=sys.stderr,
            flush=True,
        )
        return 2
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"fluidstack-emulator: {exc}", flush=True)
        return 2
    if settings.slurm:
        from fluidstack.emulator.slurm import INSTALL_HINT, missing_programs

        missing = missing_programs()
        if missing:
            print(
                f"fluidstack-emulator: --slurm needs Slurm and munge on this machine "
                f"({', '.join(missing)} not found): install the packages slurm-wlm and "
                f"munge (`{INSTALL_HINT}`)",
                file=sys.stderr,
                flush=True,
            )
            return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.ssh:
        _hangup_stops()
    from fluidstack.emulator.snapshot import SnapshotError

    try:
        return run_forever(settings)
    except SnapshotError as exc:
        print(f"fluidstack-emulator: --import-state: {exc}", file=sys.stderr, flush=True)
        return 2
    except RuntimeError as exc:
        from fluidstack.emulator.slurm import SlurmUnavailable

        if not isinstance(exc, SlurmUnavailable):
            raise
        print(f"fluidstack-emulator: --slurm: {exc}", file=sys.stderr, flush=True)
        return 2


def _hangup_stops() -> None:
    """A closed terminal (SIGHUP) stops the emulator as SIGTERM does, so that its
    instances' processes end with it; under ``nohup`` (SIGHUP ignored) it stays ignored."""
    import os
    import signal

    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) is signal.SIG_DFL:
        signal.signal(hangup, lambda signum, frame: os.kill(os.getpid(), signal.SIGTERM))


def main(argv: Optional[List[str]] = None) -> int:
    """Console entry point (``fluidstack-emulator replay FILE``: see emulator/replay.py)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["replay"]:
        from fluidstack.emulator.replay import main as replay_main

        return replay_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return run_from_args(args)
    except ImportError as exc:
        from fluidstack._extras import missing_extra

        command = missing_extra(exc)
        if command is None:
            raise
        print(
            f"fluidstack-emulator: the emulator needs its extra ({exc.name} is missing): {command}",
            file=sys.stderr,
            flush=True,
        )
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
