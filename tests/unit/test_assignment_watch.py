"""Metadata asked for again while an assignment lacks subscribed topics, and only then."""

from __future__ import annotations

import asyncio

import pytest

from agents.assignment_watch import (
    FIRST_BACKOFF_S,
    MAX_BACKOFF_S,
    missing_topics,
    refresh_until_listed,
)


class Broker:
    """Metadata that lists the topics in ``listed``; each refresh lists ``appear`` more."""

    def __init__(self, listed: set[str], appear: list[set[str]], fail: int = 0, hang: int = 0) -> None:
        self.listed = set(listed)
        self.appear = list(appear)
        self.fail = fail  # refreshes that fail first (no broker answered: aiokafka says False)
        self.hang = hang  # then refreshes that time out
        self.refreshes = 0

    def partitions_of(self, topic: str) -> set[int] | None:
        return {0, 1} if topic in self.listed else None

    async def refresh(self) -> bool:
        self.refreshes += 1
        if self.fail:
            self.fail -= 1
            return False
        if self.hang:
            self.hang -= 1
            raise TimeoutError  # as asyncio.wait_for raises it
        if self.appear:
            self.listed |= self.appear.pop(0)
        return True


def _watch(broker: Broker, subscribed: set[str], current: int = 10**6) -> list[float]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    rounds = iter(range(current))
    asyncio.run(
        refresh_until_listed(
            lambda: subscribed,
            broker.partitions_of,
            broker.refresh,
            lambda: next(rounds, None) is not None,
            sleep=sleep,
        )
    )
    return slept


def test_missing_topics_are_those_without_partitions() -> None:
    partitions = {"a": {0}, "b": set(), "c": {0, 1}}
    assert missing_topics(["c", "b", "d", "a"], partitions.get) == ["b", "d"]
    assert missing_topics([], partitions.get) == []


def test_nothing_asked_for_when_the_metadata_lists_every_topic() -> None:
    broker = Broker({"meter", "status"}, [])
    assert _watch(broker, {"meter", "status"}) == []
    assert broker.refreshes == 0


def test_refreshes_with_backoff_until_the_topics_are_listed() -> None:
    broker = Broker(set(), [set(), set(), {"meter"}, {"status"}])
    slept = _watch(broker, {"meter", "status"})
    assert broker.refreshes == 4
    assert slept == [FIRST_BACKOFF_S * 2**n for n in range(4)]


def test_failed_and_timed_out_refreshes_are_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    broker = Broker(set(), [{"meter"}], fail=2, hang=1)
    _watch(broker, {"meter"})
    assert broker.refreshes == 4 and broker.listed == {"meter"}
    assert sum("metadata refresh failed" in r.getMessage() for r in caplog.records) == 3


def test_backoff_is_bounded_for_a_topic_that_never_appears() -> None:
    broker = Broker(set(), [])
    slept = _watch(broker, {"deleted"}, current=12)
    assert len(slept) == 12 and max(slept) == MAX_BACKOFF_S
    assert slept[-3:] == [MAX_BACKOFF_S] * 3


def test_stops_once_the_assignment_is_replaced() -> None:
    broker = Broker(set(), [])
    assert _watch(broker, {"meter"}, current=0) == []
    assert broker.refreshes == 0
    assert len(_watch(broker, {"meter"}, current=3)) == 3  # replaced after three rounds
