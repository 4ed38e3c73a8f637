"""An account's SSH keys (``/ssh_keys``) and API keys (``/api_keys``)."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from typing import Any, Dict, List, Optional

from fluidstack.emulator.platform.idempotency import IdempotencyMixin
from fluidstack.emulator.platform.records import Account, SshKey, Stored
from fluidstack.emulator.responses import ApiError

__all__ = ["KeysMixin"]


class KeysMixin(IdempotencyMixin):
    """SSH keys and API keys."""

    def list_ssh_keys(self, account: Account) -> List[SshKey]:
        with self.lock:
            return list(self.ssh_keys.get(account.id, {}).values())

    def add_ssh_key(
        self,
        account: Account,
        name: str,
        public_key: str,
        idempotency_key: Optional[str],
        fingerprint: str,
        status: int = 200,
        legacy: bool = False,
    ) -> Stored:
        with self.lock:
            replay = self.idempotent_replay(account, idempotency_key, fingerprint)
            if replay is not None:
                return replay
            keys = self.ssh_keys.setdefault(account.id, {})
            if name in keys:
                raise ApiError(409, f"An SSH key named {name!r} already exists")
            key = SshKey(self._uuid("sshkey"), account.id, name, public_key, self.clock.now())
            keys[name] = key
            self._touch("sshkey", f"{account.id} {name}", asdict(key))
            body: Dict[str, Any] = {"name": name, "public_key": public_key}
            if legacy:
                body = {"id": key.id, **body}
            self._remember(account, idempotency_key, fingerprint, status, body)
            self._commit()
            return Stored(status, body)

    def delete_ssh_key(self, account: Account, name_or_id: str, by_id: bool = False) -> str:
        with self.lock:
            keys = self.ssh_keys.get(account.id, {})
            key = keys.get(name_or_id)
            if key is None and by_id:
                key = next((k for k in keys.values() if k.id == name_or_id), None)
            if key is None:
                raise ApiError(404, f"SSH key {name_or_id[:100]!r} not found")
            del keys[key.name]
            self._touch("sshkey", f"{account.id} {key.name}", None)
            self._commit()
            return key.name

    # -- api keys -----------------------------------------------------------------------

    def list_api_keys(self, account: Account) -> List[Dict[str, Any]]:
        with self.lock:
            records = [r for r in self.api_keys.values() if r.account_id == account.id]
            records.sort(key=lambda r: r.created_at)
            return [{"id": r.id, "name": r.name} for r in records]

    def create_api_key(
        self, account: Account, name: str, idempotency_key: Optional[str], fingerprint: str
    ) -> Stored:
        with self.lock:
            replay = self.idempotent_replay(account, idempotency_key, fingerprint)
            if replay is not None:
                return replay
            # Secrets come from `secrets`, seed or not: a seed makes runs repeatable, and
            # must not make credentials guessable (issue 13, item 3).
            secret = "fs-" + secrets.token_hex(20)
            key_id = self._add_api_key(account, secret, name, primary=False)
            body = {"id": key_id, "name": name, "api_key": secret}
            self._remember(account, idempotency_key, fingerprint, 201, body)
            self._commit()
            return Stored(201, body)

    def delete_api_key(self, account: Account, key_id: str) -> None:
        with self.lock:
            for key_hash, record in self.api_keys.items():
                if record.id == key_id and record.account_id == account.id:
                    del self.api_keys[key_hash]
                    self._touch("apikey", key_hash, None)
                    self._commit()
                    return
            raise ApiError(404, f"API key {key_id[:100]!r} not found")
