"""The exceptions wirewatch raises.

Every error derives from one root, and each branch carries the resource it is about,
so that a log line or a CLI message can name it::

    WirewatchError
    ├── ConfigError            an invalid setting (names the setting)
    ├── WatchlistError         an invalid watchlist file (names the file and the field)
    │   └── QuerySyntaxError   a malformed query (names line and column, draws a caret)
    ├── FeedError              a feed could not be fetched or parsed (names the feed URL)
    │   ├── FetchRefused       the address check or the scheme check said no
    │   └── FeedTooLarge       the body passed the size cap
    ├── DeliveryError          a webhook delivery failed (names the delivery id, never the URL)
    └── StoreError             the database failed (wraps SQLAlchemy's error)

Library errors (httpx, SQLAlchemy, feedparser) are wrapped at the boundary. A failing
feed or delivery is recorded as a value by the pipeline; these exceptions never stop a
whole cycle.
"""

from __future__ import annotations


class WirewatchError(Exception):
    """Root of every wirewatch error."""


class ConfigError(WirewatchError):
    """A setting is invalid."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"invalid setting {setting}: {message}")
        self.setting = setting


class WatchlistError(WirewatchError):
    """A watchlist file is invalid; `field` is a dotted path such as `webhooks.0.url`."""

    def __init__(self, path: str, field: str, message: str) -> None:
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.field = field
        self.message = message


class QuerySyntaxError(WirewatchError):
    """A query string is malformed at `position` (0-based offset into the query)."""

    def __init__(self, message: str, query: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.query = query
        self.position = position

    def caret(self) -> str:
        """The query and a caret line under the offending character."""
        line_start = self.query.rfind("\n", 0, self.position) + 1
        line_end = self.query.find("\n", self.position)
        line = self.query[line_start : line_end if line_end != -1 else None]
        return f"{line}\n{' ' * (self.position - line_start)}^"


class FeedError(WirewatchError):
    """A feed could not be fetched or used; `kind` is a short stable label for metrics."""

    kind = "error"

    def __init__(self, url: str, message: str, kind: str | None = None) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message
        if kind is not None:
            self.kind = kind

    def __reduce__(self) -> tuple[type[FeedError], tuple[str, str, str]]:
        """Pickle with the original arguments, so the error crosses a process pool."""
        return (type(self), (self.url, self.message, self.kind))


class FetchRefused(FeedError):
    """The request was refused before it was sent (scheme or address not allowed)."""

    kind = "refused"


class FeedTooLarge(FeedError):
    """The response body passed the configured size cap."""

    kind = "too_large"


class DeliveryError(WirewatchError):
    """A webhook delivery attempt failed."""

    def __init__(self, delivery_id: str, message: str) -> None:
        super().__init__(f"delivery {delivery_id}: {message}")
        self.delivery_id = delivery_id


class StoreError(WirewatchError):
    """The database failed; the original error is the `__cause__`."""
