"""Helpers of the port-forwarding tests: a small HTTP server started on an emulated
instance (as a user would start one over exec), and an HTTP GET on the laptop side."""

from __future__ import annotations

import urllib.request

# Binds port 0 on the instance's loopback and keeps the socket (no find-then-close race),
# then writes the port it got to a file; answers every GET with its path and, when it is
# a stand-in for Jupyter, refuses a request without the token it was started with.
SERVER = r"""
import http.server, os, sys
token = os.environ.get("FLUIDSTACK_JUPYTER_TOKEN")
port = int(os.environ.get("FLUIDSTACK_JUPYTER_PORT") or 0)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if token and ("token=" + token) not in self.path:
            self.send_response(403)
            self.end_headers()
            return
        body = ("served " + self.path + " from " + os.getcwd()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write(str(server.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
print("serving at http://127.0.0.1:%d/lab?token=%s" % (server.server_address[1], token), flush=True)
server.serve_forever()
"""

START = (
    "cat > serve.py && (nohup python3 serve.py port </dev/null >serve.log 2>&1 &) && "
    "for i in $(seq 200); do [ -s port ] && break; sleep 0.05; done && cat port"
)
"""Run with ``SERVER`` as its stdin: starts the server in the background, prints its port."""


def http_get(url: str, timeout: float = 30.0) -> str:
    """The body of a GET of ``url`` (blocking: call it from a thread under asyncio)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode()
