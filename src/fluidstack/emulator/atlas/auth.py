"""Who is calling Atlas: organizations' OAuth clients, the access tokens minted for
them and for users, and the check of a bearer token on each request.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any, Dict, List, Optional, Tuple

from fluidstack.emulator.atlas.base import AtlasBase
from fluidstack.emulator.atlas.records import Organization, hash_secret
from fluidstack.emulator.atlas.users import User
from fluidstack.emulator.responses import ApiError

__all__ = ["AuthMixin"]


class AuthMixin(AtlasBase):
    """Clients, tokens and users."""

    def authenticate_client(self, client_id: str, secret: str) -> Optional[Organization]:
        org = self.org_for_client(client_id)
        if org is None:
            hmac.compare_digest(hash_secret(secret), hash_secret(""))  # same work either way
            return None
        if not hmac.compare_digest(org.secret_hash, hash_secret(secret)):
            return None
        return org

    def create_organization(
        self, client_id: str, secret: str, display_name: Optional[str]
    ) -> Organization:
        with self.lock:
            if client_id in self.orgs_by_client:
                raise ApiError(409, f"An organization with client id {client_id!r} exists")
            org = self._new_org(client_id, secret, display_name, bootstrap=False)
            self._commit()
            return org

    def organization_from_api(self, display_name: str) -> Organization:
        """``POST /organizations`` (Management API): a new organization, which starts as
        any other (a seeded admin, seeded clusters). Its OAuth client gets a fresh id and
        a secret nobody knows (the answer carries neither, as the contract's
        ``{id, name, display_name}``); the control API lists the client id, and
        ``POST /_emulator/atlas/tokens`` mints tokens for it. All *inferred*."""
        with self.lock:
            client_id = f"fs-org-{secrets.token_hex(8)}"
            org = self._new_org(client_id, secrets.token_urlsafe(32), display_name, False)
            self._commit()
            return org

    def organization_views(self) -> List[Dict[str, Any]]:
        """Every organization with its client id (control API)."""
        with self.lock:
            return [{**o.view(), "client_id": o.client_id} for o in self.orgs.values()]

    # -- tokens -----------------------------------------------------------------------

    def mint_token(self, org: Organization, ttl: float, issuer: str) -> Tuple[str, int]:
        """An access token for ``org``'s client, living ``ttl`` real seconds, and its
        ``expires_in`` (``iat``/``exp`` are wall-clock epoch seconds)."""
        now = time.time()
        gen = self.token_generation
        token = self.signer.mint(org.client_id, org.id, now, now + ttl, issuer, generation=gen)
        return token, max(1, int(ttl))

    def mint_user_token(self, user: User, scope: str, issuer: str) -> Tuple[str, int]:
        """A user's access token (``sub`` the user id, with ``email``) and ``expires_in``."""
        now = time.time()
        ttl = self.settings.token_ttl
        # A random jti: two logins in the same second get different tokens.
        extra = {"email": user.email, "scope": scope, "jti": secrets.token_hex(8)}
        token = self.signer.mint(
            user.id, user.org_id, now, now + ttl, issuer, extra, self.token_generation
        )
        return token, max(1, int(ttl))

    def expire_tokens(self) -> int:
        """Expire every access token issued so far (control API), so that a test of
        refresh needs no waiting; returns the new token generation. Refresh tokens stay
        valid: using one is how a client recovers."""
        with self.lock:
            self.token_generation += 1
            self._commit()
            return self.token_generation

    def add_user(
        self, client_id: Optional[str], email: str, password: Optional[str]
    ) -> Tuple[User, str]:
        """A user of the client's organization (control API); the password is generated
        (from ``secrets``) when not given."""
        with self.lock:
            org = self.require_org(client_id)
            if password is None:
                password = secrets.token_urlsafe(12)
            user = self.logins.add_user(org, email, password)
            self._commit()
            return user, password

    def authenticate(self, header: Optional[str]) -> Tuple[Optional[Organization], str, str]:
        """``(organization, subject, "")`` for a valid bearer token, else ``(None, "", why)``."""
        if header is None:
            return None, "", "Missing bearer token: send 'Authorization: Bearer <access token>'"
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None, "", "Malformed Authorization header: expected 'Bearer <access token>'"
        claims = self.signer.verify(token)
        if claims is None:
            return None, "", "Invalid access token"
        if claims.expires <= time.time() or claims.generation < self.token_generation:
            return None, "", "Access token expired"
        org = self.orgs.get(claims.org_id)
        if org is None:
            return None, "", "The access token's organization no longer exists"
        if claims.email is not None and not self.logins.is_current(claims.subject, org.id):
            return None, "", "The access token's user no longer exists"
        return org, claims.subject, ""
