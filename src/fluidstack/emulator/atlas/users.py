"""Atlas users and their browser logins: passwords, one-time authorization codes (PKCE)
and rotating refresh tokens.

Machine access is an OAuth client per organization (``auth.py``); people log in as
*users*, each a member of one organization, through ``/authorize`` with the public client
(``fs-emulator-cli``). What is secret is kept only hashed: passwords (PBKDF2), codes and
refresh tokens (SHA-256), so neither the ``--db`` file nor a memory dump gives a usable
credential. Every secret comes from :mod:`secrets`, never from ``--seed``.

Refresh tokens rotate: each use answers a new one and retires the old. A retired token
presented again means two parties hold the login (a stolen token), so every refresh token
of that login (its *family*) is revoked, as Auth0's reuse detection does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Protocol, Tuple

from fluidstack.emulator.atlas.records import Member, Organization
from fluidstack.emulator.clock import SimClock
from fluidstack.emulator.responses import ApiError
from fluidstack.emulator.settings import (
    DEV_ATLAS_PUBLIC_CLIENT_ID,
    DEV_ATLAS_USER_EMAIL,
    FLUIDCTL_PUBLIC_CLIENT_ID,
    EmulatorSettings,
)

__all__ = [
    "CODE_TTL",
    "REFRESH_TTL",
    "AuthorizationCode",
    "GrantError",
    "Logins",
    "LoginsHost",
    "RefreshToken",
    "User",
    "pkce_challenge",
]

CODE_TTL = 60.0
"""Simulated seconds an authorization code can be exchanged."""
REFRESH_TTL = 30 * 86400.0
"""Simulated seconds a refresh token stays usable after it was issued."""
CODE_LIMIT = 10_000
"""Most authorization codes kept at once (the oldest go first)."""
PBKDF2_ITERATIONS = 10_000
"""Enough to make a stolen hash costly; few enough to keep a test's login fast."""

USER_NAMESPACE = uuid.UUID("0b6f3c59-2f1e-5a55-8d0e-6a1d9f6c2b44")


def hash_token(token: str) -> str:
    """Codes and refresh tokens are kept as SHA-256 hashes only."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def hash_password(password: str, salt: Optional[bytes] = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac(
        "sha256", password.encode("utf-8", "surrogatepass"), salt, PBKDF2_ITERATIONS
    )
    return f"pbkdf2-sha256${PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def password_matches(stored: str, password: str) -> bool:
    try:
        _, iterations, salt_hex, digest_hex = stored.split("$")
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
        rounds = int(iterations)
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8", "surrogatepass"), salt, rounds)
    return hmac.compare_digest(digest, expected)


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
"""Checked against when the e-mail is unknown, so that both cases cost the same."""


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def bootstrap_user_id(email: str) -> str:
    """A command-line user's id follows from its e-mail: stable across resets/restarts."""
    return str(uuid.uuid5(USER_NAMESPACE, email.lower()))


class GrantError(Exception):
    """An authorization code or refresh token that cannot be exchanged (``invalid_grant``)."""


@dataclass
class User:
    id: str
    """Also the id of the user's member record in its organization."""
    org_id: str
    email: str
    password_hash: str
    bootstrap: bool
    """Given on the command line (or the development user): survives a full reset."""
    created_at: float

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, email={self.email!r}, org_id={self.org_id!r})"


@dataclass
class AuthorizationCode:
    """What a one-time code was issued for (kept in memory only: it lives 60 s)."""

    client_id: str
    redirect_uri: str
    challenge: str
    user_id: str
    scope: str
    expires: float
    family: str
    """The login this code starts; its refresh tokens share it."""
    used: bool = False


@dataclass
class RefreshToken:
    family: str
    user_id: str
    org_id: str
    client_id: str
    scope: str
    issued_at: float
    expires_at: float
    rotated: bool = False
    """Exchanged already: presenting it again revokes the whole family."""

    def __repr__(self) -> str:
        return f"RefreshToken(family={self.family!r}, user_id={self.user_id!r})"


@dataclass(frozen=True)
class Grant:
    """What the token endpoint answers for a code or refresh grant."""

    user: User
    scope: str
    refresh_token: Optional[str]


class LoginsHost(Protocol):
    """What :class:`Logins` needs of the Atlas state it is part of (the store's journal,
    clock and organizations): a protocol, so that this module need not import the state
    that imports it."""

    settings: EmulatorSettings
    clock: SimClock
    orgs: Dict[str, Organization]

    def _touch(self, kind: str, key: str, value: Optional[Any]) -> None: ...

    def _uuid(self, purpose: str) -> str: ...

    def _commit(self, clear: bool = False) -> None: ...

    def _add_member(
        self,
        org: Organization,
        name: str,
        email: str,
        role: str,
        member_id: Optional[str] = None,
    ) -> Member: ...

    def org_for_client(self, client_id: str) -> Optional[Organization]: ...


class Logins:
    """The users of every organization, their pending codes and refresh tokens.

    Part of :class:`~fluidstack.emulator.atlas.state.AtlasState`: it shares its lock,
    clock and store, and persists users and refresh tokens (``user`` and ``refresh``
    records) with the rest of Atlas.
    """

    def __init__(self, state: LoginsHost) -> None:
        self._state = state
        self.dev_password = secrets.token_urlsafe(12)
        """The development user's password for this run (announced once at start)."""
        self.empty()

    def __repr__(self) -> str:
        return f"Logins(users={len(self.users)}, refresh_tokens={len(self.refresh)})"

    def empty(self) -> None:
        self.users: Dict[str, User] = {}
        self.by_email: Dict[str, str] = {}
        self.codes: OrderedDict[str, AuthorizationCode] = OrderedDict()
        self.refresh: OrderedDict[str, RefreshToken] = OrderedDict()
        self.families: Dict[str, List[str]] = {}

    # -- who exists from the start ------------------------------------------------------

    def bootstrap_specs(self) -> List[Tuple[str, str, str]]:
        """``(email, password, client id)`` of the users that exist from the start."""
        settings = self._state.settings
        first_client = settings.effective_atlas_clients[0][0]
        users = settings.effective_atlas_users
        if not users:
            return [(DEV_ATLAS_USER_EMAIL, self.dev_password, first_client)]
        return [(email, pw, client or first_client) for email, pw, client in users]

    @property
    def dev_user(self) -> Optional[User]:
        """The development user, when no ``--atlas-user`` was given."""
        if self._state.settings.atlas_users:
            return None
        return self.user_by_email(DEV_ATLAS_USER_EMAIL)

    def seed(self, org: Organization) -> None:
        """Create the command-line users of ``org`` (after a reset too, with the same ids)."""
        for email, password, client_id in self.bootstrap_specs():
            if client_id == org.client_id:
                self._new_user(org, email, password, bootstrap=True)

    def ensure_bootstrap(self) -> None:
        """After loading a database: command-line users exist with this run's passwords."""
        state = self._state
        for email, password, client_id in self.bootstrap_specs():
            org = state.org_for_client(client_id)
            if org is None:
                continue
            user = self.user_by_email(email)
            if user is None:
                self._new_user(org, email, password, bootstrap=True)
            elif not password_matches(user.password_hash, password):
                user.password_hash = hash_password(password)
                state._touch("user", user.id, asdict(user))

    def _new_user(self, org: Organization, email: str, password: str, bootstrap: bool) -> User:
        state = self._state
        if email.lower() in self.by_email:
            raise ApiError(409, f"A user with the e-mail {email!r} exists")
        user_id = bootstrap_user_id(email) if bootstrap else state._uuid("user")
        user = User(
            id=user_id,
            org_id=org.id,
            email=email,
            password_hash=hash_password(password),
            bootstrap=bootstrap,
            created_at=state.clock.now(),
        )
        self.users[user.id] = user
        self.by_email[email.lower()] = user.id
        state._touch("user", user.id, asdict(user))
        # Users are members of their organization: they show in GET /members.
        name = "Development User" if email == DEV_ATLAS_USER_EMAIL else email.split("@")[0]
        state._add_member(org, name, email, "admin", member_id=user.id)
        return user

    def load(self, data: Dict[str, Dict[str, Any]]) -> None:
        for raw in data.get("user", {}).values():
            user = User(**raw)
            self.users[user.id] = user
            self.by_email[user.email.lower()] = user.id
        now = self._state.clock.now()
        records = sorted(data.get("refresh", {}).items(), key=lambda item: item[1]["issued_at"])
        for token_hash, raw in records:
            record = RefreshToken(**raw)
            if record.expires_at <= now:
                self._state._touch("refresh", token_hash, None)
                continue
            self.refresh[token_hash] = record
            self.families.setdefault(record.family, []).append(token_hash)

    # -- users --------------------------------------------------------------------------

    def user_by_email(self, email: str) -> Optional[User]:
        return self.users.get(self.by_email.get(email.lower(), ""))

    def add_user(self, org: Organization, email: str, password: str) -> User:
        """A user added at runtime (control API); it vanishes on a full reset."""
        return self._new_user(org, email, password, bootstrap=False)

    def authenticate(self, email: str, password: str) -> Optional[User]:
        user = self.user_by_email(email)
        if user is None:
            password_matches(_DUMMY_HASH, password)  # the same work either way
            return None
        return user if password_matches(user.password_hash, password) else None

    def remove_user(self, user_id: str) -> None:
        """The user is gone (its member record was deleted): so are its logins."""
        user = self.users.pop(user_id, None)
        if user is None:
            return
        self.by_email.pop(user.email.lower(), None)
        self._state._touch("user", user.id, None)
        for family in {r.family for r in self.refresh.values() if r.user_id == user.id}:
            self._revoke_family(family)
        for code_hash in [h for h, c in self.codes.items() if c.user_id == user.id]:
            del self.codes[code_hash]

    def drop_org(self, org: Organization) -> None:
        for user in [u for u in self.users.values() if u.org_id == org.id]:
            self.remove_user(user.id)

    def is_current(self, user_id: str, org_id: str) -> bool:
        """Whether a user's access token still has a user behind it."""
        user = self.users.get(user_id)
        return user is not None and user.org_id == org_id

    def views(self) -> List[Dict[str, Any]]:
        state = self._state
        return [
            {
                "id": u.id,
                "email": u.email,
                "org_id": u.org_id,
                "client_id": state.orgs[u.org_id].client_id if u.org_id in state.orgs else None,
            }
            for u in self.users.values()
        ]

    # -- authorization codes ------------------------------------------------------------

    def issue_code(
        self, user: User, client_id: str, redirect_uri: str, challenge: str, scope: str
    ) -> str:
        """A one-time code for ``user``, bound to the client, redirect and PKCE challenge."""
        now = self._state.clock.now()
        self._prune(now)
        code = secrets.token_urlsafe(32)
        self.codes[hash_token(code)] = AuthorizationCode(
            client_id=client_id,
            redirect_uri=redirect_uri,
            challenge=challenge,
            user_id=user.id,
            scope=scope,
            expires=now + CODE_TTL,
            family=str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)),
        )
        while len(self.codes) > CODE_LIMIT:
            self.codes.popitem(last=False)
        return code

    def exchange_code(self, code: str, client_id: str, redirect_uri: str, verifier: str) -> Grant:
        """The grant of a code (once); raises :class:`GrantError` for anything amiss."""
        now = self._state.clock.now()
        self._prune(now)
        record = self.codes.get(hash_token(code))
        if record is None or record.expires <= now:
            raise GrantError("Unknown or expired authorization code")
        if record.used:
            # RFC 6749 section 4.1.2: a code used twice revokes what it gave.
            self._revoke_family(record.family)
            self._state._commit()
            raise GrantError(
                "Authorization code already used; the tokens it gave have been revoked"
            )
        record.used = True  # whatever happens next, a code is tried once
        if record.client_id != client_id:
            raise GrantError("The authorization code was issued to another client")
        if record.redirect_uri != redirect_uri:
            raise GrantError("redirect_uri is not the one the authorization code was issued for")
        if not _valid_verifier(verifier) or not hmac.compare_digest(
            pkce_challenge(verifier), record.challenge
        ):
            raise GrantError("code_verifier does not match the code challenge")
        user = self.users.get(record.user_id)
        if user is None:
            raise GrantError("The user of this authorization code no longer exists")
        refresh = None
        if "offline_access" in record.scope.split():
            refresh = self._new_refresh(record.family, user, client_id, record.scope, now)
        self._state._commit()
        return Grant(user, record.scope, refresh)

    # -- refresh tokens -----------------------------------------------------------------

    def _new_refresh(self, family: str, user: User, client_id: str, scope: str, now: float) -> str:
        token = secrets.token_urlsafe(32)
        token_hash = hash_token(token)
        record = RefreshToken(
            family=family,
            user_id=user.id,
            org_id=user.org_id,
            client_id=client_id,
            scope=scope,
            issued_at=now,
            expires_at=now + REFRESH_TTL,
        )
        self.refresh[token_hash] = record
        self.families.setdefault(family, []).append(token_hash)
        self._state._touch("refresh", token_hash, asdict(record))
        return token

    def use_refresh(self, token: str, client_id: str) -> Grant:
        """Rotate: a new refresh token replaces ``token``. A retired one revokes them all."""
        now = self._state.clock.now()
        self._prune(now)
        token_hash = hash_token(token)
        record = self.refresh.get(token_hash)
        if record is None or record.expires_at <= now:
            raise GrantError("Unknown, expired or revoked refresh token")
        if record.rotated:
            self._revoke_family(record.family)
            self._state._commit()
            raise GrantError(
                "Refresh token already used: every refresh token of this login has been "
                "revoked; log in again"
            )
        if record.client_id != client_id:
            raise GrantError("The refresh token was issued to another client")
        user = self.users.get(record.user_id)
        if user is None:
            raise GrantError("The user of this refresh token no longer exists")
        record.rotated = True
        self._state._touch("refresh", token_hash, asdict(record))
        new = self._new_refresh(record.family, user, client_id, record.scope, now)
        self._state._commit()
        return Grant(user, record.scope, new)

    def _revoke_family(self, family: str) -> None:
        for token_hash in self.families.pop(family, []):
            if self.refresh.pop(token_hash, None) is not None:
                self._state._touch("refresh", token_hash, None)

    def _prune(self, now: float) -> None:
        """Drop expired codes and refresh tokens (oldest first: both expire in order)."""
        while self.codes:
            code_hash, record = next(iter(self.codes.items()))
            if record.expires > now:
                break
            del self.codes[code_hash]
        while self.refresh:
            token_hash, token = next(iter(self.refresh.items()))
            if token.expires_at > now:
                break
            del self.refresh[token_hash]
            family = self.families.get(token.family)
            if family is not None:
                if token_hash in family:
                    family.remove(token_hash)
                if not family:
                    del self.families[token.family]
            self._state._touch("refresh", token_hash, None)


def _valid_verifier(verifier: str) -> bool:
    """RFC 7636 section 4.1: 43-128 characters of ``[A-Za-z0-9-._~]``."""
    return 43 <= len(verifier) <= 128 and all(
        c.isascii() and (c.isalnum() or c in "-._~") for c in verifier
    )


PUBLIC_CLIENTS = frozenset({DEV_ATLAS_PUBLIC_CLIENT_ID, FLUIDCTL_PUBLIC_CLIENT_ID})
"""OAuth clients without a secret, allowed only the browser login: the emulator's own
(``fs-emulator-cli``) and fluidctl's built-in one."""
