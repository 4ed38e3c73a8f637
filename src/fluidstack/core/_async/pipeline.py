"""The one request pipeline every endpoint goes through (asynchronous client).

build the request → send with a timeout → decide on retry → parse or raise.
Everything but the I/O lives in :mod:`fluidstack.core`; this loop only sends and sleeps.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Awaitable, Callable, Mapping, Optional, Protocol, Sequence, TypeVar

import httpx

from ..budget import CallBudget
from ..config import ClientConfig
from ..endpoint import Endpoint, Found
from ..errors import ApiError, scrub_chain
from ..events import (
    EventHooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    logger,
    watch_secrets,
)
from ..raw import RawResponse, claim_raw_slot
from ..redirects import redirect_request
from ..request import build_request, request_path
from ..request_options import RequestOptions
from ..response import (
    declared_too_large,
    error_from_response,
    parse_response,
    quick_headers,
    too_large_error,
    transport_error,
)
from ..retries import (
    Outcome,
    classify_exception,
    classify_status,
    late_create_delays,
    may_arrive_late,
)
from ..server_clock import ServerClock
from ._io import HttpClient, deadline, new_http_client, sleep
from .creates import AsyncCreateGuard

__all__ = ["AsyncAuth", "AsyncPipeline"]

T = TypeVar("T")

_MAX_REDIRECTS = 10


class AsyncAuth(Protocol):
    """The pipeline's credentials step for APIs with expiring tokens (Atlas).

    Before each attempt of an authenticated call the pipeline adds :meth:`headers`; when
    the server answers 401 it calls :meth:`refresh` once per call and, if that gives new
    credentials, sends the attempt again (not counted as a retry).
    """

    async def headers(self) -> Mapping[str, str]:
        """The credential headers for the next attempt (obtaining a token if needed)."""
        ...

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        """The server refused ``rejected``: get new credentials. ``False`` when there are
        none to get (a fixed token), so the 401 stands."""
        ...

    def secrets(self) -> Sequence[str]:
        """Every secret this step holds, kept out of error messages."""
        ...


class AsyncPipeline:
    """Sends calls for one client. Shared by all of the client's resources."""

    def __init__(
        self,
        config: ClientConfig,
        http: HttpClient,
        *,
        sleep: Callable[[float], Awaitable[None]] = sleep,
        clock: Callable[[], float] = time.monotonic,
        auth: Optional[AsyncAuth] = None,
        headers_on_client: bool = False,
    ) -> None:
        self.config = config
        self.http = http
        self.sleep = sleep
        self.clock = clock
        self.auth = auth
        watch_secrets(self)  # keep them out of httpx's and httpcore's log records too
        self.headers_on_client = headers_on_client
        """Whether ``http`` carries ``config.headers`` itself (a client of our own)."""
        self.server_clock = ServerClock()
        """The server's time, from the ``Date`` of its answers."""

    @classmethod
    def on(cls, config: ClientConfig, custom: Optional[HttpClient]) -> AsyncPipeline:
        """A pipeline on the caller's httpx client, or on a new one that carries the
        client's fixed headers (user agent, API key, default headers): httpx merges and
        checks those once, not on every call."""
        if custom is not None:
            return cls(config, custom)
        http = new_http_client(config.timeout, config.headers)
        return cls(config, http, headers_on_client=True)

    async def call(
        self,
        endpoint: Endpoint[T],
        *,
        path_params: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        body: Optional[Mapping[str, Any]] = None,
        form: Optional[Mapping[str, str]] = None,
        headers: Optional[Mapping[str, str]] = None,
        request_options: Optional[RequestOptions] = None,
        recover: Optional[Callable[[], Awaitable[Optional[Found[T]]]]] = None,
        base_url: Optional[str] = None,
        location: Optional[str] = None,
    ) -> T:
        """Run one API call and return its parsed result.

        ``recover`` is for calls that are not idempotent: after an ambiguous failure
        (the server may have acted) it is awaited to look for the first attempt's effect;
        if it returns :class:`Found`, its value is the call's result; if it returns
        ``None``, the call is retried (when retries remain). An
        :class:`~fluidstack.core._async.creates.AsyncCreateGuard` (a create's) also keeps
        looking for a grace period when the attempt may still arrive, and after a resend
        deletes a second resource the late first attempt made.

        ``base_url`` sends this call to another root than the client's (an Atlas region,
        a token endpoint); ``location`` names it in errors (``"region eu-north-1"``).
        """
        raw_slot = claim_raw_slot()
        request = build_request(
            self.config,
            endpoint,
            path_params=path_params,
            query=query,
            body=body,
            form=form,
            options=request_options,
            headers=headers,
            base_url=base_url,
            headers_on_client=self.headers_on_client,
        ).build(self.http)
        response, retries = await self._send(endpoint, request, request_options, recover, location)
        if isinstance(response, Found):
            recovered: T = response.value
            return recovered
        guard = recover if isinstance(recover, AsyncCreateGuard) else None
        if raw_slot is not None:
            raw_slot.append(RawResponse(endpoint, response, retries))
            if guard is not None and retries:
                await self._remove_duplicates(guard, parse_response(endpoint, response))
            return None  # type: ignore[return-value]
        result = parse_response(endpoint, response)
        if guard is not None and retries:
            await self._remove_duplicates(guard, result)
        return result

    async def _remove_duplicates(self, guard: AsyncCreateGuard[Any], result: Any) -> None:
        """A resent create succeeded: its first attempt may have arrived late, too."""
        kept = getattr(result, "id", None)
        if isinstance(kept, str):
            await guard.remove_duplicates(kept, self.config.hooks)

    def server_time(self) -> dt.datetime:
        """The current time by the server's clock (see :class:`ServerClock`)."""
        return self.server_clock.now(self.clock())

    def secrets(self) -> Sequence[Optional[str]]:
        """The credentials this pipeline sends, to keep out of error messages."""
        held = self.auth.secrets() if self.auth is not None else ()
        return (self.config.api_key, *held)

    async def _send(
        self,
        endpoint: Endpoint[T],
        request: httpx.Request,
        options: Optional[RequestOptions],
        recover: Optional[Callable[[], Awaitable[Optional[Found[T]]]]],
        location: Optional[str],
    ) -> tuple[Any, int]:
        config = self.config
        hooks = config.hooks
        budget = CallBudget(config, options, self.clock)
        path = request_path(request)
        auth = self.auth if endpoint.authenticated else None
        credentials: Mapping[str, str] = {}
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            if auth is not None:
                credentials = await auth.headers()
                request.headers.update(credentials)
            request.extensions["timeout"] = budget.attempt_timeout()
            if hooks._hears_requests():
                hooks.request(RequestEvent(endpoint.operation, endpoint.method, path, attempt))
            started = self.clock()
            response: Optional[httpx.Response] = None
            try:
                # The attempt's timeout and the call's total deadline cover the whole
                # attempt: connecting, the headers and the body, whatever pace the
                # server sends them at.
                with deadline(budget.start_attempt()):
                    response = await self._send_following_redirects(request)
                    await self._read_body(response, budget)
            except (httpx.RequestError, TimeoutError) as raised:
                # Transport failures, undecodable bodies, and the deadline's cancellation.
                exc = raised
                if not isinstance(exc, httpx.RequestError):
                    exc = httpx.ReadTimeout(_deadline_message(budget), request=request)
                    exc.__cause__ = raised
                response = None
                outcome = classify_exception(exc)
                error: ApiError = transport_error(exc, budget, self.secrets())
                scrub_chain(exc, self.secrets())
                error.__cause__ = exc
                _report(hooks, endpoint, path, attempt, None, self.clock() - started,
                        type(exc).__name__)  # fmt: skip
            else:
                self.server_clock.observe(quick_headers(response), self.clock())
                outcome = classify_status(response.status_code)
                _report(hooks, endpoint, path, attempt, response.status_code,
                        self.clock() - started)  # fmt: skip
                if outcome is Outcome.SUCCESS:
                    return response, budget.retries_done
                if response.status_code == 401 and auth is not None and not refreshed:
                    # An expired or revoked token: one fresh token, then the same attempt
                    # again. A second 401 is the answer.
                    refreshed = True
                    if await auth.refresh(credentials):
                        hooks.retry(
                            RetryEvent(
                                endpoint.operation, endpoint.method, path, attempt, 0.0, "401"
                            )
                        )
                        continue
                error = error_from_response(response, self.secrets(), endpoint, location)

            if outcome is Outcome.AMBIGUOUS and not endpoint.idempotent and recover is not None:
                try:
                    recovered = await recover()
                    if (
                        recovered is None
                        and isinstance(recover, AsyncCreateGuard)
                        and may_arrive_late(response.status_code if response else None)
                    ):
                        recovered = await self._wait_for_late_create(recover, budget)
                except ApiError:
                    # Without the lookup there is no telling whether the call was
                    # performed: report its own failure, with the lookup's as context.
                    raise error  # noqa: B904 - keep the transport error as the cause
                if recovered is not None:
                    return recovered, budget.retries_done
                # The first attempt left no trace: repeating it is as safe as retrying
                # a request that never arrived.
                outcome = Outcome.NOT_PERFORMED
            delay = budget.next_delay(
                outcome, response.headers if response is not None else None, endpoint.idempotent
            )
            if delay is None:
                raise error
            hooks.retry(
                RetryEvent(
                    endpoint.operation,
                    endpoint.method,
                    path,
                    attempt,
                    delay,
                    str(response.status_code) if response is not None else type(error).__name__,
                )
            )
            await self.sleep(delay)
            budget.retries_done += 1

    async def _wait_for_late_create(
        self, guard: AsyncCreateGuard[Any], budget: CallBudget
    ) -> Optional[Found[Any]]:
        """The attempt got no answer, and the lookup found nothing: the request may still
        be on its way. Look again for a grace period before it is sent again."""
        for delay in late_create_delays(budget.create_grace):
            left = budget.remaining()
            if left is not None and delay >= left:
                return None
            logger.info(
                "%s: looking again in %.1fs for what the unanswered attempt made",
                guard.operation,
                delay,
            )
            await self.sleep(delay)
            found = await guard()
            if found is not None:
                return found
        return None

    async def _send_following_redirects(self, request: httpx.Request) -> httpx.Response:
        response = await self.http.send(request, follow_redirects=False, stream=True)
        hops = 0
        while self.config.follow_redirects and response.has_redirect_location:
            try:
                nxt = redirect_request(request, response)
            except ApiError:
                await response.aclose()
                raise
            if nxt is None or hops >= _MAX_REDIRECTS:
                break
            hops += 1
            await response.aclose()
            request = nxt
            response = await self.http.send(request, follow_redirects=False, stream=True)
        return response

    async def _read_body(self, response: httpx.Response, budget: CallBudget) -> None:
        """Read the (streamed) body, at most ``max_response_bytes`` of it once decoded,
        checking the total deadline between chunks."""
        limit = budget.max_response_bytes
        if declared_too_large(response, limit):
            await response.aclose()
            raise too_large_error(response, limit)
        chunks = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise too_large_error(response, limit)
                chunks.append(chunk)
                left = budget.attempt_left()
                if left is not None and left <= 0:
                    raise httpx.ReadTimeout(_deadline_message(budget), request=response.request)
        except BaseException:
            await response.aclose()
            raise
        # What httpx's own read() does, with the cap: the body is the response's content.
        response._content = b"".join(chunks)


def _report(
    hooks: EventHooks,
    endpoint: Endpoint[Any],
    path: str,
    attempt: int,
    status_code: Optional[int],
    elapsed: float,
    error: Optional[str] = None,
) -> None:
    """How an attempt ended, to the hooks and the log; the event is built only when
    something listens (building it is ~3% of a fast call on aiohttp)."""
    if hooks._hears_responses():
        hooks.response(
            ResponseEvent(
                endpoint.operation, endpoint.method, path, attempt, status_code, elapsed, error
            )
        )


def _deadline_message(budget: CallBudget) -> str:
    if budget.total_deadline_passed():
        return "the call's total timeout has passed"
    return f"the attempt did not finish within its timeout of {budget.attempt_seconds():g}s"
