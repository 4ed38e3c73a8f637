"""``pytest --fluidstack-target=live``: the plugin's client fixtures on the real service
(issue 27), with nothing left running afterwards.

A live session:

- builds ``fluidstack_client`` / ``atlas`` (and their async twins) from your own
  credentials: the platform API key from ``FLUIDSTACK_API_KEY``, else the CLI's profile
  (``--fluidstack-profile``, else ``FLUIDSTACK_PROFILE``, else ``default``, in
  ``~/.config/fluidstack/config.toml``); Atlas from ``FLUIDSTACK_CLIENT_ID`` /
  ``FLUIDSTACK_CLIENT_SECRET`` / ``FLUIDSTACK_REGION`` (or ``FLUIDSTACK_TOKEN``), else the
  profile's ``atlas`` table. ``--fluidstack-live-url`` (``FLUIDSTACK_LIVE_URL``) points
  both APIs at another address (a staging service, or an emulator standing in);
- names every instance and project created in the process with the run's prefix
  (``fs-test-`` and six hex digits, then ``-``; a name given gets it in front);
- refuses, before sending, any create or start that would take the hourly burn over
  ``--fluidstack-max-hourly-spend`` (USD, default 10; ``0`` turns the guard off). Atlas
  publishes no prices: give yours (``--fluidstack-atlas-prices '{"cpu.2x": 0.12}'`` or the
  profile's ``prices``), else every Atlas create is refused as unpriced;
- at its end, whether tests passed, failed or the run was interrupted (Ctrl-C, or
  SIGTERM as a CI cancel sends), sweeps with the SDK's spend-safety sweep: every
  platform instance named with the prefix is deleted, and in every project named with
  it (and the configured one), in every region, every instance named with it; then the
  prefixed projects are deleted. A second Ctrl-C does not cut the cleanup short.

Fixtures that need the emulator's control API (``emulator``, ``fluidstack_emulator``,
``snapshot_emulator``, ``ssh_emulator``, ...) skip, saying so.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional

import pytest

if TYPE_CHECKING:
    from fluidstack.atlas import Atlas
    from fluidstack.platform.client import FluidStack

__all__ = [
    "CONTROL_ONLY",
    "LIVE_URL_ENV",
    "LiveRun",
    "LiveSettings",
    "add_options",
    "live_settings",
    "register_marker",
    "target",
]

LIVE_URL_ENV = "FLUIDSTACK_LIVE_URL"
"""Both APIs' base URL in a live session (instead of FluidStack's own)."""

PREFIX_ROOT = "fs-test-"
"""Every run's prefix starts with it: a run killed outright (SIGKILL) leaves instances
``fluidstack instances sweep --name-prefix fs-test- --older-than 2h`` finds."""

DEFAULT_MAX_HOURLY_SPEND = "10"

SWEEP_POLL = 1.0
"""Seconds between the polls that confirm a cleanup delete."""

CONTROL_ONLY = (
    "needs the emulator's control API: skipped with --fluidstack-target=live "
    "(the tests run against the real service)"
)
"""Why the control-API fixtures skip in a live session."""


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("fluidstack", "FluidStack emulator and live tests")
    group.addoption(
        "--fluidstack-target",
        choices=("emulator", "live"),
        default="emulator",
        help="run the fluidstack fixtures against the local emulator (default) or the "
        "real service with your credentials ('live': everything made is deleted at the end)",
    )
    group.addoption(
        "--fluidstack-live-url",
        default=None,
        metavar="URL",
        help=f"live: both APIs' base URL instead of FluidStack's (env {LIVE_URL_ENV})",
    )
    group.addoption(
        "--fluidstack-profile",
        default=None,
        help="live: the CLI profile whose credentials are used when the environment has none",
    )
    group.addoption(
        "--fluidstack-max-hourly-spend",
        default=DEFAULT_MAX_HOURLY_SPEND,
        metavar="USD",
        help="live: creates and starts over this hourly burn are refused before they are "
        f"sent (default {DEFAULT_MAX_HOURLY_SPEND}; 0 turns the guard off)",
    )
    group.addoption(
        "--fluidstack-atlas-prices",
        default=None,
        metavar="JSON",
        help='live: Atlas prices, USD per hour by instance type ({"cpu.2x": 0.12}), for '
        "the spend guard (Atlas publishes none)",
    )


def register_marker(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "live: a test of the real service, run only with --fluidstack-target=live"
    )


def target(config: pytest.Config) -> str:
    """``"emulator"`` or ``"live"``."""
    return str(config.getoption("--fluidstack-target", default="emulator") or "emulator")


@dataclass
class LiveSettings:
    """Where a live session goes and with what."""

    prefix: str
    api_key: Optional[str] = field(default=None, repr=False)
    base_url: Optional[str] = None
    atlas: Dict[str, Any] = field(default_factory=dict, repr=False)
    """Keyword arguments of ``Atlas(...)`` (only those known; the rest from the
    environment, as the SDK reads it)."""
    max_hourly_spend: Optional[Decimal] = None
    atlas_prices: Optional[Dict[str, float]] = None


def live_settings(config: pytest.Config, environ: Optional[Dict[str, str]] = None) -> LiveSettings:
    """The session's settings from the options, the environment and the CLI profile."""
    env = dict(os.environ if environ is None else environ)
    prefix = f"{PREFIX_ROOT}{secrets.token_hex(3)}-"
    url = config.getoption("--fluidstack-live-url") or env.get(LIVE_URL_ENV) or None
    api_key, base_url, profile_atlas = _profile(config.getoption("--fluidstack-profile"), env)
    spend = Decimal(str(config.getoption("--fluidstack-max-hourly-spend")))
    prices_text = config.getoption("--fluidstack-atlas-prices")
    prices = json.loads(prices_text) if prices_text else profile_atlas.get("prices")
    atlas: Dict[str, Any] = {}
    for name in ("client_id", "client_secret", "region"):
        env_name = f"FLUIDSTACK_{name.upper()}"
        if not env.get(env_name) and profile_atlas.get(name):
            atlas[name] = profile_atlas[name]
    if url is not None:
        url = url.rstrip("/")
        base_url = url
        atlas.update(management_url=url, token_url=url + "/oauth/token")
    return LiveSettings(
        prefix=prefix,
        api_key=env.get("FLUIDSTACK_API_KEY") or api_key,
        base_url=base_url,
        atlas=atlas,
        max_hourly_spend=spend if spend > 0 else None,
        atlas_prices=prices,
    )


def _profile(name: Optional[str], env: Dict[str, str]) -> Any:
    """The CLI profile's API key, base URL and ``atlas`` table (empty without a file)."""
    from fluidstack.cli.config import ConfigError, load_config, resolve

    try:
        resolved = resolve(api_key=None, base_url=None, profile=name, environ=env)
        stored = load_config(resolved.path).profiles.get(resolved.profile) or {}
    except (ConfigError, OSError) as exc:
        raise pytest.UsageError(f"--fluidstack-target=live: {exc}") from None
    base_url = resolved.base_url if resolved.base_url_source != "default" else None
    table = stored.get("atlas")
    atlas: Dict[str, Any] = table if isinstance(table, dict) else {}
    return resolved.api_key, base_url, atlas


def _prefixed(prefix: str, name: Optional[str]) -> str:
    if name is None:
        return f"{prefix}{secrets.token_hex(4)}"
    return name if name.startswith(prefix) else prefix + name


def _naming(original: Callable[..., Any], prefix: str, is_async: bool) -> Callable[..., Any]:
    """``create`` with its ``name`` given the run's prefix."""
    if is_async:

        async def create_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs["name"] = _prefixed(prefix, kwargs.get("name"))
            return await original(self, *args, **kwargs)

        return create_async

    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["name"] = _prefixed(prefix, kwargs.get("name"))
        return original(self, *args, **kwargs)

    return create


class LiveRun:
    """One live session: its clients' settings, the naming of what it creates, and the
    cleanup at its end."""

    def __init__(self, settings: LiveSettings) -> None:
        self.settings = settings
        self.prefix = settings.prefix
        self._patch = pytest.MonkeyPatch()
        self._cleaned = False
        self.report: List[str] = []
        """What the cleanup did, line by line (shown at the end of the run)."""
        self._previous_sigterm: Any = None

    # -- the session ---------------------------------------------------------------------

    def start(self) -> None:
        """Name everything created from now on with the prefix; make SIGTERM (a CI
        cancel) stop the run as Ctrl-C does, so that the cleanup runs."""
        from fluidstack.atlas._async.instances_changes import AsyncInstanceChanges as AtlasAsync
        from fluidstack.atlas._async.projects import AsyncProjectsResource as ProjectsAsync
        from fluidstack.atlas._sync.instances_changes import InstanceChanges as AtlasSync
        from fluidstack.atlas._sync.projects import ProjectsResource as ProjectsSync
        from fluidstack.platform._async.instances_changes import (
            AsyncInstanceChanges as PlatformAsync,
        )
        from fluidstack.platform._sync.instances_changes import InstanceChanges as PlatformSync

        for cls, is_async in (
            (PlatformSync, False),
            (PlatformAsync, True),
            (AtlasSync, False),
            (AtlasAsync, True),
            (ProjectsSync, False),
            (ProjectsAsync, True),
        ):
            self._patch.setattr(cls, "create", _naming(cls.create, self.prefix, is_async))
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)

    def finish(self) -> None:
        """Clean up (once), then undo what :meth:`start` changed."""
        try:
            self.cleanup()
        finally:
            self._patch.undo()
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
                self._previous_sigterm = None

    # -- clients -------------------------------------------------------------------------

    def platform_client(self) -> FluidStack:
        from fluidstack.platform.client import FluidStack

        if not self.settings.api_key:
            pytest.skip("live: no platform API key (set FLUIDSTACK_API_KEY or a CLI profile)")
        return FluidStack(
            api_key=self.settings.api_key,
            base_url=self.settings.base_url,
            max_hourly_spend=self.settings.max_hourly_spend,
        )

    def atlas_kwargs(self) -> Dict[str, Any]:
        kwargs = dict(self.settings.atlas)
        kwargs["max_hourly_spend"] = self.settings.max_hourly_spend
        kwargs["prices"] = self.settings.atlas_prices
        return kwargs

    def has_atlas_credentials(self) -> bool:
        """A client id and secret, or a token, in the settings or the environment (the
        SDK would only find out at the first call)."""
        given, env = self.settings.atlas, os.environ
        client = (given.get("client_id") or env.get("FLUIDSTACK_CLIENT_ID")) and (
            given.get("client_secret") or env.get("FLUIDSTACK_CLIENT_SECRET")
        )
        return bool(client or env.get("FLUIDSTACK_TOKEN"))

    def atlas_client(self) -> Atlas:
        from fluidstack.atlas import Atlas

        if not self.has_atlas_credentials():
            pytest.skip(
                "live: no Atlas credentials (set FLUIDSTACK_CLIENT_ID and "
                "FLUIDSTACK_CLIENT_SECRET, or FLUIDSTACK_TOKEN, or a CLI profile's atlas table)"
            )
        return Atlas(**self.atlas_kwargs())

    # -- the cleanup ---------------------------------------------------------------------

    def cleanup(self) -> None:
        """Delete every instance and project this run made (by its prefix). Ctrl-C is
        ignored meanwhile: an interrupted cleanup is what leaves instances running."""
        if self._cleaned:
            return
        self._cleaned = True
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            self._sweep_platform()
            self._sweep_atlas()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _note(self, line: str) -> None:
        self.report.append(line)

    def _sweep_platform(self) -> None:
        if not self.settings.api_key:
            return
        from fluidstack.platform.client import FluidStack

        try:
            with FluidStack(api_key=self.settings.api_key, base_url=self.settings.base_url) as c:
                result = c.instances.sweep(
                    name_prefix=self.prefix, dry_run=False, poll_interval=SWEEP_POLL
                )
        except Exception as exc:  # reported, never hidden: the user must look
            self._note(f"platform: the sweep failed ({exc!r}): check for {self.prefix}*")
            return
        self._note(f"platform: {len(result.deleted)} instance(s) deleted")
        for failure in result.failed:
            self._note(f"platform: could not delete {failure!r}")

    def _sweep_atlas(self) -> None:
        from fluidstack.atlas import Atlas

        if not self.has_atlas_credentials():
            return  # nothing can have been made there
        atlas = Atlas(**self.settings.atlas)
        deleted = projects = 0
        try:
            with atlas:
                made = [p for p in atlas.projects.list() if p.name.startswith(self.prefix)]
                ids = [p.id for p in made]
                configured = os.environ.get("FLUIDSTACK_PROJECT_ID")
                if configured and configured not in ids:
                    ids.append(configured)
                for region in [r.name for r in atlas.regions.list()]:
                    for project_id in ids:
                        view = atlas.with_options(region=region, project_id=project_id)
                        result = view.instances.sweep(
                            name_prefix=self.prefix, dry_run=False, poll_interval=SWEEP_POLL
                        )
                        deleted += len(result.deleted)
                        for failure in result.failed:
                            self._note(f"atlas: could not delete {failure!r}")
                for project in made:
                    atlas.projects.delete(project.id)
                    projects += 1
        except Exception as exc:
            self._note(f"atlas: the sweep failed ({exc!r}): check for {self.prefix}*")
            return
        self._note(f"atlas: {deleted} instance(s) and {projects} project(s) deleted")


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM during a live run: stop as Ctrl-C does (pytest then cleans up)."""
    raise KeyboardInterrupt


def summary(run: LiveRun) -> Iterator[str]:
    yield f"fluidstack live run {run.prefix}*: cleaned up"
    for line in run.report:
        yield f"  {line}"


def write_summary(run: LiveRun, write: Optional[Callable[[str], None]] = None) -> None:
    out = write if write is not None else (lambda line: print(line, file=sys.stderr))
    for line in summary(run):
        out(line)
