"""``fluidstack-emulator replay FILE``: replay a recorded journal against a fresh emulator
and report the first answer that differs (issue 27).

``FILE`` is what ``GET /_emulator/journal?format=replay`` returned (see
:mod:`fluidstack.emulator.recording`). The replay:

1. starts an emulator on a free loopback port with the recorded settings (``--seed``,
   failure rate, page size, regions, ...), a manual clock, and the credentials given to
   this command (the development ones by default), or targets ``--url`` (an emulator
   started with ``--manual-clock`` and the same ``--seed``, reached with
   ``--control-token``);
2. restores the recorded ``origin`` (the state the first request met, clock included);
3. sends every request in order, the simulated clock first moved to where it was when
   the request came, an injected fault injected again, each credential fingerprint
   replaced by the target's own credential (its ``--api-key``, ``--atlas-client`` and
   ``--atlas-user`` secrets, then the tokens and keys its answers hand out; an Atlas
   token that no answer handed out was minted through the control API, and is minted
   again for the same organization);
4. compares each answer's status and body with the recorded one. Only two things are
   allowed to differ: secrets (tokens, keys, codes: fresh ones, compared as present),
   and the emulator's own address (``host:port``) where an answer repeats it.

Exit status 0 and ``N requests, 0 differences``; or 1 and the first difference with its
request; 2 for a file or target that cannot be replayed.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from fluidstack.emulator.recording import (
    FORMAT,
    PLACEHOLDER,
    REPLAY_SETTINGS,
    VERSION,
    body_bytes,
    fingerprint,
    kept_body,
    learn_secrets,
    substitute,
)
from fluidstack.emulator.settings import EmulatorSettings, parse_atlas_client, parse_atlas_user

__all__ = ["Difference", "ReplayError", "main", "replay", "settings_for"]

_NOT_SENT = frozenset({"host", "content-length", "connection", "accept-encoding"})
"""Recorded request headers the HTTP client sets itself."""


class ReplayError(Exception):
    """A file or target that cannot be replayed (exit status 2)."""


@dataclass
class Difference:
    """The first answer that differed: which request (its index in the file, from 1, and
    the whole recorded request) and what was expected and received."""

    index: int
    request: Dict[str, Any]
    expected_status: Optional[int]
    expected: Any
    status: Optional[int]
    received: Any
    where: str
    """Where the bodies first differ (``$.items[0].status``), or ``status``."""

    def report(self, total: int) -> str:
        request = self.request
        target = request.get("target") or request["path"]
        lines = [
            f"Request {self.index} of {total} differs (journal seq {request.get('seq')}): "
            f"{request['method']} {target}",
        ]
        if request.get("body") is not None:
            lines.append(f"  request body: {_short(_content(request['body']))}")
        if request.get("fault"):
            lines.append(f"  injected fault: {_short(request['fault'])}")
        lines.append(f"  first difference at {self.where}")
        lines.append(f"  recorded: {self.expected_status} {_short(self.expected)}")
        lines.append(f"  replayed: {self.status} {_short(self.received)}")
        return "\n".join(lines)


def _short(value: Any, limit: int = 2000) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "…"


# -- the file ----------------------------------------------------------------------------


def load(path: str) -> Dict[str, Any]:
    """A replay file, checked enough to be replayed (raises :class:`ReplayError`)."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError) as exc:
        raise ReplayError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReplayError(f"{path} is not a replay file (format {FORMAT!r})")
    if data.get("version") != VERSION:
        raise ReplayError(f"{path}: version {data.get('version')!r}; this emulator reads {VERSION}")
    if not isinstance(data.get("requests"), list) or not isinstance(data.get("settings"), dict):
        raise ReplayError(f"{path}: expected 'settings' and a list of 'requests'")
    return data


def with_origin(data: Dict[str, Any], state_path: Optional[str]) -> Dict[str, Any]:
    """``data`` with its origin from ``state_path`` (a snapshot) when given; raises
    :class:`ReplayError` when neither has one."""
    if state_path is not None:
        try:
            with open(state_path, encoding="utf-8") as file:
                data = {**data, "origin": json.load(file)}
        except (OSError, ValueError) as exc:
            raise ReplayError(f"cannot read {state_path}: {exc}") from None
    origin = data.get("origin")
    if data["requests"] and not (isinstance(origin, dict) and "apis" in origin):
        why = origin.get("omitted") if isinstance(origin, dict) else None
        raise ReplayError(
            "the file has no origin (the state the first request met"
            + (f": not exported, {why}" if why else "")
            + "): give it with --state SNAPSHOT (GET /_emulator/state taken just before)"
        )
    return data


def settings_for(
    data: Dict[str, Any],
    api_keys: Optional[List[str]] = None,
    atlas_clients: Optional[List[str]] = None,
    atlas_users: Optional[List[str]] = None,
) -> EmulatorSettings:
    """Settings of the emulator a replay starts: the recorded ones that shape answers,
    a manual clock, a free loopback port, and the given credentials."""
    recorded = {k: v for k, v in data["settings"].items() if k in REPLAY_SETTINGS}
    recorded["manual_clock"] = True
    return EmulatorSettings(
        port=0,
        log_level="warning",
        api_keys=list(api_keys or []),
        atlas_clients=list(atlas_clients or []),
        atlas_users=list(atlas_users or []),
        **recorded,
    )


def known_secrets(settings: EmulatorSettings) -> Dict[str, str]:
    """Fingerprint to secret, for the target's own credentials."""
    values = list(settings.effective_api_keys)
    values += [secret for _, secret in settings.effective_atlas_clients if secret]
    values += [parse_atlas_user(user)[1] for user in settings.atlas_users]
    return {fingerprint(value): value for value in values}


# -- comparing -----------------------------------------------------------------------------


def _normal(value: Any, hosts: Tuple[str, str]) -> Any:
    """An answer as compared: every secret the same ``<secret>``, the recording's
    address and the target's the same ``<emulator>``."""
    if isinstance(value, str):
        value = PLACEHOLDER.sub("<secret>", value)
        for host in hosts:
            if host:
                value = value.replace(host, "<emulator>")
        return value
    if isinstance(value, dict):
        return {k: _normal(v, hosts) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, hosts) for v in value]
    return value


def _first_difference(expected: Any, received: Any, where: str = "$") -> Optional[str]:
    if type(expected) is not type(received):
        return where
    if isinstance(expected, dict):
        for key in list(expected) + [k for k in received if k not in expected]:
            if key not in expected or key not in received:
                return f"{where}.{key}"
            found = _first_difference(expected[key], received[key], f"{where}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(expected, list):
        for i, (a, b) in enumerate(zip(expected, received)):
            found = _first_difference(a, b, f"{where}[{i}]")
            if found is not None:
                return found
        return None if len(expected) == len(received) else f"{where} (length)"
    return None if expected == received else where


# -- replaying -----------------------------------------------------------------------------


def _glob_escaped(path: str) -> str:
    """``path`` as a fault glob matching only itself."""
    return re.sub(r"([*?\[])", r"[\1]", path)


def _origin_for_replay(origin: Dict[str, Any]) -> Dict[str, Any]:
    """The recorded origin, its clock made manual (restored exactly, without the real
    time since it was taken)."""
    state = copy.deepcopy(origin)
    for records in state.get("apis", {}).values():
        clock = records.get("meta", {}).get("clock")
        if isinstance(clock, dict):
            clock["manual"] = 1.0
    return state


def _origin_clock(origin: Dict[str, Any]) -> Optional[float]:
    clock = origin.get("apis", {}).get("platform", {}).get("meta", {}).get("clock")
    return float(clock["sim"]) if isinstance(clock, dict) else None


def replay(
    data: Dict[str, Any],
    base_url: str,
    control_token: str,
    secrets: Dict[str, str],
) -> Iterator[Tuple[int, Optional[Difference]]]:
    """Replay ``data`` against the emulator at ``base_url``: yields each request's index
    (from 1) with ``None``, or with its :class:`Difference` (then stops)."""
    import httpx

    secrets = dict(secrets)
    control = {"x-emulator-token": control_token}
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        clock = client.get("/_emulator/clock", headers=control)
        if clock.status_code != 200:
            raise ReplayError(f"the target's control API answered {clock.status_code}")
        if not clock.json().get("manual"):
            raise ReplayError("the target must run with a manual clock (--manual-clock)")
        requests = data["requests"]
        now = None
        if requests:
            put = client.put("/_emulator/state", json=_origin_for_replay(data["origin"]),
                             headers=control)  # fmt: skip
            if put.status_code != 200:
                raise ReplayError(f"restoring the origin failed: {put.status_code} {put.text}")
            now = _origin_clock(data["origin"])
        target_host = httpx.URL(base_url).netloc.decode("ascii")
        for index, request in enumerate(requests, 1):
            at = request.get("clock")
            if at is not None and now is not None and at > now:
                client.post("/_emulator/clock/advance", json={"seconds": at - now},
                             headers=control).raise_for_status()  # fmt: skip
                now = at
            if request.get("fault"):
                fault = {**request["fault"], "method": request["method"], "times": 1,
                         "path": _glob_escaped(request["path"])}  # fmt: skip
                client.post("/_emulator/faults", json=fault, headers=control).raise_for_status()
            _mint_if_unknown(client, control, request, secrets)
            difference = _one(client, index, request, secrets, target_host)
            yield index, difference
            if difference is not None:
                return


def _mint_if_unknown(
    client: Any, control: Dict[str, str], request: Dict[str, Any], secrets: Dict[str, str]
) -> None:
    """A bearer token no answer handed out was minted through the control API (as
    ``handle.atlas.token()`` does): mint one for the same organization now."""
    match = PLACEHOLDER.search(str(request.get("headers", {}).get("authorization", "")))
    org = request.get("account")
    if match is None or match.group(1) in secrets or not org or request.get("status") == 401:
        return
    orgs = client.get("/_emulator/atlas/organizations", headers=control)
    if orgs.status_code != 200:
        return
    for found in orgs.json():
        if found.get("name") == org:
            minted = client.post("/_emulator/atlas/tokens", headers=control,
                                 json={"client_id": found["client_id"]})  # fmt: skip
            if minted.status_code == 201:
                secrets[match.group(1)] = minted.json()["access_token"]
            return


def _one(
    client: Any, index: int, request: Dict[str, Any], secrets: Dict[str, str], host: str
) -> Optional[Difference]:
    import httpx

    recorded_host = str(request.get("headers", {}).get("host", ""))
    body = request.get("body")
    if isinstance(body, dict) and set(body) == {"length"}:
        raise ReplayError(
            f"request {index} ({request['method']} {request['path']}): its body "
            f"({body['length']} bytes) was too large to keep"
        )
    headers = {
        name: substitute(str(value), secrets)
        for name, value in request.get("headers", {}).items()
        if name not in _NOT_SENT
    }
    target = request.get("target") or request["path"]
    try:
        response = client.request(
            request["method"], target, content=body_bytes(body, secrets), headers=headers
        )
        status: Optional[int] = response.status_code
        content = response.content
    except httpx.TransportError:  # a dropped connection (a ``drop`` fault) has no answer
        status, content = None, b""
    expected = request.get("answer")
    if expected is not None and "json" in expected:
        try:
            learn_secrets(expected["json"], json.loads(content), secrets)
        except ValueError:
            pass
    received = kept_body(content) if content else None
    hosts = (recorded_host, host)
    if request.get("status") != status:
        where = "status"
    elif expected is not None and received is not None and set(expected) == {"length"}:
        where = "" if expected["length"] == len(content) else "$ (length)"
    else:
        where = _first_difference(
            _normal(_content(expected), hosts), _normal(_content(received), hosts)
        ) or ""  # fmt: skip
    if not where:
        return None
    return Difference(index, request, request.get("status"), _content(expected), status,
                      _content(received), where)  # fmt: skip


def _content(kept: Optional[Dict[str, Any]]) -> Any:
    """A kept body (see :func:`~fluidstack.emulator.recording.kept_body`) as compared:
    its JSON, its form fields or its text."""
    if kept is None:
        return None
    for kind in ("json", "form", "text"):
        if kind in kept:
            return kept[kind]
    return kept


# -- the command -------------------------------------------------------------------------------


def build_parser(prog: str = "fluidstack-emulator replay") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Replay a recorded journal (GET /_emulator/journal?format=replay) against a "
            "fresh emulator with the same --seed and report the first answer that differs."
        ),
    )
    parser.add_argument("file", help="the replay file")
    parser.add_argument(
        "--url",
        help="replay against this emulator (started with --manual-clock and the recorded "
        "--seed) instead of starting one",
    )
    parser.add_argument("--control-token", default="", help="the --url emulator's control token")
    parser.add_argument(
        "--state",
        metavar="SNAPSHOT",
        help="the state the first request met, when the file has none (a journal that "
        "began on a world of over 2,000 instances): a snapshot taken just before",
    )
    parser.add_argument(
        "--api-key", dest="api_keys", action="append", default=[], metavar="KEY",
        help="an API key the recording emulator was started with (repeat; secrets are not "
        "in the file); default: the development key",
    )  # fmt: skip
    parser.add_argument(
        "--atlas-client", dest="atlas_clients", action="append", default=[],
        metavar="ID:SECRET", help="an Atlas client the recording emulator had (repeat)",
    )  # fmt: skip
    parser.add_argument(
        "--atlas-user", dest="atlas_users", action="append", default=[],
        metavar="EMAIL:PASSWORD", help="an Atlas user the recording emulator had (repeat)",
    )  # fmt: skip
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """``fluidstack-emulator replay``: the exit status (0 same, 1 a difference, 2 error)."""
    args = build_parser().parse_args(argv)
    try:
        data = with_origin(load(args.file), args.state)
        for client in args.atlas_clients:
            parse_atlas_client(client)
        settings = settings_for(data, args.api_keys, args.atlas_clients, args.atlas_users)
        return _run(data, settings, args.url, args.control_token)
    except (ReplayError, ValueError) as exc:
        print(f"fluidstack-emulator replay: {exc}", file=sys.stderr, flush=True)
        return 2


def _run(data: Dict[str, Any], settings: EmulatorSettings, url: Optional[str], token: str) -> int:
    if data["settings"].get("seed") is None:
        print("warning: recorded without --seed: ids and names will differ", file=sys.stderr)
    if not data.get("complete", True):
        print(
            "warning: the journal is incomplete (entries were dropped, or one account was "
            "reset): the replay may differ where the missing requests mattered",
            file=sys.stderr,
        )
    secrets = known_secrets(settings)
    total = len(data["requests"])
    if url is not None:
        return _report(replay(data, url, token, secrets), total)
    from fluidstack.emulator.server import EmulatorServer

    with EmulatorServer(settings) as server:
        return _report(replay(data, server.base_url, server.control_token, secrets), total)


def _report(steps: Iterator[Tuple[int, Optional[Difference]]], total: int) -> int:
    for _, difference in steps:
        if difference is not None:
            print(difference.report(total), flush=True)
            return 1
    print(f"{total} requests, 0 differences", flush=True)
    return 0
