"""Faust's topic declarations at a worker's start, ridden through a broker that is away.

A starting worker has Faust declare its topics (the tables' changelogs, its leader topic):
a CreateTopics request to the controller for each that the broker's metadata does not hold
yet (`migrate` creates them all beforehand, so normally none). Faust makes each request
once, and the error of one the broker does not take ends the worker. With the local Kafka
stopped 0.5 s after a worker served its metrics and resumed 8 s later, the worker exited
with aiokafka's ``NodeNotReadyError`` (the metadata named no controller, node -1;
2026-12-07). A broker restarting beside a starting worker (a rolling restart of both)
is normal operation, so a declaration that fails for want of the broker is tried again,
with backoff, for ``kafka_startup_wait_seconds``; then the worker exits with an error that
says which topic and since when. An answer that refuses the topic (authorisation, policy,
topic config) fails at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka.errors import InvalidReplicationFactorError, KafkaError
from faust.exceptions import NotReady

log = logging.getLogger(__name__)
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 5.0


class KafkaUnavailable(Exception):
    """Kafka could not take a declaration within the startup wait."""


def broker_away(exc: BaseException) -> bool:
    """Whether a declaration failed for want of the broker (worth trying again), rather than
    by the broker's refusal. Faust's own errors for the first kind (faust/transport/drivers/
    aiokafka.py, ``_really_create_topic``): ``NotReady`` with no broker known, a bare
    ``Exception`` when no controller is found, ``RuntimeError`` for a controller that is
    no longer one."""
    if isinstance(exc, InvalidReplicationFactorError):
        # Fewer brokers up than the replication factor: a broker restarting, or, in KRaft,
        # fenced by the controller until it has caught up ("All brokers are currently
        # fenced": 1 run in 2 after the stop above). A factor above the cluster's size
        # waits the whole bound before its error.
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    if isinstance(exc, (NotReady, OSError)):  # OSError: refused connections, and timeouts
        return True
    message = str(exc)
    return (type(exc) is Exception and message.startswith("Controller node")) or (
        type(exc) is RuntimeError and message.startswith("Invalid controller")
    )


async def declare_patiently(
    declare: Callable[[], Awaitable[None]],
    topic: str,
    wait_s: float,
    *,
    stopping: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """``declare()``, tried again while the broker is away, for up to ``wait_s``. Each try
    is bounded by what is left of it: Faust's own request timeouts are long (its producer's
    ``request_timeout_ms`` is 1,200 s), and a broker that takes the connection and never
    answers (stopped, or cut off) would hold one try that long."""
    began = clock()
    backoff = FIRST_BACKOFF_S
    while True:
        try:
            # TimeoutError is an OSError: broker away, then past the wait, below.
            await asyncio.wait_for(declare(), timeout=max(wait_s - (clock() - began), 0.01))
            return
        except Exception as exc:
            waited = clock() - began
            if not broker_away(exc) or stopping():
                raise
            if waited + backoff > wait_s:
                raise KafkaUnavailable(
                    f"Kafka could not take the declaration of topic {topic!r} for {waited:.0f} s "
                    f"(kafka_startup_wait_seconds {wait_s:g}): {exc!r}"
                ) from exc
            log.warning("declaring topic %r: Kafka not ready (%r); again in %.1f s", topic, exc, backoff)
        await sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
