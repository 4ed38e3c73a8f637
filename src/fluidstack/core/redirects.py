"""Following a redirect without leaking credentials to another origin."""

from __future__ import annotations

from typing import Optional, Tuple

import httpx

from .errors import RedirectRefusedError

__all__ = ["redirect_request"]


def _origin(url: httpx.URL) -> Tuple[str, str, Optional[int]]:
    return (url.scheme, url.host, url.port)


def _show_origin(url: httpx.URL) -> str:
    # Only the origin: a path or query the server chose may carry anything.
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


def redirect_request(request: httpx.Request, response: httpx.Response) -> Optional[httpx.Request]:
    """The next request of a redirect, without credentials if it leaves the origin.

    Raises :class:`RedirectRefusedError` for a redirect to another origin that would
    re-send the request's body (307, 308): headers can be stripped, but a body may be
    the credentials themselves (a token request's ``client_secret``)."""
    nxt = response.next_request
    if nxt is None:
        return None
    if _origin(nxt.url) != _origin(request.url):
        if nxt.headers.get("content-length", "0") != "0" or "transfer-encoding" in nxt.headers:
            raise RedirectRefusedError(
                f"{_show_origin(request.url)} answered {response.status_code} with a "
                f"redirect to another origin, {_show_origin(nxt.url)}; it was not followed, "
                "because it would have sent the request's body (which may hold "
                "credentials) there",
                location=_show_origin(nxt.url),
                status_code=response.status_code,
            )
        # httpx only strips `Authorization`; our key travels in `api-key`.
        for name in ("api-key", "cookie"):
            if name in nxt.headers:
                del nxt.headers[name]
    nxt.extensions = dict(request.extensions)
    return nxt
