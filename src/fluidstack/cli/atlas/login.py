"""``fluidstack atlas login``, ``logout``, ``whoami`` and ``use``."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

import click

from ..state import CliError, CliState, InputError, output_options, pass_state, stdin_is_terminal
from .completion import complete_projects, complete_regions
from .session import (
    CREDENTIAL_KEYS,
    AtlasSettings,
    atlas_client,
    resolve_atlas,
    save_atlas,
    unauthenticated,
)

if TYPE_CHECKING:
    from fluidstack.atlas import Atlas

__all__ = ["login", "logout", "use", "whoami"]

FLUIDCTL_PORT = 5173
"""The redirect port FluidStack's public CLI client is registered with (as fluidctl)."""

_DONE_PAGE = (
    b"<!DOCTYPE html><html><head><title>fluidstack</title></head><body>"
    b"<p>You are logged in. You can close this window and go back to the terminal.</p>"
    b"</body></html>"
)


class _Redirects:
    """A loopback HTTP listener that takes the one redirect a browser login ends with.

    Any program on this machine can send it requests: only a redirect carrying this
    login's ``state`` counts. Others (a forged ``?error=access_denied``, a stale or wrong
    state) get a 400 and are otherwise ignored, and the listener goes on waiting for the
    real one until the timeout, so they cannot abort the login."""

    def __init__(self, port: int) -> None:
        # Here, not at the top: http.server (and the ssl it pulls in) would cost every
        # `fluidstack` command 50 ms of start-up.
        from http.server import BaseHTTPRequestHandler, HTTPServer

        self.query: Optional[Dict[str, str]] = None
        self.expected_state: Optional[str] = None
        """Set once the login is started (its URL needs this listener's port first)."""
        self.ignored = 0
        self._arrived = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = dict(parse_qsl(urlsplit(self.path).query))
                if "code" not in query and "error" not in query:
                    self.send_error(404)
                    return
                if not listener.carries_state(query):
                    listener.ignored += 1
                    self.send_error(400, "not the redirect of this login (wrong state)")
                    return
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(_DONE_PAGE)))
                self.end_headers()
                self.wfile.write(_DONE_PAGE)
                if listener.query is None:
                    listener.query = query
                    listener._arrived.set()

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: the query carries the code."""

        try:
            self._server = HTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise CliError(
                f"cannot listen on 127.0.0.1:{port} for the login's redirect "
                f"({exc.strerror or exc}); choose another with --port"
            ) from exc
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def carries_state(self, query: Dict[str, str]) -> bool:
        """Whether ``query`` carries this login's state (compared in constant time)."""
        import hmac

        expected, given = self.expected_state, query.get("state")
        if expected is None or given is None:
            return False
        return hmac.compare_digest(given.encode(), expected.encode())

    def wait(self, timeout: float) -> Dict[str, str]:
        try:
            if not self._arrived.wait(timeout):
                ignored = ""
                if self.ignored:
                    ignored = (
                        f" (ignored {self.ignored} redirect(s) that does not carry this "
                        "login's state)"
                    )
                raise CliError(
                    f"no login within {timeout:g} seconds{ignored}; run `fluidstack atlas "
                    "login` again"
                )
            assert self.query is not None
            return self.query
        finally:
            self._server.shutdown()
            self._server.server_close()


def _open_browser(url: str) -> bool:
    """Open ``url`` in the person's browser; ``False`` when there is none."""
    import webbrowser

    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def _browser_login(
    state: CliState, settings: AtlasSettings, port: Optional[int], timeout: float, show: bool
) -> Tuple[Atlas, Dict[str, Any]]:
    from fluidstack.atlas.settings import PRODUCTION_PUBLIC_CLIENT_ID, browser_login_defaults

    atlas = unauthenticated(state, settings)
    _, public_client = browser_login_defaults(atlas.management_url)
    # FluidStack's public client only accepts its registered redirect port; a local
    # server (the emulator) takes any, so a free one avoids clashes.
    local = public_client != PRODUCTION_PUBLIC_CLIENT_ID
    chosen = port if port is not None else (0 if local else FLUIDCTL_PORT)
    redirects = _Redirects(chosen)
    login = atlas.start_browser_login(redirect_uri=f"http://localhost:{redirects.port}")
    redirects.expected_state = login.state.reveal()
    if show:
        state.info("Log in in your browser. If it does not open, visit:")
    else:  # --no-browser: nothing is opened, so say what to do with the address
        state.info("Open this address in a browser (on any machine) to log in:")
    click.echo(f"  {login.url}", err=True)
    if show:
        _open_browser(login.url)
    query = redirects.wait(timeout)
    issued = atlas.finish_browser_login(login, query)
    values: Dict[str, Any] = {
        "login": "browser",
        "client_id": login.client_id,
        "token": issued.access_token.reveal(),
        "token_expires_at": issued.expires_at,
        "refresh_token": issued.refresh_token.reveal() if issued.refresh_token else None,
    }
    return atlas, values


def _read_secret(what: str) -> str:
    if stdin_is_terminal():
        value: str = click.prompt(what, hide_input=True, err=True)
    else:
        value = sys.stdin.readline()
    value = value.strip()
    if not value:
        raise InputError(f"no {what.lower()} given; nothing was stored")
    return value


@click.command()
@click.option("--client-id", metavar="ID", help="OAuth client id (client credentials).")
@click.option(
    "--client-secret",
    metavar="SECRET",
    help="Its secret (default: a hidden prompt, or standard input when it is not a terminal).",
)
@click.option("--token", metavar="TOKEN", help="A ready bearer token ('-' reads standard input).")
@click.option(
    "--browser/--no-browser",
    "browser",
    default=None,
    help="Log in with a browser (the default on a terminal without other credentials); "
    "--no-browser prints the address instead of opening it.",
)
@click.option(
    "--url",
    "management_url",
    metavar="URL",
    help="Management API to log in to (default: $FLUIDSTACK_ATLAS_URL or FluidStack's).",
)
@click.option("--token-url", metavar="URL", help="OAuth token endpoint (default: derived).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    metavar="N",
    help=f"Port for the browser's redirect (default {FLUIDCTL_PORT}; any free one locally).",
)
@click.option(
    "--login-timeout",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    metavar="S",
    help="Seconds to wait for the browser login.",
)
@output_options
@pass_state
def login(
    state: CliState,
    client_id: Optional[str],
    client_secret: Optional[str],
    token: Optional[str],
    browser: Optional[bool],
    management_url: Optional[str],
    token_url: Optional[str],
    port: Optional[int],
    login_timeout: float,
) -> None:
    """Log in to Atlas and keep the credentials in the profile (mode 0600).

    \b
    Three ways:
      fluidstack atlas login --client-id ID          client credentials (secret prompted)
      fluidstack atlas login --token -                a ready token, from standard input
      fluidstack atlas login                          a browser login; its refresh token
                                                      is kept, so it lasts beyond the hour
    Then choose where to work: fluidstack atlas use --region NAME --project NAME
    """
    if token and (client_id or client_secret):
        raise click.UsageError("pass --token or --client-id/--client-secret, not both")
    settings = resolve_atlas(state, creating=True)  # may make an Atlas-only profile
    if management_url is not None or token_url is not None:
        settings = _with_urls(settings, management_url, token_url)
    kept: Dict[str, Any] = {}

    def keep(issued: Any) -> None:
        kept["token"] = issued.access_token.reveal()
        kept["token_expires_at"] = issued.expires_at

    values: Dict[str, Any]
    if token:
        secret = _read_secret("Token") if token == "-" else token.strip()
        atlas = unauthenticated(state, settings, token=secret)
        values = {"login": "token", "token": secret}
    elif client_id or client_secret:
        if not client_id:
            raise click.UsageError("--client-secret needs --client-id")
        secret = client_secret or _read_secret("Client secret")
        atlas = unauthenticated(
            state, settings, client_id=client_id, client_secret=secret, on_token=keep
        )
        values = {"login": "client_credentials", "client_id": client_id, "client_secret": secret}
    else:
        if browser is None and not stdin_is_terminal():
            raise click.UsageError(
                "no terminal for a browser login: pass --client-id (and the secret on "
                "standard input), --token, or --browser to log in anyway"
            )
        atlas, values = _browser_login(state, settings, port, login_timeout, browser is not False)
    organizations = atlas.organizations.list()  # proves the credentials work
    values.update(kept)  # the access token just obtained: the next command reuses it
    _store(state, settings, values, management_url, token_url)
    _report(state, atlas, settings, values, organizations)


def _with_urls(
    settings: AtlasSettings, management_url: Optional[str], token_url: Optional[str]
) -> AtlasSettings:
    from dataclasses import replace

    return replace(
        settings,
        management_url=management_url or settings.management_url,
        token_url=token_url or (None if management_url else settings.token_url),
    )


def _store(
    state: CliState,
    settings: AtlasSettings,
    values: Dict[str, Any],
    management_url: Optional[str],
    token_url: Optional[str],
) -> None:
    """Replace the profile's credentials with ``values`` (URLs given now are kept too)."""
    update = dict.fromkeys(CREDENTIAL_KEYS)
    update.update(values)
    if management_url is not None:
        update["management_url"] = management_url.rstrip("/")
        update["token_url"] = token_url
    elif token_url is not None:
        update["token_url"] = token_url
    try:
        save_atlas(settings, update)
    except OSError as exc:
        raise CliError(f"cannot write {settings.path}: {exc.strerror or exc}") from exc


def _report(
    state: CliState,
    atlas: Atlas,
    settings: AtlasSettings,
    values: Dict[str, Any],
    organizations: List[Any],
) -> None:
    names = ", ".join(o.display_name or o.name for o in organizations) or "no organization"
    how = {"browser": "a browser login", "token": "a token"}.get(
        values["login"], "client credentials"
    )
    state.info(
        f"Logged in to {names} with {how}; stored in profile {settings.profile!r} of "
        f"{settings.path}."
    )
    if not settings.region or not settings.project:
        state.info(
            "Choose a region and project with: fluidstack atlas use --region NAME --project NAME"
        )
    _show_identity(state, atlas, resolve_atlas(state), organizations)


def _expiry_text(expires_at: Optional[float]) -> str:
    if expires_at is None:
        return "unknown"
    moment = dt.datetime.fromtimestamp(expires_at, tz=dt.timezone.utc)
    left = expires_at - time.time()
    when = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    if left <= 0:
        return f"{when} (expired)"
    minutes = int(left // 60)
    return (
        f"{when} (in {minutes // 60}h {minutes % 60:02d}m)"
        if minutes >= 60
        else (f"{when} (in {minutes}m)")
    )


def _show_identity(
    state: CliState, atlas: Atlas, settings: AtlasSettings, organizations: List[Any]
) -> None:
    claims = atlas.token_claims
    expires = atlas.token_expires_at
    organization = organizations[0] if organizations else None
    data: Dict[str, Any] = {
        "profile": settings.profile,
        "login": settings.login,
        "credentials_from": settings.credentials_source,
        "organization": None
        if organization is None
        else {
            "id": organization.id,
            "name": organization.name,
            "display_name": organization.display_name,
        },
        "subject": claims.get("sub"),
        "email": claims.get("email"),
        "region": settings.region,
        "project": settings.project,
        "management_url": atlas.management_url,
        "token_expires_at": None
        if expires is None
        else dt.datetime.fromtimestamp(expires, tz=dt.timezone.utc).isoformat(),
    }

    def table() -> Any:
        from ..render import key_value_table

        org = "-" if organization is None else f"{organization.display_name} ({organization.id})"
        return key_value_table(
            [
                ("Organization", org),
                ("Identity", str(claims.get("email") or claims.get("sub") or "-")),
                ("Login", f"{settings.login or '-'} (from {settings.credentials_source or '-'})"),
                ("Region", settings.region or "- (fluidstack atlas use --region NAME)"),
                ("Project", settings.project or "- (fluidstack atlas use --project NAME)"),
                ("Management API", atlas.management_url),
                ("Token expires", _expiry_text(expires)),
                ("Profile", f"{settings.profile} ({settings.path})"),
            ]
        )

    state.emit(data, table=table, ids=[str(claims.get("sub") or "")])


@click.command()
@output_options
@pass_state
def whoami(state: CliState) -> None:
    """Show the organization, identity, region, project and token expiry in use
    (never the token)."""
    atlas = atlas_client(state)
    organizations = atlas.organizations.list()
    _show_identity(state, atlas, resolve_atlas(state), organizations)


@click.command()
@pass_state
def logout(state: CliState) -> None:
    """Remove the credentials and tokens `atlas login` stored in the profile (its region,
    project and URLs stay)."""
    settings = resolve_atlas(state)
    if not any(settings.stored.get(key) for key in CREDENTIAL_KEYS):
        state.info(f"Profile {settings.profile!r} holds no Atlas credentials; nothing to do.")
        return
    try:
        save_atlas(settings, dict.fromkeys(CREDENTIAL_KEYS))
    except OSError as exc:
        raise CliError(f"cannot write {settings.path}: {exc.strerror or exc}") from exc
    state.info(f"Logged out: removed the Atlas credentials of profile {settings.profile!r}.")
    if settings.credentials_source == "env":
        state.warn("FLUIDSTACK_CLIENT_ID/_SECRET or FLUIDSTACK_TOKEN are still set")


@click.command()
@click.option("--region", metavar="NAME", shell_complete=complete_regions, help="Default region.")
@click.option(
    "--project",
    metavar="NAME|ID",
    shell_complete=complete_projects,
    help="Default project, by name or id.",
)
@output_options
@pass_state
def use(state: CliState, region: Optional[str], project: Optional[str]) -> None:
    """Set the profile's default region and project (checked against the API).

    FLUIDSTACK_REGION and FLUIDSTACK_PROJECT_ID, and `fluidstack atlas --region/--project`,
    override them for one command.
    """
    if region is None and project is None:
        raise click.UsageError("pass --region, --project or both")
    if region is not None:
        state.atlas_region = region
    atlas = atlas_client(state)
    values: Dict[str, Any] = {}
    if region is not None:
        known = [r.name for r in atlas.regions.list()]
        if region not in known:
            raise InputError(f"no region named {region!r}; the regions are: {', '.join(known)}")
        values["region"] = region
        values["region_url"] = None
    chosen_project = None
    if project is not None:
        matches = [p for p in atlas.projects.list() if project in (p.id, p.name)]
        if not matches:
            import shlex

            # A newcomer's first `use` names a project that does not exist yet.
            where = f" --region {atlas.region}" if atlas.region else ""
            raise InputError(
                f"no project {project!r}: see `fluidstack atlas projects list`, or create it "
                f"with `fluidstack atlas{where} projects create {shlex.quote(project)}`"
            )
        if len(matches) > 1:
            ids = ", ".join(p.id for p in matches)
            raise InputError(f"{len(matches)} projects are named {project!r} ({ids}): pass its id")
        chosen_project = matches[0]
        values["project_id"] = chosen_project.id
    settings = resolve_atlas(state)
    try:
        save_atlas(settings, values)
    except OSError as exc:
        raise CliError(f"cannot write {settings.path}: {exc.strerror or exc}") from exc
    parts = []
    if region is not None:
        parts.append(f"region {region}")
    if chosen_project is not None:
        parts.append(f"project {chosen_project.name} ({chosen_project.id})")
    state.info(f"Profile {settings.profile!r} now uses {' and '.join(parts)}.")
    state.emit(
        {"region": values.get("region"), "project_id": values.get("project_id")},
        table=None,
        ids=[v for v in (values.get("region"), values.get("project_id")) if v],
    )
