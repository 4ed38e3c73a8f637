# Generated from fluidstack/core/_async by scripts/unasync.py: do not edit by hand.
"""The one request pipeline every endpoint goes through (synchronous client).

build the request → send with a timeout → decide on retry → parse or raise.
Everything but the I/O lives in :mod:`fluidstack.core`; this loop only sends and sleeps.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Optional, TypeVar

import httpx

from ..config import ClientConfig
from ..endpoint import (
    CallBudget,
    Endpoint,
    RawResponse,
    build_request,
    claim_raw_slot,
    error_from_response,
    parse_response,
    redirect_request,
    transport_error,
)
from ..errors import ApiError
from ..events import RequestEvent, ResponseEvent, RetryEvent
from ..request_options import RequestOptions
from ..retries import Outcome, classify_exception, classify_status
from ._io import HttpClient, sleep

__all__ = ["Pipeline"]

T = TypeVar("T")

_MAX_REDIRECTS = 10


class Pipeline:
    """Sends calls for one client. Shared by all of the client's resources."""

    def __init__(
        self,
        config: ClientConfig,
        http: HttpClient,
        *,
        sleep: Callable[[float], None] = sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.http = http
        self.sleep = sleep
        self.clock = clock

    def call(
        self,
        endpoint: Endpoint[T],
        *,
        path_params: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        body: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        request_options: Optional[RequestOptions] = None,
        recover: Optional[Callable[[], Optional[T]]] = None,
    ) -> T:
        """Run one API call and return its parsed result.

        ``recover`` is for calls that are not idempotent: after an ambiguous failure
        (the server may have acted) it is awaited to look for the first attempt's effect;
        if it returns a result, that is the call's result; if it returns ``None``, the
        call is retried (when retries remain).
        """
        raw_slot = claim_raw_slot()
        response, retries = self._send(
            endpoint, path_params, query, body, headers, request_options, recover
        )
        if not isinstance(response, httpx.Response):
            recovered: T = response
            return recovered
        if raw_slot is not None:
            raw_slot.append(RawResponse(endpoint, response, retries))
            return None  # type: ignore[return-value]
        return parse_response(endpoint, response)

    def _send(
        self,
        endpoint: Endpoint[T],
        path_params: Optional[Mapping[str, str]],
        query: Optional[Mapping[str, Any]],
        body: Optional[Mapping[str, Any]],
        headers: Optional[Mapping[str, str]],
        options: Optional[RequestOptions],
        recover: Optional[Callable[[], Optional[T]]],
    ) -> tuple[Any, int]:
        config = self.config
        hooks = config.hooks
        budget = CallBudget(config, options, self.clock)
        request = build_request(
            config,
            endpoint,
            path_params=path_params,
            query=query,
            body=body,
            options=options,
            headers=headers,
        ).build(self.http)
        path = request.url.path
        attempt = 0
        while True:
            attempt += 1
            request.extensions["timeout"] = budget.attempt_timeout()
            hooks.request(RequestEvent(endpoint.operation, endpoint.method, path, attempt))
            started = self.clock()
            response: Optional[httpx.Response] = None
            try:
                response = self._send_following_redirects(request)
            except httpx.RequestError as exc:  # transport failures and undecodable bodies
                outcome = classify_exception(exc)
                error: ApiError = transport_error(exc, budget)
                error.__cause__ = exc
                hooks.response(
                    ResponseEvent(
                        endpoint.operation,
                        endpoint.method,
                        path,
                        attempt,
                        None,
                        self.clock() - started,
                        type(exc).__name__,
                    )
                )
            else:
                outcome = classify_status(response.status_code)
                hooks.response(
                    ResponseEvent(
                        endpoint.operation,
                        endpoint.method,
                        path,
                        attempt,
                        response.status_code,
                        self.clock() - started,
                    )
                )
                if outcome is Outcome.SUCCESS:
                    return response, budget.retries_done
                error = error_from_response(response, config.api_key)

            if outcome is Outcome.AMBIGUOUS and not endpoint.idempotent and recover is not None:
                try:
                    recovered = recover()
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
            self.sleep(delay)
            budget.retries_done += 1

    def _send_following_redirects(self, request: httpx.Request) -> httpx.Response:
        response = self.http.send(request, follow_redirects=False)
        hops = 0
        while self.config.follow_redirects and response.has_redirect_location:
            nxt = redirect_request(request, response)
            if nxt is None or hops >= _MAX_REDIRECTS:
                break
            hops += 1
            response.close()
            request = nxt
            response = self.http.send(request, follow_redirects=False)
        return response
