"""The platform's busiest routes served without FastAPI's routing and parameter
machinery: ``GET /instances``, ``POST /instances`` and ``GET /instances/{id}``.

Profiled (cProfile, in-process ASGI calls), FastAPI's route walk, dependency solving
and query/body parameter machinery were ~70 % of a small ``GET /instances`` (issue 15,
item 3). These handlers only parse the request, and only a well-formed one: the answer
comes from the same function of :mod:`fluidstack.emulator.platform.operations` that the
FastAPI route calls. Anything else (an unusual query, a body that does not validate, a
``HEAD``, a trailing slash) goes on to FastAPI, so every error keeps FastAPI's exact
shape.
"""

from __future__ import annotations

import logging
import re
from typing import Optional, Tuple

from pydantic import ValidationError
from starlette.responses import Response

from fluidstack.emulator.platform import operations as ops
from fluidstack.emulator.platform.models import CreateInstanceRequest
from fluidstack.emulator.platform.state import Account, PlatformState
from fluidstack.emulator.responses import (
    ApiError,
    JsonResponse,
    Receive,
    Scope,
    Send,
    api_error_response,
    message_response,
)

__all__ = ["serve_fast"]

logger = logging.getLogger("fluidstack.emulator")

_PAGE = re.compile(rb"[1-9][0-9]{0,8}")
_FLAGS = {b"true": True, b"false": False, b"1": True, b"0": False}
_INSTANCE = re.compile(r"/instances/([^/]+)")
_JSON = frozenset({"application/json", "application/json; charset=utf-8"})


def _list_query(query: bytes) -> Optional[Tuple[int, bool]]:
    """``page`` and ``include_failed_instances`` when the query is plainly valid (each at
    most once, nothing else); ``None`` sends the request on to FastAPI."""
    page, failed = 1, False
    seen = set()
    if query:
        for part in query.split(b"&"):
            name, eq, value = part.partition(b"=")
            if not eq or name in seen:
                return None
            seen.add(name)
            if name == b"page" and _PAGE.fullmatch(value):
                page = int(value)
            elif name == b"include_failed_instances" and value in _FLAGS:
                failed = _FLAGS[value]
            else:
                return None
    return page, failed


def _create(
    state: PlatformState, account: Account, body: bytes, idempotency_key: Optional[str]
) -> Optional[Response]:
    try:
        # Parsed and validated in one pass (pydantic's JSON mode): the same model as
        # json.loads then model_validate for every body both accept (fuzzed, issue 24).
        # The few bodies json.loads takes and this refuses (a UTF-8 BOM, UTF-16) go on
        # to FastAPI, which parses them with json.loads and answers the same.
        model = CreateInstanceRequest.model_validate_json(body)
    except (ValueError, ValidationError, RecursionError):
        return None  # FastAPI answers it (422 with its own detail)
    return ops.create_instance(state, account, model, idempotency_key)


async def serve_fast(
    state: PlatformState,
    account: Optional[Account],
    scope: Scope,
    body: bytes,
    content_type: Optional[str],
    idempotency_key: Optional[str],
    receive: Receive,
    send: Send,
) -> bool:
    """Answer the request if it is one of the fast routes (``True``), else leave it."""
    if account is None:
        return False
    method, path = scope["method"], scope["path"]
    try:
        if path == "/instances":
            if method == "GET":
                query = _list_query(scope.get("query_string", b""))
                if query is None:
                    return False
                response = ops.list_instances(state, account, query[0], query[1])
            elif method == "POST":
                if not body or content_type is None or content_type.lower() not in _JSON:
                    return False
                made = _create(state, account, body, idempotency_key)
                if made is None:
                    return False
                response = made
            else:
                return False
        elif method == "GET" and path.startswith("/instances/") and not scope.get("query_string"):
            match = _INSTANCE.fullmatch(path)
            if match is None:
                return False
            response = ops.get_instance(state, account, match.group(1))
        else:
            return False
    except ApiError as exc:
        response = api_error_response(exc)
    except Exception as exc:  # as the app's own handler of unexpected errors
        logger.error("internal error on %s %s", method, path, exc_info=exc)
        response = message_response(500, "Internal emulator error")
    if type(response) is JsonResponse:
        # Its two messages, sent from here: one coroutine fewer per request (issue 24).
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": response.raw_headers})  # fmt: skip
        await send({"type": "http.response.body", "body": response.body})
    else:
        await response(scope, receive, send)
    return True
