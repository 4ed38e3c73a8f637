"""Following a redirect without leaking credentials to another origin."""

from __future__ import annotations

from typing import Optional, Tuple

import httpx

__all__ = ["redirect_request"]


def _origin(url: httpx.URL) -> Tuple[str, str, Optional[int]]:
    return (url.scheme, url.host, url.port)


def redirect_request(request: httpx.Request, response: httpx.Response) -> Optional[httpx.Request]:
    """The next request of a redirect, without credentials if it leaves the origin."""
    nxt = response.next_request
    if nxt is None:
        return None
    if _origin(nxt.url) != _origin(request.url):
        # httpx only strips `Authorization`; our key travels in `api-key`.
        for name in ("api-key", "cookie"):
            if name in nxt.headers:
                del nxt.headers[name]
    nxt.extensions = dict(request.extensions)
    return nxt
