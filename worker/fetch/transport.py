"""A lean HTTP/1.1 transport for httpx: asyncio streams, h11, a keep-alive pool per origin.

httpcore's general pool costs about 2 ms of CPU per request on a small machine (anyio
cancel scopes around every read and write, and a scan of every pooled connection on
each request), which is most of the cost of polling a feed that answers 304. This
transport does the same work in a fraction of it:

* one idle list per origin (scheme, host, port), so finding a connection is O(1);
* at most `max_connections` requests in flight (waiting longer than the pool timeout
  raises `httpx.PoolTimeout`), at most `max_keepalive` idle connections kept, each for
  `keepalive_expiry` seconds;
* every connection is made through `GuardedBackend.resolve`: the host is resolved, every
  address checked, and the socket opened to a checked address (TLS still verifies the
  certificate against the host name); checked answers are reused for `RESOLVE_TTL`
  seconds by the same transport (one transport lives for one polling cycle);
* the response body is streamed as it arrives (transfer-decoded by h11, content-encoding
  left alone), so callers can cap the decoded size while reading;
* a request sent on a reused connection that the server had already closed is retried
  once on a new connection, as browsers and httpcore do;
* errors are httpx's: `ConnectTimeout`, `ConnectError`, `ReadTimeout`, `WriteTimeout`,
  `ReadError`, `WriteError`, `RemoteProtocolError`, `PoolTimeout`; refusals by the
  address guard propagate as `FetchRefused`.

HTTP/2, proxies and Unix sockets are deliberately not supported.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import h11
import httpcore
import httpx

from worker.fetch.guard import AddressPolicy, GuardedBackend, Resolver

READ_SIZE = 64 * 1024
MAX_HEAD = 100 * 1024
RESOLVE_TTL = 60.0
CLOSE_WAIT = 2.0
PRUNE_AT = 512
Origin = tuple[str, str, int]


class _StaleConnection(Exception):
    """A reused connection turned out to be closed before the server answered."""


@dataclass(slots=True)
class _Connection:
    """One open socket and its h11 state machine."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(
        default_factory=lambda: h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    )
    idle_since: float = 0.0
    reused: bool = False
    answered: bool = False

    def usable(self, now: float, expiry: float) -> bool:
        """Return True when the connection can carry another request."""
        return (
            now - self.idle_since < expiry
            and not self.writer.is_closing()
            and not self.reader.at_eof()
            and self.h11.our_state is h11.IDLE
        )

    def close(self) -> None:
        """Close the socket without waiting."""
        self.writer.close()


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    """Return the connect/read/write/pool timeouts httpx put on the request."""
    timeout = request.extensions.get("timeout", {})
    return {key: timeout.get(key) for key in ("connect", "read", "write", "pool")}


class LeanTransport(httpx.AsyncBaseTransport):
    """An `httpx.AsyncBaseTransport` for HTTP/1.1 over guarded connections."""

    def __init__(
        self,
        *,
        policy: AddressPolicy,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 50,
        max_keepalive: int = 20,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self._guard = GuardedBackend(policy, resolver=resolver)
        self._ssl = ssl_context
        self._slots = asyncio.Semaphore(max_connections)
        self._max_keepalive = max_keepalive
        self._expiry = keepalive_expiry
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._idle_count = 0
        self._closed = False
        self._resolved: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._open: set[asyncio.StreamWriter] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request and return the response with its body still streaming."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        url = request.url
        if url.scheme not in {"http", "https"}:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        origin: Origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts = _timeouts(request)
        if self._slots.locked():
            try:
                async with asyncio.timeout(timeouts["pool"]):
                    await self._slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout("no connection slot became free in time") from None
        else:
            await self._slots.acquire()  # free: returns at once
        try:
            return await self._exchange(request, origin, timeouts)
        except BaseException:
            self._slots.release()
            raise

    async def _exchange(
        self, request: httpx.Request, origin: Origin, timeouts: dict[str, float | None]
    ) -> httpx.Response:
        """Send on a pooled connection (retrying once if it was stale) or a new one."""
        connection = self._take_idle(origin)
        if connection is not None:
            try:
                return await self._send(connection, request, origin, timeouts)
            except _StaleConnection:
                pass
            except BaseException:  # cancelled by the caller's deadline, or failed
                connection.close()
                raise
        connection = await self._connect(origin, timeouts["connect"])
        try:
            return await self._send(connection, request, origin, timeouts)
        except _StaleConnection:
            raise httpx.RemoteProtocolError(
                "the server closed the connection without answering"
            ) from None
        except BaseException:
            connection.close()
            raise

    def _take_idle(self, origin: Origin) -> _Connection | None:
        """Return a live idle connection to the origin, closing expired ones on the way."""
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.usable(now, self._expiry):
                connection.reused = True
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        """Open a connection to a checked address of the origin's host."""
        scheme, host, port = origin
        started = time.monotonic()
        addresses = await self._checked_addresses(host, port, timeout)
        remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        tls = self._ssl_context() if scheme == "https" else None
        last_error: Exception | None = None
        for address in addresses:
            writer = None
            try:
                async with asyncio.timeout(remaining):
                    reader, writer = await asyncio.open_connection(address, port, limit=READ_SIZE)
                    if tls is not None:
                        # TLS after TCP, so a failed handshake still closes the socket.
                        await writer.start_tls(tls, server_hostname=host)
                if len(self._open) >= PRUNE_AT:
                    self._open = {w for w in self._open if not w.is_closing()}
                self._open.add(writer)
                return _Connection(reader, writer)
            except TimeoutError:
                if writer is not None:
                    writer.close()
                raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
            except (OSError, ssl.SSLError) as error:
                if writer is not None:
                    writer.close()
                last_error = error
            except BaseException:
                if writer is not None:
                    writer.close()
                raise
        raise httpx.ConnectError(f"cannot connect to {host}:{port}: {last_error}")

    async def _checked_addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        """Resolve and check the host, reusing an answer younger than RESOLVE_TTL seconds.

        Only checked addresses are cached, and the socket is opened to one of them, so a
        cached answer cannot be used to slip past the guard.
        """
        now = time.monotonic()
        cached = self._resolved.get((host, port))
        if cached is not None and now - cached[0] < RESOLVE_TTL:
            return cached[1]
        try:
            addresses = await self._guard.resolve(host, port, timeout)
        except httpcore.ConnectTimeout as error:
            raise httpx.ConnectTimeout(str(error)) from None
        except httpcore.ConnectError as error:
            raise httpx.ConnectError(str(error)) from None
        self._resolved[(host, port)] = (now, addresses)
        return addresses

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context(trust_env=False)
        return self._ssl

    async def _send(
        self,
        connection: _Connection,
        request: httpx.Request,
        origin: Origin,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        """Write the request and read the response head; the body streams afterwards."""
        conn = connection.h11
        connection.answered = False
        try:
            head = h11.Request(
                method=request.method,
                target=request.url.raw_path,
                headers=list(request.headers.raw),
            )
            data = conn.send(head)
            body = [conn.send(h11.Data(data=chunk)) for chunk in await _body_of(request)]
            data += b"".join(part for part in body if part)
            data += conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as error:
            connection.close()
            raise httpx.LocalProtocolError(str(error)) from None
        try:
            connection.writer.write(data)
            if connection.writer.transport.get_write_buffer_size():  # the socket is full
                async with asyncio.timeout(timeouts["write"]):
                    await connection.writer.drain()
        except TimeoutError:
            connection.close()
            raise httpx.WriteTimeout("writing the request timed out") from None
        except OSError as error:
            connection.close()
            if connection.reused:
                raise _StaleConnection from None
            raise httpx.WriteError(str(error)) from None
        event = await self._next_event(connection, timeouts["read"], head_expected=True)
        while isinstance(event, h11.InformationalResponse):
            event = await self._next_event(connection, timeouts["read"], head_expected=True)
        assert isinstance(event, h11.Response)
        return httpx.Response(
            status_code=event.status_code,
            headers=list(event.headers),
            stream=_BodyStream(self, connection, origin, timeouts["read"]),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": event.reason},
        )

    async def _next_event(
        self, connection: _Connection, timeout: float | None, *, head_expected: bool = False
    ) -> h11.Event:
        """Return the next h11 event, reading from the socket as needed."""
        conn = connection.h11
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as error:
                connection.close()
                raise httpx.RemoteProtocolError(str(error)) from None
            if event is not h11.NEED_DATA:
                assert isinstance(event, h11.Event)
                return event
            try:
                async with asyncio.timeout(timeout):
                    data = await connection.reader.read(READ_SIZE)
            except TimeoutError:
                connection.close()
                raise httpx.ReadTimeout("reading the response timed out") from None
            except OSError as error:
                connection.close()
                if head_expected and connection.reused and not connection.answered:
                    raise _StaleConnection from None
                raise httpx.ReadError(str(error)) from None
            if not data and head_expected and connection.reused and not connection.answered:
                connection.close()
                raise _StaleConnection
            connection.answered = connection.answered or bool(data)
            conn.receive_data(data)

    def _release(self, connection: _Connection, origin: Origin, complete: bool) -> None:
        """Return a finished connection to the pool, or close it."""
        self._slots.release()
        conn = connection.h11
        keep = (
            complete
            and not self._closed
            and not connection.writer.is_closing()
            and conn.our_state is h11.DONE
            and conn.their_state is h11.DONE
            and self._idle_count < self._max_keepalive
        )
        if not keep:
            connection.close()
            return
        conn.start_next_cycle()
        connection.idle_since = time.monotonic()
        self._idle.setdefault(origin, deque()).append(connection)
        self._idle_count += 1

    async def aclose(self) -> None:
        """Close every connection and wait (briefly) until the sockets are gone.

        A TLS socket closes only after its close-notify exchange, which needs the event
        loop to run on: waiting here keeps sockets from outliving the loop.
        """
        self._closed = True
        self._idle.clear()
        self._idle_count = 0
        writers, self._open = self._open, set()
        for writer in writers:
            writer.close()
        if writers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_WAIT):
                    await asyncio.gather(
                        *(w.wait_closed() for w in writers), return_exceptions=True
                    )


async def _body_of(request: httpx.Request) -> list[bytes]:
    """Return the request body as chunks (feeds send none; webhooks send a small JSON)."""
    stream = request.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    return [bytes(chunk) async for chunk in stream if chunk]


class _BodyStream(httpx.AsyncByteStream):
    """The response body as it arrives; closing it frees the connection."""

    def __init__(
        self,
        transport: LeanTransport,
        connection: _Connection,
        origin: Origin,
        timeout: float | None,
    ) -> None:
        self._transport = transport
        self._connection = connection
        self._origin = origin
        self._timeout = timeout
        self._complete = False
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._complete:
            event = await self._transport._next_event(self._connection, self._timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._complete = True
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError("the server closed the connection mid-body")

    def _ends_in_buffer(self) -> bool:
        """Return True if what was already received ends the message (a 304, a short body)."""
        conn = self._connection.h11
        try:
            while True:
                event = conn.next_event()
                if isinstance(event, h11.EndOfMessage):
                    return True
                if not isinstance(event, h11.Data):
                    return False
        except h11.ProtocolError:
            return False

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        self._complete = self._complete or self._ends_in_buffer()
        if not self._complete:
            # Unread body: cheaper to drop the connection than to drain it.
            self._connection.close()
        with contextlib.suppress(Exception):
            self._transport._release(self._connection, self._origin, self._complete)
