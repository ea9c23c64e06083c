"""A declaration tried again while the broker is away, for a bounded time; refusals at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from aiokafka.errors import (
    InvalidReplicationFactorError,
    KafkaConnectionError,
    NodeNotReadyError,
    PolicyViolationError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
)
from faust.exceptions import NotReady

from agents.topic_declare import (
    FIRST_BACKOFF_S,
    MAX_BACKOFF_S,
    KafkaUnavailable,
    broker_away,
    declare_patiently,
)


@pytest.mark.parametrize(
    "exc",
    [
        NodeNotReadyError("node -1"),
        KafkaConnectionError("refused"),
        RequestTimedOutError(),
        NotReady("Not connected to Kafka Broker"),
        TimeoutError(),  # asyncio's
        ConnectionRefusedError(),
        Exception("Controller node is None"),  # Faust's words for these
        Exception("Controller node not found"),
        RuntimeError("Invalid controller: 1"),
        InvalidReplicationFactorError("All brokers are currently fenced."),
    ],
)
def test_the_broker_away_is_worth_waiting_for(exc: BaseException) -> None:
    assert broker_away(exc)


@pytest.mark.parametrize(
    "exc",
    [
        TopicAuthorizationFailedError(),
        PolicyViolationError(),
        RuntimeError("something else"),
        Exception("Cannot create topic"),
        TypeError("a bug of ours"),
    ],
)
def test_a_refusal_or_a_bug_is_not(exc: BaseException) -> None:
    assert not broker_away(exc)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def _declare(failures: list[BaseException]) -> tuple[list[int], Callable[[], Awaitable[None]]]:
    calls: list[int] = []

    async def declare() -> None:
        calls.append(1)
        if failures:
            raise failures.pop(0)

    return calls, declare


def test_declared_once_the_broker_answers() -> None:
    clock = _Clock()
    calls, declare = _declare([NodeNotReadyError("node -1")] * 5)
    asyncio.run(declare_patiently(declare, "t", 60, clock=clock, sleep=clock.sleep))
    assert len(calls) == 6
    assert clock.sleeps == [FIRST_BACKOFF_S, 1.0, 2.0, 4.0, MAX_BACKOFF_S]


def test_gives_up_within_the_wait_with_a_clear_error() -> None:
    clock = _Clock()
    _, declare = _declare([NodeNotReadyError("node -1")] * 100)
    with pytest.raises(KafkaUnavailable, match=r"topic 't-changelog' for \d+ s .*NodeNotReadyError") as info:
        asyncio.run(declare_patiently(declare, "t-changelog", 30, clock=clock, sleep=clock.sleep))
    assert clock.now <= 30
    assert isinstance(info.value.__cause__, NodeNotReadyError)


def test_a_refusal_fails_at_once() -> None:
    clock = _Clock()
    calls, declare = _declare([PolicyViolationError()])
    with pytest.raises(PolicyViolationError):
        asyncio.run(declare_patiently(declare, "t", 60, clock=clock, sleep=clock.sleep))
    assert len(calls) == 1


def test_a_stopping_worker_does_not_wait() -> None:
    clock = _Clock()
    calls, declare = _declare([NodeNotReadyError("node -1")] * 3)
    with pytest.raises(NodeNotReadyError):
        asyncio.run(
            declare_patiently(declare, "t", 60, stopping=lambda: True, clock=clock, sleep=clock.sleep)
        )
    assert len(calls) == 1


def test_a_try_the_broker_never_answers_ends_within_the_wait() -> None:
    async def never() -> None:
        await asyncio.sleep(3600)

    began = time.monotonic()
    with pytest.raises(KafkaUnavailable, match="TimeoutError"):
        asyncio.run(declare_patiently(never, "t", 0.3))
    assert time.monotonic() - began < 2
