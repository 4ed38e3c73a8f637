"""What every API of the emulator answers with: business errors and JSON responses."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, List, MutableMapping, Optional, Tuple

from starlette.responses import Response

from fluidstack.emulator.encoding import dumps

__all__ = [
    "ASGIApp",
    "ApiError",
    "JsonResponse",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "api_error_response",
    "json_response",
    "message_response",
    "send_json",
    "storage_unavailable",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiError(Exception):
    """A business error: answered as ``status`` with ``{"message": message}``."""

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def storage_unavailable(reason: str) -> ApiError:
    """503 for a write that could not be committed: nothing changed, try again."""
    return ApiError(
        503,
        f"The emulator could not save this change ({reason[:100]}); nothing was changed, try again",
        {"retry-after": "1"},
    )


class JsonResponse(Response):
    """Starlette's ``Response`` for a JSON body, built without its general machinery:
    the same two headers (``content-length``, then ``content-type``), the same two ASGI
    messages. Every answer of the platform's fast path is one, so the few microseconds
    Starlette spends on header merging and rendering count (issue 24)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.background is not None:
            await super().__call__(scope, receive, send)  # as Starlette does it
            return
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        await send({"type": "http.response.body", "body": self.body})


def json_response(status: int, content: Any, headers: Optional[Dict[str, str]] = None) -> Response:
    """A JSON answer serialised once (no response-model pass: the fast path)."""
    if headers is None and status >= 200 and status not in (204, 304):
        return JsonResponse(dumps(content), status)
    return Response(dumps(content), status, headers, "application/json")


def message_response(status: int, message: str) -> Response:
    return json_response(status, {"message": message})


def api_error_response(exc: ApiError) -> Response:
    """The answer to a business error: ``{"message"}`` with its status and headers."""
    response = message_response(exc.status, exc.message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def send_json(
    send: Send, status: int, content: Any, extra: Optional[List[Tuple[bytes, bytes]]] = None
) -> None:
    """Answer with ``content`` as JSON straight over ASGI (no framework in between). A
    status that may carry no body (an injected 204, say) is sent without one: HTTP
    forbids it, and strict clients (aiohttp) fail on it."""
    if status in (204, 304) or 100 <= status < 200:
        await send({"type": "http.response.start", "status": status, "headers": list(extra or [])})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    body = dumps(content)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
