"""wirewatch: poll feeds, match watchlists, drop what you already read, deliver signed digests."""

__version__ = "0.1.0"
