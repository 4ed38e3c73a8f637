"""A handle on a running emulator: its address, its key, and its control API."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import httpx

__all__ = ["EmulatorControlError", "EmulatorHandle"]


class EmulatorControlError(RuntimeError):
    """A control-API call (``/_emulator/*``) was refused by the emulator."""


class EmulatorHandle:
    """Address, development key and control helpers of one running emulator.

    Every helper is a thin call to the emulator's ``/_emulator/*`` control API, so what
    a test does through the handle is exactly what ``curl`` could do.
    """

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        """Base URL of the emulated API, e.g. ``http://127.0.0.1:53817``."""
        self.api_key = api_key
        """An API key the emulator accepts (the default account's)."""
        self._http = httpx.Client(base_url=self.base_url, timeout=30.0)

    def __repr__(self) -> str:
        return f"EmulatorHandle(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the control connection (the emulator itself keeps running)."""
        self._http.close()

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        response = self._http.request(method, "/_emulator" + path, json=body)
        if response.status_code >= 400:
            raise EmulatorControlError(
                f"{method} /_emulator{path} answered {response.status_code}: {response.text}"
            )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- state -----------------------------------------------------------------------

    def reset(self, api_key: Optional[str] = None) -> None:
        """Clear all state, faults and journal (or only one account's, given its key)."""
        self._call("POST", "/reset", {} if api_key is None else {"api_key": api_key})

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

    def session_cookie(self, api_key: Optional[str] = None) -> str:
        """A ``wos_session`` cookie value logged in as the account of ``api_key``."""
        key = self.api_key if api_key is None else api_key
        result = self._call("POST", "/sessions", {"api_key": key})
        return str(result["wos_session"])

    def set_capacity(self, gpu_type: str, region: str, gpus: int) -> Dict[str, Any]:
        """Set how many GPUs of ``gpu_type`` exist in ``region`` (in use ones included)."""
        result: Dict[str, Any] = self._call(
            "PUT", "/capacity", {"gpu_type": gpu_type, "region": region, "gpus": gpus}
        )
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
