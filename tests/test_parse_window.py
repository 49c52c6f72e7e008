"""The parse-ahead window: feeds far from storing wait, the next one to store never does."""

from __future__ import annotations

import asyncio

from worker.arrivals import ParseWindow


def test_feeds_beyond_the_window_wait_until_storing_moves_on() -> None:
    async def run() -> list[int]:
        window = ParseWindow(2)
        parsed: list[int] = []

        async def parse(index: int) -> None:
            await window.wait_for(index)
            parsed.append(index)

        tasks = [asyncio.create_task(parse(i)) for i in (4, 3, 2, 1, 0)]
        await asyncio.sleep(0)
        assert sorted(parsed) == [0, 1]  # only the window is parsed
        window.advance()  # feed 0 stored
        await asyncio.sleep(0)
        assert sorted(parsed) == [0, 1, 2]
        window.advance()
        window.advance()
        await asyncio.gather(*tasks)
        return sorted(parsed)

    assert asyncio.run(run()) == [0, 1, 2, 3, 4]


def test_the_feed_storing_waits_for_is_always_inside_the_window() -> None:
    window = ParseWindow(1)
    for stored in range(5):
        # Storing waits for feed `stored`; it must be parseable at once.
        assert asyncio.run(asyncio.wait_for(window.wait_for(stored), 1)) is None
        window.advance()
