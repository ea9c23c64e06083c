"""held_state.settled: an event's state and offset count once it ends, unless cancelled;
and the gate: a commit takes state only while no event is half-way."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from agents.held_state import Gate, settled, settled_offsets


@dataclass
class Table:
    calls: list[str] = field(default_factory=list)

    def settle(self) -> None:
        self.calls.append("settle")

    def abandon(self) -> None:
        self.calls.append("abandon")


@dataclass
class Message:
    topic: str
    partition: int
    offset: int


async def _event(message: Message, table: Table, exc: BaseException | None = None) -> None:
    async with settled(message, table):
        if exc is not None:
            raise exc


def test_an_event_that_ends_or_raises_is_settled() -> None:
    table = Table()
    asyncio.run(_event(Message("t_settled", 0, 5), table))
    with pytest.raises(ValueError):  # a bug of ours: Faust acks the event all the same
        asyncio.run(_event(Message("t_settled", 0, 6), table, ValueError("bug")))
    assert table.calls == ["settle", "settle"]
    assert settled_offsets.pop(("t_settled", 0)) == 6


def test_a_cancelled_event_is_neither_settled_nor_committed() -> None:
    table = Table()
    with pytest.raises(asyncio.CancelledError):  # Faust stopping its agent mid-event
        asyncio.run(_event(Message("t_cancelled", 1, 7), table, asyncio.CancelledError()))
    assert table.calls == ["abandon"]
    assert ("t_cancelled", 1) not in settled_offsets


def test_a_commit_waits_for_the_events_in_flight_and_holds_new_ones_back() -> None:
    async def scenario() -> list[str]:
        gate, log = Gate(), []
        release = asyncio.Event()

        async def event(name: str, wait: asyncio.Event | None = None) -> None:
            await gate.enter()
            log.append(f"{name} starts")
            if wait is not None:
                await wait.wait()
            log.append(f"{name} ends")
            gate.leave()

        async def commit() -> None:
            async with gate.closed():
                log.append("commit takes state")

        first = asyncio.create_task(event("first", release))
        await asyncio.sleep(0)
        taking = asyncio.create_task(commit())
        await asyncio.sleep(0)
        second = asyncio.create_task(event("second"))
        await asyncio.sleep(0.01)
        assert log == ["first starts"]  # the commit waits for first; second waits for it
        release.set()
        await asyncio.gather(first, taking, second)
        return log

    assert asyncio.run(scenario()) == [
        "first starts",
        "first ends",
        "commit takes state",
        "second starts",
        "second ends",
    ]


def test_a_commit_with_no_event_in_flight_takes_at_once_and_a_cancelled_waiter_harms_no_other() -> None:
    async def scenario() -> None:
        gate = Gate()
        async with gate.closed():
            waiters = [asyncio.create_task(gate.enter()) for _ in range(2)]
            await asyncio.sleep(0)
            waiters[0].cancel()
            await asyncio.sleep(0)
        await waiters[1]  # entered once the commit was done
        assert waiters[0].cancelled()
        gate.leave()
        async with gate.closed():
            pass

    asyncio.run(asyncio.wait_for(scenario(), 5))
