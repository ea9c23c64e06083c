"""held_state.settled: an event's state and offset count once it ends, unless cancelled."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from agents.held_state import settled, settled_offsets


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


def test_an_event_that_ends_or_raises_is_settled() -> None:
    table = Table()
    with settled(Message("t_settled", 0, 5), table):
        pass
    with pytest.raises(ValueError), settled(Message("t_settled", 0, 6), table):
        raise ValueError("a bug of ours: Faust acks the event all the same")
    assert table.calls == ["settle", "settle"]
    assert settled_offsets.pop(("t_settled", 0)) == 6


def test_a_cancelled_event_is_neither_settled_nor_committed() -> None:
    table = Table()
    with pytest.raises(asyncio.CancelledError), settled(Message("t_cancelled", 1, 7), table):
        raise asyncio.CancelledError  # Faust stopping its agent mid-event
    assert table.calls == ["abandon"]
    assert ("t_cancelled", 1) not in settled_offsets
