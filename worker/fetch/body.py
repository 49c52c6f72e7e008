"""Read a response body under a size cap that applies to the decoded bytes.

httpx's own decoder inflates each received chunk whole, so a few hundred KiB of gzip
can become hundreds of MiB in one step. Here the raw stream is read and inflated with
`zlib.decompressobj` in pieces of at most `PIECE` bytes, stopping as soon as the decoded
size passes the cap: memory stays near the cap whatever the compression ratio.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator

from worker.errors import FeedError, FeedTooLarge

PIECE = 64 * 1024


class _Inflater:
    """Inflates gzip (possibly multi-member) or deflate (zlib-wrapped or raw) input."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.first = True
        self.decoder = self._new()

    def _new(self) -> zlib._Decompress:
        if self.encoding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj()

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """Yield the decoded pieces of `data`, each at most PIECE bytes, lazily."""
        while data:
            try:
                piece = self.decoder.decompress(data, PIECE)
            except zlib.error:
                if not (self.first and self.encoding == "deflate"):
                    raise
                # Some servers send raw deflate without the zlib header.
                self.decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                piece = self.decoder.decompress(data, PIECE)
            self.first = False
            if piece:
                yield piece
            data = self.decoder.unconsumed_tail
            if self.decoder.eof:
                rest = self.decoder.unused_data.lstrip(b"\0")
                if not rest:
                    break
                self.decoder = self._new()  # the next gzip member
                data = rest

    def finish(self) -> bytes:
        """Return what the decoder still holds (small: all input was consumed piecewise)."""
        return self.decoder.flush()


async def read_capped(
    url: str, chunks: AsyncIterator[bytes], content_encoding: str, max_bytes: int
) -> bytes:
    """Return the decoded body; raise FeedTooLarge past `max_bytes`, FeedError if undecodable."""
    encoding = content_encoding.strip().lower()
    if encoding in {"", "identity"}:
        inflater = None
    elif encoding in {"gzip", "x-gzip"}:
        inflater = _Inflater("gzip")
    elif encoding == "deflate":
        inflater = _Inflater("deflate")
    else:
        raise FeedError(url, f"unsupported Content-Encoding {encoding!r}", kind="malformed")
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            for piece in inflater.pieces(chunk) if inflater else [chunk]:
                size += len(piece)
                if size > max_bytes:
                    raise FeedTooLarge(url, f"body larger than {max_bytes} bytes")
                parts.append(piece)
        if inflater:
            tail = inflater.finish()
            size += len(tail)
            if size > max_bytes:
                raise FeedTooLarge(url, f"body larger than {max_bytes} bytes")
            parts.append(tail)
    except zlib.error as error:
        raise FeedError(url, f"cannot decode {encoding} body: {error}", kind="malformed") from None
    return b"".join(parts)
