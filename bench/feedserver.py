"""The feed server both polling benches run in a process of their own.

`serve` answers `GET /feed/<index>.xml` with the body and ETag `feed(index)` gives; a
feed whose `with_validators(index)` is false sends no ETag and never answers 304.
`POST /advance` calls `on_advance` (the benches switch to their next bodies).
"""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO


def serve(
    out: TextIO,
    feed: Callable[[int], tuple[bytes, str]],
    with_validators: Callable[[int], bool],
    on_advance: Callable[[], None] = lambda: None,
) -> None:
    """Print the port to `out`, then serve until the process is killed."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            on_advance()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            index = int(self.path.rsplit("/", 1)[1].split(".")[0])
            body, etag = feed(index)
            validators = with_validators(index)
            if validators and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            if validators:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512  # read by listen(): the default 5 drops SYNs, 1-3 s stalls

    httpd = Server(("127.0.0.1", 0), Handler)
    print(httpd.server_address[1], file=out, flush=True)
    httpd.serve_forever()
