"""The parse-ahead window: feeds far from storing wait, the next one to store never does."""

from __future__ import annotations

import asyncio

from worker.arrivals import ParseTurns, ParseWindow


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


def test_the_waiting_feed_due_first_is_parsed_first() -> None:
    """Bodies that arrived late but are due first take the next free turns."""

    async def run() -> list[int]:
        turns = ParseTurns(1)
        order: list[int] = []
        all_arrived = asyncio.Event()

        async def parse(index: int) -> None:
            await turns.acquire(index)
            order.append(index)
            await all_arrived.wait()
            turns.release()

        first = asyncio.create_task(parse(7))  # arrived first, takes the free turn
        await asyncio.sleep(0)
        later = [asyncio.create_task(parse(i)) for i in (9, 3, 5, 0)]  # in arrival order
        await asyncio.sleep(0)
        all_arrived.set()
        await asyncio.gather(first, *later)
        return order

    assert asyncio.run(run()) == [7, 0, 3, 5, 9]


def test_a_feed_cancelled_with_its_turn_in_hand_passes_the_turn_on() -> None:
    """A parse cancelled after being handed a turn, before using it, does not lose it."""

    async def run() -> bool:
        turns = ParseTurns(1)
        await turns.acquire(0)
        waiting = asyncio.create_task(turns.acquire(1))
        other = asyncio.create_task(turns.acquire(2))
        await asyncio.sleep(0)
        turns.release()  # handed to feed 1 ...
        waiting.cancel()  # ... which is cancelled before it runs
        await asyncio.gather(waiting, return_exceptions=True)
        await asyncio.wait_for(other, 1)  # feed 2 gets the turn
        return turns.free == 0

    assert asyncio.run(run())
