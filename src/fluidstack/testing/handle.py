"""A handle on a running emulator: its address, its key, and its control API (platform
and Atlas)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx

from fluidstack.emulator.settings import DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET
from fluidstack.testing.atlas_login import ATLAS_AUDIENCE, DEFAULT_LOGIN_SCOPE, BrowserLogin
from fluidstack.testing.errors import EmulatorControlError

CONTROL_TOKEN_HEADER = "x-emulator-token"

__all__ = [
    "ATLAS_AUDIENCE",
    "DEFAULT_LOGIN_SCOPE",
    "AtlasControl",
    "EmulatorControlError",
    "EmulatorHandle",
]


class EmulatorHandle:
    """Address, development key and control helpers of one running emulator.

    Every helper is a thin call to the emulator's ``/_emulator/*`` control API, so what
    a test does through the handle is exactly what ``curl`` could do.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        atlas_client_id: str = DEV_ATLAS_CLIENT_ID,
        atlas_client_secret: str = DEV_ATLAS_CLIENT_SECRET,
        *,
        control_token: Optional[str] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        """Base URL of the emulated API, e.g. ``http://127.0.0.1:53817``."""
        self.api_key = api_key
        """An API key the emulator accepts (the default account's)."""
        # The control token travels only to /_emulator/*; ``EmulatorServer.control_token``
        # or the emulator's stderr gives it.
        self._control_headers = {CONTROL_TOKEN_HEADER: control_token} if control_token else {}
        self._http = httpx.Client(base_url=self.base_url, timeout=30.0)
        self.atlas = AtlasControl(self, atlas_client_id, atlas_client_secret)
        """Atlas: its URLs, the first client's credentials, and its control helpers."""

    def __repr__(self) -> str:
        return f"EmulatorHandle(base_url={self.base_url!r})"  # never the control token

    @property
    def control_headers(self) -> Dict[str, str]:
        """The header that authorises a control-API call (``x-emulator-token``), for
        calling ``/_emulator/*`` with your own HTTP client."""
        return dict(self._control_headers)

    def close(self) -> None:
        """Close the control connection (the emulator itself keeps running)."""
        self._http.close()

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = {}  # control writes are JSON, even when they carry nothing
        response = self._http.request(
            method, "/_emulator" + path, json=body, headers=self._control_headers
        )
        if response.status_code >= 400:
            raise EmulatorControlError(
                f"{method} /_emulator{path} answered {response.status_code}: {response.text}"
            )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- state -----------------------------------------------------------------------

    def reset(self, api_key: Optional[str] = None, client_id: Optional[str] = None) -> None:
        """Clear all state (platform and Atlas), faults and journal; or only one platform
        account's (given its key), or one Atlas organization's (given its client id)."""
        body: Dict[str, Any] = {}
        if api_key is not None:
            body["api_key"] = api_key
        if client_id is not None:
            body["client_id"] = client_id
        self._call("POST", "/reset", body)

    def snapshot(self, secrets: bool = True) -> Dict[str, Any]:
        """The whole state of both APIs (``GET /_emulator/state``): a JSON-ready dict
        to give back to :meth:`restore` (or to save, and start an emulator from with
        ``--import-state``). With secrets by default: a snapshot restored into the same
        emulator then keeps every key, session and token working; pass
        ``secrets=False`` for one you write to a file others read."""
        result: Dict[str, Any] = self._call("GET", f"/state?secrets={str(secrets).lower()}")
        return result

    def restore(self, snapshot: Dict[str, Any]) -> Dict[str, Any]:
        """Replace the whole state with ``snapshot`` (``PUT /_emulator/state``),
        atomically; faults and the journal are cleared, as by :meth:`reset`. A bad
        snapshot raises :class:`EmulatorControlError` (naming its first bad field) and
        changes nothing. Returns how many records of each kind were restored."""
        result: Dict[str, Any] = self._call("PUT", "/state", snapshot)
        return result

    def create_account(self, api_key: str, balance: float = 1000.0) -> Dict[str, Any]:
        """Create another account at runtime, reachable with ``api_key``."""
        result: Dict[str, Any] = self._call(
            "POST", "/accounts", {"api_key": api_key, "balance": balance}
        )
        return result

    def set_balance(self, balance: float, api_key: Optional[str] = None) -> None:
        """Set an account's balance (the default account's when no key is given)."""
        key = self.api_key if api_key is None else api_key
        self._call("PUT", f"/accounts/{key}/balance", {"balance": balance})

    def set_auto_terminate(self, enabled: bool, api_key: Optional[str] = None) -> None:
        """Whether an account's instances are terminated when its balance runs out (the
        user record's ``auto_terminate_on_depletion``; on for every new account)."""
        key = self.api_key if api_key is None else api_key
        self._call("PUT", f"/accounts/{key}/auto-terminate", {"enabled": enabled})

    def payments(self) -> List[Dict[str, Any]]:
        """Every payment intent: ``{id, account, amount (cents), currency, status}``."""
        result: List[Dict[str, Any]] = self._call("GET", "/payments")
        return result

    def complete_payment(self, intent_id: str, amount: Optional[int] = None) -> Dict[str, Any]:
        """Complete a payment intent as Stripe's webhook would: the account is topped up
        by ``amount`` cents (the intent's own by default), once."""
        body: Dict[str, Any] = {} if amount is None else {"amount": amount}
        result: Dict[str, Any] = self._call("POST", f"/payments/{intent_id}/complete", body)
        return result

    @property
    def stripe_webhook_secret(self) -> str:
        """The secret that signs events sent to ``/webhooks/stripe/payment_completed``."""
        return str(self._call("GET", "/payments/webhook-secret")["secret"])

    def set_instance_status(
        self, instance_id: str, status: str, seconds: Optional[float] = None
    ) -> Dict[str, Any]:
        """Put a platform instance into ``unhealthy`` (back to running after ``seconds``,
        if given), ``shutting_down`` (terminated after ``seconds``, 30 by default), or
        heal an unhealthy one with ``running``."""
        body: Dict[str, Any] = {"status": status}
        if seconds is not None:
            body["seconds"] = seconds
        result: Dict[str, Any] = self._call("POST", f"/instances/{instance_id}/status", body)
        return result

    def session_cookie(self, api_key: Optional[str] = None) -> str:
        """A ``wos_session`` cookie value logged in as the account of ``api_key``."""
        key = self.api_key if api_key is None else api_key
        result = self._call("POST", "/sessions", {"api_key": key})
        return str(result["wos_session"])

    @property
    def dev_login_code(self) -> str:
        """This run's platform development login code (``/auth/callback?code=...``)."""
        return str(self._call("GET", "/dev-login-code")["code"])

    def auth_code(self, api_key: Optional[str] = None) -> str:
        """A one-time ``/auth/callback`` code that logs in as the account of ``api_key``."""
        key = self.api_key if api_key is None else api_key
        return str(self._call("POST", "/auth-codes", {"api_key": key})["code"])

    def set_capacity(self, gpu_type: str, region: str, gpus: int) -> Dict[str, Any]:
        """Set how many GPUs of ``gpu_type`` exist in ``region`` (in use ones included)."""
        result: Dict[str, Any] = self._call(
            "PUT", "/capacity", {"gpu_type": gpu_type, "region": region, "gpus": gpus}
        )
        return result

    def create_instances(self, *groups: Dict[str, Any], return_ids: bool = False) -> Dict[str, Any]:
        """Create many instances in one control call (``POST /_emulator/instances``),
        directly in the status asked for. Each group is a dict with ``count`` and
        ``gpu_type``, and optionally ``api_key`` (default: this handle's), ``gpu_count``,
        ``region``, ``status`` (default ``running``), ``age_seconds``, ``name_prefix``,
        ``ssh_key`` and ``operating_system_label``. All or nothing: a refused group
        raises :class:`EmulatorControlError` and creates none. Returns
        ``{"created": n}`` (and ``"ids"``, in listing order, with ``return_ids=True``).

        ``handle.create_instances({"count": 100_000, "gpu_type": "RTX_A4000_16GB"})``
        """
        body = {
            "instances": [{"api_key": self.api_key, **group} for group in groups],
            "return_ids": return_ids,
        }
        result: Dict[str, Any] = self._call("POST", "/instances", body)
        return result

    # -- clock -----------------------------------------------------------------------

    def clock(self) -> Dict[str, Any]:
        """``{"now": iso8601, "manual": bool, "time_scale": float}``."""
        result: Dict[str, Any] = self._call("GET", "/clock")
        return result

    def advance(self, seconds: float) -> Dict[str, Any]:
        """Move simulated time forward by ``seconds``; returns the new clock."""
        result: Dict[str, Any] = self._call("POST", "/clock/advance", {"seconds": seconds})
        return result

    # -- ssh (an emulator started with --ssh) ----------------------------------------

    def ssh_info(self) -> Dict[str, Any]:
        """``{"enabled", "atlas_port", "directory"}`` (see ``GET /_emulator/ssh``)."""
        result: Dict[str, Any] = self._call("GET", "/ssh")
        return result

    @property
    def ssh_port(self) -> int:
        """The port every Atlas instance answers SSH on (``FLUIDSTACK_SSH_PORT``, the
        Atlas client's ``ssh_port=``); platform instances report theirs in ``ssh_port``.
        Raises :class:`EmulatorControlError` when the emulator runs without ``--ssh``."""
        info = self.ssh_info()
        if not info["enabled"]:
            raise EmulatorControlError("this emulator was started without --ssh")
        return int(info["atlas_port"])

    def instance_directory(self, instance_id: str) -> Path:
        """The directory of an instance's files (its home is ``home/ubuntu`` inside);
        it exists from the instance's creation until its deletion."""
        info = self.ssh_info()
        if not info["enabled"]:
            raise EmulatorControlError("this emulator was started without --ssh")
        return Path(info["directory"]) / instance_id

    def add_sshd_delay(self, seconds: float, path: str = "/*", times: Optional[int] = 1,
                       **scope: Any) -> Dict[str, Any]:  # fmt: skip
        """Delay sshd by ``seconds`` simulated seconds after ``running``, for instances
        whose API path matches ``path`` (``/instances/<id>``, or
        ``/regions/<r>/api/v1alpha1/instances/<id>``), for ``times`` boots."""
        return self.add_fault(action="sshd_delay", path=path, seconds=seconds, times=times,
                              **scope)  # fmt: skip

    # -- faults ----------------------------------------------------------------------

    def add_fault(self, **rule: Any) -> Dict[str, Any]:
        """Add a fault rule (see docs/emulator.md); returns it with its ``id``."""
        result: Dict[str, Any] = self._call("POST", "/faults", rule)
        return result

    def faults(self) -> List[Dict[str, Any]]:
        """The active fault rules."""
        result: List[Dict[str, Any]] = self._call("GET", "/faults")
        return result

    def remove_fault(self, fault_id: str) -> None:
        """Remove one fault rule."""
        self._call("DELETE", f"/faults/{fault_id}")

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._call("DELETE", "/faults")

    # -- journal ---------------------------------------------------------------------

    def journal(self, since: Optional[int] = None) -> List[Dict[str, Any]]:
        """Requests the emulator served (API keys redacted), oldest first."""
        path = "/journal" if since is None else f"/journal?since={since}"
        result: List[Dict[str, Any]] = self._call("GET", path)
        return result

    def clear_journal(self) -> None:
        """Forget the journal."""
        self._call("DELETE", "/journal")


class AtlasControl(BrowserLogin):
    """``handle.atlas``: Atlas's addresses and control helpers (``/_emulator/atlas/*``).

    ``client_id`` arguments default to the first (development) client's organization.
    """

    def __init__(self, handle: EmulatorHandle, client_id: str, client_secret: str) -> None:
        self._handle: EmulatorHandle = handle
        self.client_id = client_id
        """The first Atlas client's id (``fs-emulator-client`` unless configured)."""
        self.client_secret = client_secret
        """The first Atlas client's secret."""
        self._dev_user: Optional[Dict[str, Any]] = None

    def __repr__(self) -> str:
        return f"AtlasControl(client_id={self.client_id!r}, client_secret=<redacted>)"

    @property
    def management_url(self) -> str:
        """Base URL of the Management API (append ``/api/v1alpha1``)."""
        return self._handle.base_url

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint (client credentials, authorization code, refresh)."""
        return self._handle.base_url + "/oauth/token"

    @property
    def authorize_url(self) -> str:
        """The browser login (``GET``/``POST /authorize``)."""
        return self._handle.base_url + "/authorize"

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        return self._handle._call(method, "/atlas" + path, body)

    def regions(self) -> List[str]:
        """Names of the regions served (each at ``{base_url}/regions/<name>``)."""
        response = self._handle._http.get(
            "/api/v1alpha1/regions", headers={"authorization": f"Bearer {self.token()}"}
        )
        if response.status_code != 200:
            raise EmulatorControlError(f"GET /api/v1alpha1/regions answered {response.status_code}")
        return [str(region["name"]) for region in response.json()]

    def create_organization(
        self, client_id: str, client_secret: str, display_name: Optional[str] = None
    ) -> Dict[str, Any]:
        """A new organization reachable with this OAuth client; ``{id, name, ...}``."""
        body: Dict[str, Any] = {"client_id": client_id, "client_secret": client_secret}
        if display_name is not None:
            body["display_name"] = display_name
        result: Dict[str, Any] = self._call("POST", "/organizations", body)
        return result

    def organizations(self) -> List[Dict[str, Any]]:
        """``[{id, name, display_name, client_id}]`` of every organization (those made
        with the Management API's ``POST /organizations`` too: mint a token for one
        with ``token(client_id=...)``)."""
        result: List[Dict[str, Any]] = self._call("GET", "/organizations")
        return result

    def token(self, client_id: Optional[str] = None, ttl_seconds: Optional[float] = None) -> str:
        """An access token for the client's organization, minted without its secret.

        ``ttl_seconds`` is real (wall-clock) time (default: the emulator's ``--token-ttl``);
        :meth:`expire_tokens` ends every token at once.
        """
        body: Dict[str, Any] = {}
        if client_id is not None:
            body["client_id"] = client_id
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        result = self._call("POST", "/tokens", body)
        return str(result["access_token"])

    def expire_tokens(self) -> None:
        """Expire every Atlas access token issued so far, now: the next call with one
        answers 401 "Access token expired" (tokens live in real seconds, so a test of
        refresh uses this instead of waiting or advancing the simulated clock)."""
        self._call("POST", "/tokens/expire")

    def capacity(self) -> List[Dict[str, Any]]:
        """``[{region, instance_type, total, used, available}]`` for every region."""
        result: List[Dict[str, Any]] = self._call("GET", "/capacity")
        return result

    def set_capacity(self, region: str, instance_type: str, total: int) -> Dict[str, Any]:
        """How many instances of a type the region holds at once (in use ones included)."""
        body = {"region": region, "instance_type": instance_type, "total": total}
        result: Dict[str, Any] = self._call("PUT", "/capacity", body)
        return result

    def set_capabilities(self, region: str, capabilities: List[str]) -> Dict[str, Any]:
        """What ``GET /capabilities`` answers, e.g. without ``instances:create`` (501)."""
        result: Dict[str, Any] = self._call(
            "PUT", f"/regions/{region}/capabilities", {"capabilities": list(capabilities)}
        )
        return result

    def withhold_capabilities(self, region: str, *capabilities: str) -> Dict[str, Any]:
        """Let ``region`` offer every capability but ``capabilities`` (its operations
        then answer 501), e.g. ``withhold_capabilities("eu-north-1", "instances:create")``.
        ``set_capabilities(region, all_capabilities)`` gives them back. A name that is not
        one of :attr:`all_capabilities` raises ``ValueError`` (it would withhold nothing)."""
        from fluidstack.emulator.atlas.capabilities import CAPABILITIES

        unknown = [c for c in capabilities if c not in CAPABILITIES]
        if unknown:
            raise ValueError(
                f"not a capability: {', '.join(map(repr, unknown))}; the capabilities are "
                f"{', '.join(CAPABILITIES)}"
            )
        kept = [c for c in CAPABILITIES if c not in capabilities]
        return self.set_capabilities(region, kept)

    @property
    def all_capabilities(self) -> List[str]:
        """The 31 capabilities of the Infrastructure API (what a region offers by default)."""
        from fluidstack.emulator.atlas.capabilities import CAPABILITIES

        return list(CAPABILITIES)

    def preempt(self, instance_id: str) -> Dict[str, Any]:
        """Preempt a running preemptible instance: ``stopping``, then ``stopped``."""
        result: Dict[str, Any] = self._call("POST", f"/instances/{instance_id}/preempt")
        return result

    def fail(self, instance_id: str) -> Dict[str, Any]:
        """Put an instance in ``error`` at once."""
        result: Dict[str, Any] = self._call("POST", f"/instances/{instance_id}/fail")
        return result

    def fail_next(
        self, region: str, instance_type: Optional[str] = None, times: int = 1
    ) -> Dict[str, Any]:
        """The next ``times`` creates in ``region`` (of that type) end in ``error``."""
        body: Dict[str, Any] = {"region": region, "times": times}
        if instance_type is not None:
            body["instance_type"] = instance_type
        result: Dict[str, Any] = self._call("POST", "/provisioning-failures", body)
        return result

    def add_cluster(
        self,
        region: str,
        type: str,
        name: str,
        node_pools: Optional[List[Dict[str, str]]] = None,
        project_id: Optional[str] = None,
        health: str = "healthy",
        client_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Add a ``kubernetes`` or ``slurm`` cluster (``node_pools``: ``[{name, type}]``)."""
        body: Dict[str, Any] = {
            "region": region,
            "type": type,
            "name": name,
            "node_pools": list(node_pools or []),
            "health": health,
        }
        if project_id is not None:
            body["project_id"] = project_id
        if client_id is not None:
            body["client_id"] = client_id
        result: Dict[str, Any] = self._call("POST", "/clusters", body)
        return result

    def remove_cluster(self, cluster_id: str) -> None:
        """Remove a cluster (and its node pools)."""
        self._call("DELETE", f"/clusters/{cluster_id}")

    def add_member(
        self, name: str, email: str, role: str = "viewer", client_id: Optional[str] = None
    ) -> Dict[str, Any]:
        """Add a member to an organization; returns ``{id, name, email, role}``."""
        body: Dict[str, Any] = {"name": name, "email": email, "role": role}
        if client_id is not None:
            body["client_id"] = client_id
        result: Dict[str, Any] = self._call("POST", "/members", body)
        return result

    # -- users and the browser login ---------------------------------------------------

    def add_user(
        self, email: str, password: Optional[str] = None, client_id: Optional[str] = None
    ) -> Dict[str, Any]:
        """A user of the client's organization who logs in at ``/authorize``;
        ``{id, email, password}`` (the password is generated when not given)."""
        body: Dict[str, Any] = {"email": email}
        if password is not None:
            body["password"] = password
        if client_id is not None:
            body["client_id"] = client_id
        result: Dict[str, Any] = self._call("POST", "/users", body)
        return result

    def users(self) -> List[Dict[str, Any]]:
        """``[{id, email, org_id, client_id}]`` of every user."""
        result: List[Dict[str, Any]] = self._call("GET", "/users")
        return result

    def _dev(self) -> Dict[str, Any]:
        if self._dev_user is None:
            self._dev_user = dict(self._call("GET", "/dev-user"))
        return self._dev_user

    @property
    def dev_user_email(self) -> str:
        """The development user's e-mail (``dev@emulator.local``), read from the emulator."""
        return str(self._dev()["email"])

    @property
    def dev_user_password(self) -> str:
        """The development user's password for this run, read from the emulator."""
        return str(self._dev()["password"])
