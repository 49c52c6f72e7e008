"""Parse rates on one core, measured the same way by every bench."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_rate(parse: Callable[[], int], seconds: float) -> float:
    """Entries per CPU second of `parse` (which returns its entry count): best of three.

    One warm-up call comes first: feedparser's first parse pays for one-off set-up, which
    a handful of timed parses would count as parsing (about half the rate, measured).
    """
    parse()
    best = 0.0
    for _ in range(3):
        count, started = 0, time.process_time()
        while time.process_time() - started < seconds / 3:
            count += parse()
        best = max(best, count / (time.process_time() - started))
    return best


def feedparser_rate(body: bytes, seconds: float = 1.5) -> float:
    """feedparser's own entries per second on one core, with its defaults, on `body`."""
    import feedparser

    return best_rate(lambda: len(feedparser.parse(body)["entries"]), seconds)
