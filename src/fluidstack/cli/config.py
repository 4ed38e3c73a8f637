"""The CLI's configuration file and where credentials come from.

The file is TOML, one table per profile, with the Atlas settings of a profile in its
``atlas`` table (written by ``fluidstack atlas login`` and ``use``)::

    [profiles.default]
    api_key = "..."

    [profiles.default.atlas]
    login = "client_credentials"
    client_id = "..."
    client_secret = "..."
    region = "eu-north-1"

    [profiles.staging]
    api_key = "..."
    base_url = "https://staging.example.com"
    max_hourly_spend = "25"        # USD per hour: creates and starts over it are refused

    [profiles.staging.atlas]
    max_hourly_spend = 40          # Atlas needs your prices too (it publishes none):
    prices = { "cpu.2x" = 0.12, "h100-hgx-80gb.8x" = 24.0 }   # USD per hour, by type

It lives at ``$FLUIDSTACK_CONFIG``, else ``$XDG_CONFIG_HOME/fluidstack/config.toml``, else
``~/.config/fluidstack/config.toml``. It is created with mode 0600 (never loosened and
then tightened), and a file that group or others can read is refused with a warning.

Precedence, highest first: the ``--api-key``/``--base-url`` flags; the profile named with
``--profile``; the ``FLUIDSTACK_API_KEY``/``FLUIDSTACK_BASE_URL`` environment variables;
the profile named by ``FLUIDSTACK_PROFILE`` (else ``default``) in the file.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional

__all__ = [
    "API_KEY_ENV",
    "ATLAS_CREDENTIAL_KEYS",
    "ATLAS_KEYS",
    "BASE_URL_ENV",
    "CONFIG_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_PROFILE",
    "PROFILE_ENV",
    "ConfigError",
    "ConfigFile",
    "Resolved",
    "config_path",
    "load_config",
    "resolve",
    "save_profile",
]

CONFIG_ENV = "FLUIDSTACK_CONFIG"
PROFILE_ENV = "FLUIDSTACK_PROFILE"
API_KEY_ENV = "FLUIDSTACK_API_KEY"
BASE_URL_ENV = "FLUIDSTACK_BASE_URL"
DEFAULT_PROFILE = "default"
DEFAULT_BASE_URL = "https://platform.fluidstack.io"
_KEYS = ("api_key", "base_url", "max_hourly_spend")
ATLAS_CREDENTIAL_KEYS = (
    "login",
    "client_id",
    "client_secret",
    "token",
    "refresh_token",
    "token_expires_at",
    "region_urls",
    "region_urls_for",
)
"""What ``atlas login`` stores and ``atlas logout`` removes (``region_urls``, a table of
region name -> URL, is kept with the token so that a command needs no ``GET /regions``;
``region_urls_for`` is the management URL it was read from)."""
ATLAS_KEYS = (
    *ATLAS_CREDENTIAL_KEYS,
    "management_url",
    "token_url",
    "region_url",
    "region",
    "project_id",
    "max_hourly_spend",
    "prices",
)
"""What a profile's ``atlas`` table may hold (``prices`` is a table: type -> USD/hour)."""


class ConfigError(Exception):
    """The configuration file cannot be used (unreadable, not TOML, unknown profile)."""


def config_path(environ: Optional[Mapping[str, str]] = None) -> Path:
    """Where the configuration file is (it may not exist)."""
    env = os.environ if environ is None else environ
    override = env.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    xdg = env.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "fluidstack" / "config.toml"


@dataclass
class ConfigFile:
    """The parsed file: its profiles, and why it was ignored if it was."""

    path: Path
    profiles: Dict[str, Dict[str, str]] = field(default_factory=dict)
    atlas: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    """Each profile's Atlas settings (strings, and the token's expiry as a number)."""
    exists: bool = False
    refused: Optional[str] = None
    """Why the file's contents are not used (too open permissions), else ``None``."""


def _insecure_mode(path: Path) -> Optional[str]:
    """A warning if group or others may read or write ``path`` (POSIX only)."""
    if os.name != "posix":
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return (
            f"ignoring {path}: it is readable by others (mode {mode:04o}); "
            f"run `chmod 600 {path}` or `fluidstack configure` to rewrite it"
        )
    return None


def _parse_toml(text: str) -> Dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    data: Dict[str, Any] = tomllib.loads(text)
    return data


def load_config(path: Optional[Path] = None, *, ignore_permissions: bool = False) -> ConfigFile:
    """Read the configuration file. A missing file is an empty configuration.

    A file readable by group or others is refused (``refused`` says why and ``profiles``
    is empty) unless ``ignore_permissions``, which ``configure`` uses to keep the other
    profiles when it rewrites the file with safe permissions.
    """
    path = config_path() if path is None else path
    config = ConfigFile(path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return config
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    config.exists = True
    refused = _insecure_mode(path)
    if refused is not None and not ignore_permissions:
        config.refused = refused
        return config
    try:
        data = _parse_toml(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table")
    for name, values in profiles.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: profile {name!r} must be a table")
        config.profiles[name] = {k: _text(v) for k, v in values.items() if k in _KEYS and _text(v)}
        atlas = values.get("atlas")
        if isinstance(atlas, dict):
            config.atlas[name] = {
                k: v
                for k, v in atlas.items()
                if k in ATLAS_KEYS
                and (
                    isinstance(v, (str, int, float))
                    or (k in ("prices", "region_urls") and isinstance(v, dict))
                )
                and v != ""
            }
    return config


def _text(value: Any) -> str:
    """A profile setting as text: strings as they are, numbers (``max_hourly_spend = 25``)
    as written; anything else is ignored (``""``)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, (int, float)) else ""


def save_profile(
    path: Path,
    profile: str,
    values: Mapping[str, Any],
    *,
    section: Optional[str] = None,
    replace: bool = False,
) -> None:
    """Set ``values`` in ``profile`` (a ``None`` or empty value removes the entry).

    ``section="atlas"`` writes the profile's Atlas table instead; ``replace`` empties the
    table first (``values={}`` with ``replace`` removes it). The other profiles and
    sections are kept. The new file is written next to the old one with
    ``os.open(..., 0o600)`` and moved into place, so it is never readable by others,
    not even for a moment, and a crash never leaves half a file.
    """
    import tomli_w

    existing = load_config(path, ignore_permissions=True)
    profiles: Dict[str, Dict[str, Any]] = {
        name: dict(vals) for name, vals in existing.profiles.items()
    }
    atlas = {name: dict(vals) for name, vals in existing.atlas.items()}
    allowed = ATLAS_KEYS if section == "atlas" else _KEYS
    if section not in (None, "atlas"):
        raise ValueError(f"unknown section {section!r}")
    profiles.setdefault(profile, {})
    entry = atlas.setdefault(profile, {}) if section == "atlas" else profiles[profile]
    if replace:
        entry.clear()
    for key, value in values.items():
        if key not in allowed:
            raise ValueError(f"unknown setting {key!r}")
        if value is not None and value != "":
            entry[key] = value
        else:
            entry.pop(key, None)
    tables: Dict[str, Any] = {}
    for name, vals in profiles.items():
        table: Dict[str, Any] = dict(vals)
        if atlas.get(name):
            table["atlas"] = atlas[name]
        tables[name] = table
    document = tomli_w.dumps({"profiles": tables}).encode("utf-8")

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileExistsError:
        tmp.unlink()
        fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(document)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise


@dataclass(frozen=True)
class Resolved:
    """The settings a command will use, and where each came from. Never shows the key."""

    profile: str
    profile_source: str
    """``flag``, ``env`` or ``default``."""
    path: Path
    api_key: Optional[str] = field(repr=False)
    api_key_source: Optional[str]
    """``flag``, ``env``, ``file`` or ``None`` (no key anywhere)."""
    base_url: str
    base_url_source: str
    """``flag``, ``env``, ``file`` or ``default``."""
    file_refused: Optional[str] = None
    max_hourly_spend: Optional[str] = None
    """The profile's spend limit, USD per hour (``None``: none)."""
    config: Optional[ConfigFile] = field(default=None, repr=False, compare=False)
    """The file as read for these settings, so that a command needing more of it (the
    profile's ``atlas`` table) does not parse it again."""


def resolve(
    *,
    api_key: Optional[str],
    base_url: Optional[str],
    profile: Optional[str],
    environ: Optional[Mapping[str, str]] = None,
    warn: Optional[Callable[[str], None]] = None,
    require_profile: bool = True,
) -> Resolved:
    """Work out the API key and base URL from flags, environment and file.

    ``profile`` is the ``--profile`` flag's value. A profile chosen explicitly (by flag or
    ``FLUIDSTACK_PROFILE``) must exist in the file when ``require_profile``.
    """
    env = os.environ if environ is None else environ
    path = config_path(env)
    if profile:
        profile_name, profile_source = profile, "flag"
    elif env.get(PROFILE_ENV):
        profile_name, profile_source = env[PROFILE_ENV], "env"
    else:
        profile_name, profile_source = DEFAULT_PROFILE, "default"

    config = load_config(path)
    if config.refused and warn is not None:
        warn(config.refused)
    stored = config.profiles.get(profile_name)
    if (
        stored is None
        and require_profile
        and profile_source != "default"
        and config.refused is None
    ):
        known = ", ".join(sorted(config.profiles)) or "none"
        raise ConfigError(
            f"profile {profile_name!r} is not in {path} (profiles: {known}); "
            f"create it with `fluidstack --profile {profile_name} configure`"
        )
    stored = stored or {}
    explicit_profile = profile_source == "flag"

    def pick(flag: Optional[str], key: str, env_name: str) -> tuple[Optional[str], Optional[str]]:
        if flag:
            return flag, "flag"
        if explicit_profile and stored.get(key):
            return stored[key], "file"
        if env.get(env_name):
            return env[env_name], "env"
        if stored.get(key):
            return stored[key], "file"
        return None, None

    key_value, key_source = pick(api_key, "api_key", API_KEY_ENV)
    url_value, url_source = pick(base_url, "base_url", BASE_URL_ENV)
    return Resolved(
        profile=profile_name,
        profile_source=profile_source,
        path=path,
        api_key=key_value,
        api_key_source=key_source,
        base_url=url_value or DEFAULT_BASE_URL,
        base_url_source=url_source or "default",
        file_refused=config.refused,
        max_hourly_spend=stored.get("max_hourly_spend"),
        config=config,
    )
