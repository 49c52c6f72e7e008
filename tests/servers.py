"""Real local HTTP servers for tests: a feed server and a webhook receiver, in threads."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Response:
    """What a route answers."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    """A request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 with programmable routes.

    `routes[path]` is a `Response` or a callable taking the `Received` request and
    returning one. Every request is recorded in `requests`.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Response | Callable[[Received], Response]] = {}
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(request)
                    route = server.routes.get(self.path.split("?")[0])
                response = route(request) if callable(route) else route
                if response is None:
                    response = Response(b"not found", 404)
                if response.delay:
                    time.sleep(response.delay)
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                if self.command != "HEAD":
                    self.send_header("content-length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD" and response.status != 304:
                    self.wfile.write(response.body)

            do_GET = _serve
            do_POST = _serve
            do_HEAD = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str) -> list[Received]:
        """Requests made to `path`, in order."""
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == path]

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serving() -> Iterator[LocalServer]:
    """A started `LocalServer`, stopped afterwards."""
    server = LocalServer().start()
    try:
        yield server
    finally:
        server.stop()
