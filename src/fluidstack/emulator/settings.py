"""Emulator settings: one dataclass shared by the command line, the app factory and tests."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

__all__ = [
    "DEFAULT_ATLAS_REGIONS",
    "DEV_API_KEY",
    "DEV_ATLAS_CLIENT_ID",
    "DEV_ATLAS_CLIENT_SECRET",
    "DEV_ATLAS_PUBLIC_CLIENT_ID",
    "DEV_ATLAS_USER_EMAIL",
    "FLUIDCTL_PUBLIC_CLIENT_ID",
    "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_STATE_BYTES",
    "EmulatorSettings",
    "check_allowed_host",
]

DEV_API_KEY = "fs-emulator-dev-key"
"""The documented development key, accepted when no ``--api-key`` is given."""

DEV_ATLAS_CLIENT_ID = "fs-emulator-client"
"""The Atlas development client, accepted when no ``--atlas-client`` is given."""

DEV_ATLAS_CLIENT_SECRET = "fs-emulator-secret"
"""The development client's secret."""

DEV_ATLAS_PUBLIC_CLIENT_ID = "fs-emulator-cli"
"""The public (secret-less) OAuth client of the browser login (authorization code with
PKCE), as ``fluidctl``'s built-in client is on the real service."""

FLUIDCTL_PUBLIC_CLIENT_ID = "diPhN35HH6jVXs615vsafkdIQM4Y5rF8"
"""fluidctl's built-in public client id (its redirect is ``http://localhost:5173``, its
scopes ``openid profile email offline_access``, PKCE S256; NOTES.md section 3), accepted
as a second public client so that fluidctl's own browser login works unchanged."""

DEV_ATLAS_USER_EMAIL = "dev@emulator.local"
"""The development user, who exists when no ``--atlas-user`` is given. Its password is
drawn from ``secrets`` on every start and announced once on stderr: it is never fixed."""

DEFAULT_ATLAS_REGIONS = ("eu-north-1", "us-east-1")
"""The Atlas regions served when no ``--atlas-regions`` is given."""

_REGION_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted (API and control API); larger ones answer 413 and store
nothing."""

MAX_STATE_BYTES = 512 * 1024 * 1024
"""Largest snapshot ``PUT /_emulator/state`` takes (a control call: the token holder's)."""
MAX_HEADER_BYTES = 32 * 1024
"""Largest request head (request line and headers) accepted; larger ones answer 431, as
real servers do (nginx, Node and Go refuse between 8 and 64 KiB)."""

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass
class EmulatorSettings:
    """Everything that shapes one emulator instance. Mirrors the command-line flags."""

    host: str = "127.0.0.1"
    """Interface to listen on."""
    port: int = 8080
    """TCP port; 0 picks a free one."""
    api_keys: List[str] = field(default_factory=list)
    """Accepted API keys, one account each; empty means ``[DEV_API_KEY]``."""
    db_path: Optional[str] = None
    """SQLite file that keeps state across restarts; ``None`` keeps it in memory."""
    time_scale: float = 100.0
    """How many simulated seconds pass per real second (ignored with ``manual_clock``)."""
    manual_clock: bool = False
    """Simulated time moves only through ``POST /_emulator/clock/advance``."""
    seed: Optional[int] = None
    """Seed for ids, names, addresses and provisioning failures (deterministic runs)."""
    failure_rate: float = 0.02
    """Fraction of provisions that end ``failed``."""
    page_size: int = 100
    """Instances per page of ``GET /instances``."""
    control: bool = True
    """Serve the ``/_emulator/*`` control API."""
    control_token: Optional[str] = field(default=None, repr=False)
    """What every control-API request must send in ``x-emulator-token``; ``None`` draws
    one from ``secrets`` (announced on stderr by the command). Left out of the repr."""
    stripe_webhook_secret: Optional[str] = field(default=None, repr=False)
    """The signing secret (``whsec_...``) of ``POST /webhooks/stripe/payment_completed``;
    ``None`` draws one from ``secrets`` (the control API tells it). Left out of the repr."""
    dev_login: Optional[bool] = None
    """Accept this run's (random) platform development login code at ``/auth/callback``;
    ``None`` means: only while the control API is on."""
    header_timeout: float = 10.0
    """Real seconds a client may take to send a request's head; then 408 and close."""
    max_connections: int = 1000
    """Open connections served at once; past it the connection that has waited longest
    for a request is closed (then the slowest request body still arriving; with neither,
    the new one gets 503)."""
    body_timeout: float = 30.0
    """Real seconds a client may take to send a request's body, counted from the end of
    its head; then 408 and close (a stalled body must not hold a connection forever)."""
    allowed_hosts: List[str] = field(default_factory=list)
    """Names (``Host`` header values, with or without port) accepted besides the loopback
    names and the address listened on; any other ``Host`` is refused with 421 (a web
    page whose name rebinds to 127.0.0.1 must not drive the emulator)."""

    log_level: str = "info"
    """Logging level of the emulator and uvicorn."""
    initial_balance: float = 1000.0
    """Balance (USD) of every account at start and after a reset."""
    atlas_clients: List[str] = field(default_factory=list, repr=False)
    """Atlas OAuth clients as ``"ID:SECRET"``, one organization each; empty means the
    development client ``fs-emulator-client:fs-emulator-secret``. Left out of the repr:
    it holds secrets."""
    atlas_regions: List[str] = field(default_factory=lambda: list(DEFAULT_ATLAS_REGIONS))
    """Names of the Atlas regions served, each at ``/regions/<name>``."""
    token_ttl: float = 3600.0
    """Lifetime of Atlas access tokens in real (wall-clock) seconds: ``iat``/``exp`` and
    ``expires_in`` agree with a client's clock, whatever the simulated time does."""
    atlas_users: List[str] = field(default_factory=list, repr=False)
    """Atlas users who log in through ``/authorize``, as ``"EMAIL:PASSWORD"`` (a member of
    the first client's organization) or ``"EMAIL:PASSWORD:CLIENT_ID"`` (of that client's);
    empty means the development user ``dev@emulator.local`` with a random password.
    Left out of the repr: it holds passwords."""

    auth_attempt_limit: int = 10
    """Failed logins of one client id or e-mail allowed per ``auth_attempt_window`` at
    ``/oauth/token`` and ``/authorize`` before 429 (an address: ten times as many); 0 turns
    the throttle off (see :mod:`fluidstack.emulator.throttle`)."""
    auth_attempt_window: float = 60.0
    """The throttle's window, and the length of a lock-out, in real seconds."""
    atlas_max_projects: int = 100
    """Projects one Atlas organization may hold at once (inferred; 0: no limit)."""

    ssh: bool = False
    """Every running instance answers SSH on loopback (needs the ``[ssh]`` extra)."""
    ssh_port: int = 2222
    """The port every Atlas instance's sshd shares (each instance has its own loopback
    address; 0 picks a free one); platform instances each get a port of their own (their
    ``ssh_port`` field)."""

    slurm: bool = False
    """A real single-node Slurm (munged, slurmctld, slurmd) behind every Slurm cluster's
    login node (needs ``ssh`` and the ``slurm-wlm`` and ``munge`` packages)."""

    import_state: Optional[str] = None
    """A snapshot file (``GET /_emulator/state``) the state starts from, replacing what
    ``--db`` held (and committed to it)."""
    export_on_exit: Optional[str] = None
    """Where the state is written as a snapshot when the emulator stops."""
    export_secrets: bool = False
    """``export_on_exit`` includes secrets (key hashes, sessions, tokens, signing key)."""

    def __post_init__(self) -> None:
        if not 0 <= self.ssh_port <= 65535:
            raise ValueError(f"ssh_port must be between 0 and 65535, got {self.ssh_port}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {self.port}")
        if not self.time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {self.time_scale}")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be between 0 and 1, got {self.failure_rate}")
        if self.page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {self.page_size}")
        if self.log_level.lower() not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
        self.log_level = self.log_level.lower()
        for key in self.api_keys:
            if not key or key != key.strip():
                raise ValueError("API keys must be non-empty and have no surrounding spaces")
        if len(set(self.api_keys)) != len(self.api_keys):
            raise ValueError("the same API key was given twice")
        client_ids = [client_id for client_id, _ in self.effective_atlas_clients]
        if len(set(client_ids)) != len(client_ids):
            raise ValueError("the same Atlas client id was given twice")
        if not self.atlas_regions:
            raise ValueError("at least one Atlas region is needed")
        for name in self.atlas_regions:
            if not _REGION_NAME.match(name):
                raise ValueError(
                    f"invalid Atlas region name {name!r}: use 1-63 lowercase letters, "
                    "digits and '-', starting and ending with a letter or digit"
                )
        if len(set(self.atlas_regions)) != len(self.atlas_regions):
            raise ValueError("the same Atlas region was given twice")
        if not self.token_ttl > 0:
            raise ValueError(f"token_ttl must be positive, got {self.token_ttl}")
        if self.auth_attempt_limit < 0 or not self.auth_attempt_window > 0:
            raise ValueError("auth attempts must be N >= 0 per a positive number of seconds")
        if self.atlas_max_projects < 0:
            raise ValueError(f"atlas_max_projects must be >= 0, got {self.atlas_max_projects}")
        if not self.header_timeout > 0:
            raise ValueError(f"header_timeout must be positive, got {self.header_timeout}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections}")
        if not self.body_timeout > 0:
            raise ValueError(f"body_timeout must be positive, got {self.body_timeout}")
        if self.slurm and not self.ssh:
            raise ValueError("--slurm needs --ssh: Slurm is reached through a login node's SSH")
        self.allowed_hosts = [check_allowed_host(name) for name in self.allowed_hosts]
        self.control_token_generated = self.control_token is None
        """Whether the control token was drawn here (and is then announced at start)."""
        if self.control_token is None:
            # Hex, not URL-safe base64: a token starting with "-" would be taken for a
            # flag when passed back as `--control-token TOKEN` (the bench did, and failed).
            self.control_token = secrets.token_hex(24)
        elif not 8 <= len(self.control_token) <= 512 or not all(
            33 <= ord(c) <= 126 for c in self.control_token
        ):
            raise ValueError("a control token must be 8-512 printable ASCII characters, no spaces")
        if self.stripe_webhook_secret is None:
            self.stripe_webhook_secret = "whsec_" + secrets.token_urlsafe(24)
        elif not self.stripe_webhook_secret.strip():
            raise ValueError("the Stripe webhook secret must not be empty")
        emails = [email.lower() for email, _, _ in self.effective_atlas_users]
        if len(set(emails)) != len(emails):
            raise ValueError("the same Atlas user e-mail was given twice")
        known = set(client_ids)
        for _, _, client_id in self.effective_atlas_users:
            if client_id is not None and client_id not in known:
                raise ValueError(
                    f"an Atlas user names the client {client_id!r}, which is not one of the "
                    "--atlas-client clients"
                )

    @property
    def dev_login_enabled(self) -> bool:
        """Whether the platform development login code is accepted."""
        return self.control if self.dev_login is None else self.dev_login

    @property
    def effective_api_keys(self) -> List[str]:
        """The keys of the accounts that exist from the start (and survive resets)."""
        return list(self.api_keys) if self.api_keys else [DEV_API_KEY]

    @property
    def effective_atlas_clients(self) -> List[Tuple[str, str]]:
        """``(client id, secret)`` of the organizations that exist from the start."""
        if not self.atlas_clients:
            return [(DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET)]
        return [parse_atlas_client(text) for text in self.atlas_clients]

    @property
    def effective_atlas_regions(self) -> List[str]:
        return list(self.atlas_regions)

    @property
    def effective_atlas_users(self) -> List[Tuple[str, str, Optional[str]]]:
        """``(email, password, client id or None)`` of the users given on the command line
        (empty when the development user stands in: its password is made at start)."""
        return [parse_atlas_user(text) for text in self.atlas_users]


def check_allowed_host(text: str) -> str:
    """An ``--allowed-host`` name, lowercased: a host name or address as a ``Host``
    header carries it (``[::1]`` for IPv6), optionally with ``:PORT``."""
    name = text.strip().lower()
    if not name or len(name) > 255 or not _ALLOWED_HOST.match(name):
        raise ValueError(
            f"an allowed host must be a host name or address, optionally with :PORT "
            f"(IPv6 in brackets), got {text[:80]!r}"
        )
    return name


_ALLOWED_HOST = re.compile(r"^(?:[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$")


def parse_atlas_client(text: str) -> Tuple[str, str]:
    """``"ID:SECRET"`` → ``(ID, SECRET)``; the error never repeats the secret."""
    client_id, sep, secret = text.partition(":")
    if not sep or not client_id or not secret:
        raise ValueError("an Atlas client must be given as ID:SECRET (both non-empty)")
    if client_id != client_id.strip() or any(c.isspace() or ord(c) < 32 for c in client_id):
        raise ValueError("an Atlas client id must have no spaces or control characters")
    if secret != secret.strip() or any(ord(c) < 32 for c in secret):
        raise ValueError("an Atlas client secret must have no surrounding spaces")
    return client_id, secret


_EMAIL = re.compile(r"^[^@\s:]+@[^@\s:]+$")


def parse_atlas_user(text: str) -> Tuple[str, str, Optional[str]]:
    """``"EMAIL:PASSWORD[:CLIENT_ID]"`` → ``(EMAIL, PASSWORD, CLIENT_ID or None)``.

    On the command line a password cannot contain ``:`` (the control API takes any). The
    error never repeats the password.
    """
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(
            "an Atlas user must be given as EMAIL:PASSWORD or EMAIL:PASSWORD:CLIENT_ID "
            "(all non-empty; the password cannot contain ':' here)"
        )
    email, password = parts[0], parts[1]
    if not _EMAIL.match(email) or len(email) > 320:
        raise ValueError(f"an Atlas user's e-mail must look like name@domain, got {email[:80]!r}")
    check_password(password)
    return email, password, parts[2] if len(parts) == 3 else None


def check_password(password: str) -> None:
    """Refuse a password that could not be typed into a login form (never echoing it)."""
    if not password or len(password) > 1024:
        raise ValueError("an Atlas user's password must be 1-1024 characters")
    if password != password.strip() or any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise ValueError(
            "an Atlas user's password must have no surrounding spaces or control characters"
        )
