"""Bearer tokens for the Atlas client: obtained with the client-credentials grant, cached,
replaced before they expire, and replaced once when the server refuses one."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Mapping, Optional

from ...core._async._io import new_lock
from ...core._async.pipeline import AsyncPipeline
from ...core.config import Secret
from ...core.errors import ApiError, MissingCredentialsError, RedirectRefusedError, TokenError
from ...core.raw import side_calls
from ..settings import ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_TOKEN, AtlasSettings
from ..tokens import (
    CachedToken,
    IssuedToken,
    client_credentials_form,
    jwt_claims,
    refresh_token_form,
    token_error,
)

__all__ = ["AsyncTokenAuth"]


class AsyncTokenAuth:
    """The credentials step of an Atlas client's pipeline.

    - With client credentials (or a refresh token from a browser login), a token is
      requested from the token endpoint on first use, kept in memory, and replaced
      shortly before it expires (the earlier of ``expires_in`` and the JWT's ``exp``).
      However many calls run at once, only one request for a new token is in flight;
      the others wait for it. A rotated refresh token replaces the old one.
    - A fixed ``token=`` is sent as given. With client credentials or a refresh token as
      well, it is replaced like an obtained one once it expires or is refused.
    - When the server answers 401, the token is replaced once and the call sent again.
    - ``on_token`` is called with every token obtained, so that it can be kept.
    """

    def __init__(
        self,
        pipeline: AsyncPipeline,
        settings: AtlasSettings,
        *,
        wall_clock: Callable[[], float] = time.time,
        on_token: Optional[Callable[[IssuedToken], object]] = None,
    ) -> None:
        self._pipeline = pipeline
        self._client_id = settings.client_id
        self._client_secret = settings.client_secret
        self._refresh_token = settings.refresh_token
        self._token_url = settings.token_url
        self._audience = settings.audience
        self._wall_clock = wall_clock
        self._on_token = on_token
        self._lock = new_lock()
        self._cached: Optional[CachedToken] = None
        if settings.token is not None:
            self._cached = CachedToken.issued(settings.token, None, pipeline.clock(), wall_clock())

    @property
    def can_refresh(self) -> bool:
        """Whether new tokens can be obtained (client credentials or a refresh token)."""
        return self._client_secret is not None or self._refresh_token is not None

    @property
    def token_url(self) -> str:
        return self._token_url

    def _usable(self) -> Optional[Secret]:
        cached = self._cached
        if cached is None:
            return None
        if not self.can_refresh or cached.fresh(self._pipeline.clock()):
            return cached.value
        return None

    async def token(self) -> Secret:
        """The current access token, obtaining a new one when needed."""
        usable = self._usable()
        if usable is not None:
            return usable
        async with self._lock:
            # Another task may have obtained one while this one waited for the lock.
            usable = self._usable()
            if usable is not None:
                return usable
            return await self._obtain()

    async def headers(self) -> Mapping[str, str]:
        token = await self.token()
        return {"authorization": "Bearer " + token.reveal()}

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        if not self.can_refresh:
            return False
        async with self._lock:
            cached = self._cached
            sent = rejected.get("authorization")
            if (
                cached is not None
                and sent != "Bearer " + cached.value.reveal()
                and cached.fresh(self._pipeline.clock())
            ):
                return True  # replaced by another call since this one was sent
            self._cached = None
            await self._obtain()
            return True

    def secrets(self) -> List[str]:
        held = [
            secret.reveal()
            for secret in (self._client_secret, self._refresh_token)
            if secret is not None
        ]
        if self._cached is not None:
            held.append(self._cached.value.reveal())
        return held

    def claims(self) -> Dict[str, Any]:
        """The current token's claims, read without verifying it (``{}`` without one)."""
        return {} if self._cached is None else jwt_claims(self._cached.value.reveal())

    def expires_at(self) -> Optional[float]:
        """When the current token expires (epoch seconds), if known and if there is one."""
        return None if self._cached is None else self._cached.expires_at

    async def _obtain(self) -> Secret:
        if self._client_id is None or not self.can_refresh:
            raise MissingCredentialsError(
                "no Atlas credentials: pass client_id= and client_secret= (or token=) to "
                f"Atlas(...), or set {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} (or {ENV_TOKEN})"
            )
        form: Dict[str, str]
        if self._refresh_token is not None:
            form = refresh_token_form(self._client_id, self._refresh_token, self._client_secret)
        else:
            assert self._client_secret is not None
            form = client_credentials_form(self._client_id, self._client_secret, self._audience)
        return (await self._request(form)).access_token

    async def exchange(self, client_id: str, form: Mapping[str, str]) -> IssuedToken:
        """Send a grant of another kind (a browser login's authorization code) and adopt
        what it gives: its access token, and its refresh token for later ones."""
        async with self._lock:
            self._client_id = client_id
            return await self._request(form)

    async def _request(self, form: Mapping[str, str]) -> IssuedToken:
        from ..token_endpoint import TOKEN  # pydantic: with the first token, not the import

        try:
            with side_calls():
                answer = await self._pipeline.call(TOKEN, form=form, base_url=self._token_url)
        except RedirectRefusedError as exc:
            # The form holds the client secret (or a refresh token): it never leaves for
            # another origin, whatever the token endpoint says.
            raise TokenError(
                f"the token endpoint {self._token_url} redirected the token request to "
                f"another origin, {exc.location}; it was not sent there, since it holds "
                "the client's credentials. Set token_url to the endpoint itself",
                url=self._token_url,
                status_code=exc.status_code,
            ) from exc
        except ApiError as exc:
            raise token_error(self._token_url, exc) from exc
        if answer.token_type.lower() != "bearer":
            raise TokenError(
                f"the token endpoint {self._token_url} issued a {answer.token_type!r} token; "
                "Atlas needs a Bearer token",
                url=self._token_url,
                status_code=200,
            )
        value = Secret(answer.access_token.get_secret_value())
        cached = CachedToken.issued(
            value, answer.expires_in, self._pipeline.clock(), self._wall_clock()
        )
        self._cached = cached
        if answer.refresh_token is not None:
            # Rotation: the new refresh token replaces the old, which may now be dead.
            self._refresh_token = Secret(answer.refresh_token.get_secret_value())
        issued = IssuedToken(value, self._refresh_token, cached.expires_at)
        if self._on_token is not None:
            self._on_token(issued)
        return issued
