"""How long rendering and signing a large digest takes, per format.

Run: .venv/bin/python bench/digest_render.py [stories]
Prints, for each format, the messages produced, the largest body and the time per render;
then the time to sign one JSON body with two secrets.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

from worker.delivery.signing import webhook_headers
from worker.digest import FORMATS, render
from worker.digest.samples import sample_digest

SECRETS = ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2VjcmV0LXRoYXQtd2FzLXJvdGF0ZWQtb3V0")


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds per call of a no-argument callable."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    stories = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    digest = sample_digest(stories, hostile=True, notices=("feed X has failed since 2025-02-07",))
    print(f"digest: {len(digest.stories)} stories")
    for fmt in FORMATS:
        messages = render(digest, fmt)
        seconds = timed(partial(render, digest, fmt), repeat=15)
        largest = max(len(m.body) for m in messages)
        print(
            f"{fmt:8} {len(messages):3} messages  largest {largest:7} bytes  "
            f"{seconds * 1000:7.2f} ms per render"
        )
    body = render(digest, "json")[0].body
    seconds = timed(lambda: webhook_headers("msg_1", 1_700_000_000, body, SECRETS), repeat=200)
    print(f"sign     {len(body)} bytes with 2 secrets: {seconds * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
