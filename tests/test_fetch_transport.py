"""The HTTP/1.1 transport against a raw local server: reuse, stale sockets, framing, limits."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import trustme

from worker.errors import FetchRefused
from worker.fetch.client import FetchConfig, FetchLimits, build_client
from worker.fetch.guard import AddressPolicy
from worker.fetch.transport import LeanTransport

LOCAL = AddressPolicy.allowing("127.0.0.1/32")
Reply = Callable[[bytes], list[bytes]]


@dataclass
class RawServer:
    """A TCP server answering each request head with the byte strings `reply` returns.

    It counts accepted connections, and closes a connection after a reply that ends
    with the marker `CLOSE`.
    """

    reply: Reply
    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    sock: socket.socket = field(default_factory=socket.socket)

    def start(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = _content_length(head)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                parts = self.reply(head)
                for part in parts:
                    if part != CLOSE:
                        conn.sendall(part)
                if parts and parts[-1] == CLOSE:
                    return


CLOSE = b"<close>"


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


@pytest.fixture
def raw_server() -> Iterator[Callable[[Reply], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Reply) -> RawServer:
        server = RawServer(reply)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.sock.close()


def ok(body: bytes = b"<rss/>") -> list[bytes]:
    return [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body]


async def _get_all(port: int, paths: list[str], config: FetchConfig | None = None) -> list[bytes]:
    config = config or FetchConfig(limits=FetchLimits(policy=LOCAL))
    bodies = []
    async with build_client(config) as client:
        for path in paths:
            response = await client.get(f"http://127.0.0.1:{port}{path}")
            bodies.append(response.content)
    return bodies


def test_sequential_requests_to_one_origin_share_a_connection(
    raw_server: Callable[[Reply], RawServer],
) -> None:
    server = raw_server(lambda head: ok(head.split(b" ")[1]))
    bodies = asyncio.run(_get_all(server.port, ["/a", "/b", "/c"]))
    assert bodies == [b"/a", b"/b", b"/c"]
    assert server.connections == 1


def test_a_keep_alive_socket_the_server_closed_is_replaced_without_an_error(
    raw_server: Callable[[Reply], RawServer],
) -> None:
    # The server closes every connection after answering, without saying so.
    server = raw_server(lambda head: [*ok(), CLOSE])

    async def run() -> list[bytes]:
        bodies = []
        async with build_client(FetchConfig(limits=FetchLimits(policy=LOCAL))) as client:
            for _ in range(3):
                bodies.append((await client.get(f"http://127.0.0.1:{server.port}/")).content)
                await asyncio.sleep(0.05)  # let the close arrive
        return bodies

    assert asyncio.run(run()) == [b"<rss/>"] * 3
    assert server.connections == 3


def test_connection_close_from_the_server_is_not_reused(
    raw_server: Callable[[Reply], RawServer],
) -> None:
    server = raw_server(
        lambda head: [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi", CLOSE]
    )
    assert asyncio.run(_get_all(server.port, ["/", "/"])) == [b"hi", b"hi"]
    assert server.connections == 2


def test_chunked_and_close_delimited_bodies_are_read_whole(
    raw_server: Callable[[Reply], RawServer],
) -> None:
    def reply(head: bytes) -> list[bytes]:
        if head.startswith(b"GET /chunked"):
            return [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"5\r\nhello\r\n",
                b"6\r\n world\r\n0\r\n\r\n",
            ]
        return [b"HTTP/1.0 200 OK\r\n\r\nuntil the end", CLOSE]

    server = raw_server(reply)
    bodies = asyncio.run(_get_all(server.port, ["/chunked", "/http10"]))
    assert bodies == [b"hello world", b"until the end"]


def test_304_and_informational_answers_keep_the_connection(
    raw_server: Callable[[Reply], RawServer],
) -> None:
    def reply(head: bytes) -> list[bytes]:
        if head.startswith(b"GET /not-modified"):
            return [b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n']
        return [b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n", *ok(b"body")]

    server = raw_server(reply)

    async def run() -> list[tuple[int, bytes]]:
        async with build_client(FetchConfig(limits=FetchLimits(policy=LOCAL))) as client:
            out = []
            for path in ("/not-modified", "/hints", "/not-modified"):
                response = await client.get(f"http://127.0.0.1:{server.port}{path}")
                out.append((response.status_code, response.content))
            return out

    assert asyncio.run(run()) == [(304, b""), (200, b"body"), (304, b"")]
    assert server.connections == 1


def test_a_garbled_answer_is_a_protocol_error(raw_server: Callable[[Reply], RawServer]) -> None:
    server = raw_server(lambda head: [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", CLOSE])
    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(_get_all(server.port, ["/"]))


def test_a_server_that_never_answers_is_a_read_timeout(
    raw_server: Callable[[Reply], RawServer],
) -> None:
    server = raw_server(lambda head: [])
    config = FetchConfig(read_timeout_seconds=0.3, limits=FetchLimits(policy=LOCAL))
    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(_get_all(server.port, ["/"], config))


def test_a_closed_port_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        asyncio.run(_get_all(port, ["/"]))


def test_the_connection_limit_queues_requests_and_the_pool_timeout_applies(
    raw_server: Callable[[Reply], RawServer],
) -> None:
    release = threading.Event()

    def reply(head: bytes) -> list[bytes]:
        release.wait(5)
        return ok()

    server = raw_server(reply)
    config = FetchConfig(
        max_connections=1,
        connect_timeout_seconds=0.1,
        read_timeout_seconds=0.1,
        limits=FetchLimits(policy=LOCAL),
    )

    async def run() -> None:
        async with build_client(config) as client:
            url = f"http://127.0.0.1:{server.port}/"
            first = asyncio.create_task(client.get(url, timeout=httpx.Timeout(5.0)))
            await asyncio.sleep(0.1)
            with pytest.raises(httpx.PoolTimeout):
                await client.get(url, timeout=httpx.Timeout(5.0, pool=0.2))
            release.set()
            assert (await first).status_code == 200

    asyncio.run(run())


def test_a_post_body_reaches_the_server(raw_server: Callable[[Reply], RawServer]) -> None:
    server = raw_server(lambda head: ok(b"{}"))

    async def run() -> int:
        async with build_client(FetchConfig(limits=FetchLimits(policy=LOCAL))) as client:
            response = await client.post(f"http://127.0.0.1:{server.port}/hook", content=b'{"a":1}')
            return response.status_code

    assert asyncio.run(run()) == 200
    assert server.requests[0].endswith(b'\r\n\r\n{"a":1}')
    assert b"content-length: 7" in server.requests[0].lower()


def test_a_name_resolving_to_loopback_is_refused_before_connecting(
    raw_server: Callable[[Reply], RawServer],
) -> None:
    server = raw_server(lambda head: ok())

    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async def run() -> None:
        async with build_client(FetchConfig(), resolver=to_loopback) as client:
            await client.get(f"http://feeds.example:{server.port}/")

    with pytest.raises(FetchRefused, match="loopback"):
        asyncio.run(run())
    assert server.connections == 0


@pytest.fixture
def tls_server() -> Iterator[tuple[int, trustme.CA]]:
    """An HTTPS server whose certificate names `feeds.test`, signed by a test CA."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("feeds.test").configure_cert(context)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = f"<rss>{self.headers['Host']}</rss>".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], ca
    server.shutdown()
    server.server_close()


async def _to_local(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def _tls_get(url: str, context: ssl.SSLContext) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = LeanTransport(policy=LOCAL, resolver=_to_local, ssl_context=context)
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(url)
            await response.aread()
            return response

    return asyncio.run(run())


def test_https_verifies_the_certificate_against_the_host_name(
    tls_server: tuple[int, trustme.CA],
) -> None:
    port, ca = tls_server
    context = ssl.create_default_context()
    ca.configure_trust(context)
    response = _tls_get(f"https://feeds.test:{port}/feed.xml", context)
    assert (response.status_code, response.content) == (
        200,
        f"<rss>feeds.test:{port}</rss>".encode(),
    )
    # Same server and address, but a name the certificate does not carry.
    with pytest.raises(httpx.ConnectError, match="certificate"):
        _tls_get(f"https://other.test:{port}/feed.xml", context)


def test_https_refuses_a_certificate_from_an_unknown_authority(
    tls_server: tuple[int, trustme.CA],
) -> None:
    port, _ = tls_server
    with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
        _tls_get(f"https://feeds.test:{port}/feed.xml", ssl.create_default_context())
