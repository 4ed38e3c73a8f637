"""Platform accounts made by the control API, and the browser's way in: one-time
authorization codes (``/auth/callback``) and the ``wos_session`` cookies they become.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import asdict
from typing import Optional

from fluidstack.emulator.platform.base import PlatformBase
from fluidstack.emulator.platform.records import SESSION_TTL, Account, Session, hash_key
from fluidstack.emulator.responses import ApiError

__all__ = ["SessionsMixin"]


class SessionsMixin(PlatformBase):
    """Accounts, login codes and sessions."""

    def account_for_session(self, token: str) -> Optional[Account]:
        session = self.sessions.get(token)
        if session is None or self.clock.now() - session.created_at > SESSION_TTL:
            return None
        return self.accounts.get(session.account_id)

    def new_session(self, account: Account) -> str:
        with self.lock:
            token = "wos_" + secrets.token_urlsafe(32)
            self.sessions[token] = Session(account_id=account.id, created_at=self.clock.now())
            self._touch("session", token, asdict(self.sessions[token]))
            self._commit()
            return token

    def new_auth_code(self, account: Account) -> str:
        with self.lock:
            code = "code_" + secrets.token_urlsafe(16)
            self.auth_codes[code] = account.id
            return code

    def exchange_auth_code(self, code: str) -> Account:
        """``/auth/callback``: a one-time code (or this run's development code) becomes an
        account."""
        with self.lock:
            dev = self.dev_login_code
            if dev is not None and hmac.compare_digest(
                code.encode("utf-8", "surrogatepass"), dev.encode("ascii")
            ):
                bootstrap = [a for a in self.accounts.values() if a.bootstrap]
                if bootstrap:
                    return bootstrap[0]
            account_id = self.auth_codes.pop(code, None)
            account = self.accounts.get(account_id) if account_id else None
            if account is None:
                raise ApiError(401, "Invalid or expired authorization code")
            return account

    def create_account(self, api_key: str, balance: float) -> Account:
        with self.lock:
            if hash_key(api_key) in self.api_keys:
                raise ApiError(409, "An account with this API key already exists")
            account = self._new_account(api_key, balance, bootstrap=False)
            self._commit()
            return account
