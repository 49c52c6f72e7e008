"""Watchlists: loading the files, the query language, and the compiled matcher."""

from worker.watchlists.explain import explain
from worker.watchlists.loader import LoadResult, load_watchlists
from worker.watchlists.matcher import Matcher
from worker.watchlists.registry import RefreshResult, WatchlistRegistry

__all__ = [
    "LoadResult",
    "Matcher",
    "RefreshResult",
    "WatchlistRegistry",
    "explain",
    "load_watchlists",
]
