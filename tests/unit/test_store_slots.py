"""The Cassandra store's in-flight bound (no Cassandra: the slot counter alone). Room comes
back in bulk: a writer that waited goes on with all that has freed up meanwhile, so its
next statements go out together (agents/sinks/timeseries.py)."""

from __future__ import annotations

import asyncio

from agents.sinks.timeseries import _Slots


def test_a_take_waits_for_room_and_goes_on_once_there_is_enough() -> None:
    async def scenario() -> list[str]:
        slots, log = _Slots(3), []
        await slots.take(2)
        await slots.take(1)

        async def writer() -> None:
            await slots.take(2)
            log.append("took 2")

        task = asyncio.create_task(writer())
        await asyncio.sleep(0)
        slots.give(1)
        await asyncio.sleep(0)
        log.append("one freed")  # one is not enough for two
        slots.give(1)
        await task
        return log

    assert asyncio.run(scenario()) == ["one freed", "took 2"]


def test_a_take_larger_than_the_bound_waits_for_all_of_it() -> None:
    async def scenario() -> bool:
        slots = _Slots(1)
        await slots.take(1)
        task = asyncio.create_task(slots.take(2))
        await asyncio.sleep(0)
        waited = not task.done()
        slots.give(1)
        await asyncio.wait_for(task, 1)
        return waited

    assert asyncio.run(scenario())


def test_a_cancelled_wait_takes_nothing() -> None:
    async def scenario() -> None:
        slots = _Slots(1)
        await slots.take(1)
        task = asyncio.create_task(slots.take(1))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        slots.give(1)
        await asyncio.wait_for(slots.take(1), 1)  # the room freed is all there

    asyncio.run(scenario())
