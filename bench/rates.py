"""Parse rates on one core, measured the same way by every bench."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Pass:
    """One pass of feedparser over a set of bodies: entries, wall and CPU seconds."""

    entries: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        """Entries per second of wall time (the clock the pipeline's rate is taken on)."""
        return self.entries / self.wall


def feedparser_pass(bodies: Sequence[bytes]) -> Pass:
    """feedparser, with its defaults, over every body once, after one warm-up parse.

    Unlike `feedparser_rate`, which keeps the best of three short windows, this takes as
    long as parsing the whole set does, so it averages the machine's speed over a span
    as long as a polling cycle of the same bodies.
    """
    import feedparser

    feedparser.parse(bodies[0])
    entries = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        entries += len(feedparser.parse(body)["entries"])
    return Pass(entries, time.perf_counter() - wall, time.process_time() - cpu)
