"""Records out (derived topics, the stage-2 topic, dead letters, table changelogs) through
librdkafka.

Sending through Faust's producer (aiokafka, in Python on the event loop) took about a
quarter of the worker's main thread (py-spy, bench/RESULTS.md): per record a Faust
FutureMessage, an aiokafka future, batch building and request encoding. librdkafka
batches and sends in its own threads; a record costs the event loop one ``produce`` call.

What the rest of the worker relies on:
- order per partition, as before: idempotence on, so retries do not reorder;
- keyed records land where Faust and Java clients would put them (murmur2);
- ``flush`` waits until every record produced before it is acknowledged, and raises if
  Kafka refused any (a record it could not deliver in ``message.timeout.ms`` included):
  held_state runs it before every commit, so offsets never pass an undelivered output;
- a full local queue makes ``produce`` wait (backpressure), never drop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from .landings import Landings

log = logging.getLogger(__name__)

POLL_S = 0.005  # how often a waiting flush or a full queue polls librdkafka
# Delivery reports are served once per this many records produced (and by every flush):
# each poll lets go of the GIL and takes it back, which cost more of the event loop than
# the produce itself when done per record (py-spy, bench/RESULTS.md).
POLL_EVERY = 64
WARN_EVERY_S = 30.0


class OutputError(RuntimeError):
    """Kafka refused records; the message names the topics and the causes."""


class OutputProducer:
    def __init__(self, config: dict[str, Any]) -> None:
        from confluent_kafka import Producer

        self._producer = Producer(
            {
                "partitioner": "murmur2_random",
                "enable.idempotence": True,
                **config,
            }
        )
        self._landings = Landings()  # records produced, not yet acknowledged or refused
        self._failed: list[str] = []

    async def produce(
        self,
        topic: str,
        *,
        value: bytes | None,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        seq = self._landings.issue()
        kwargs: dict[str, Any] = {
            "key": key,
            "value": value,
            "on_delivery": lambda err, msg: self._done(seq, err, msg),
        }
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = list(headers)
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                break
            except BufferError:  # librdkafka's queue is full: let it drain
                self._producer.poll(0)
                await asyncio.sleep(POLL_S)
            except BaseException:  # not produced: nothing to wait for
                self._landings.landed(seq)
                raise
        if seq % POLL_EVERY == 0:
            self._producer.poll(0)  # serve delivery reports (on this thread); never blocks

    def _done(self, seq: int, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}: {err}")
        self._landings.landed(seq)

    async def flush(self) -> None:
        """Until every record produced before the call is acknowledged (not those produced
        meanwhile: under steady input the queue is never empty); OutputError if Kafka
        refused any record since the last flush."""
        waited = 0.0
        with self._landings.mark() as mark:
            while not mark.landed.is_set():
                self._producer.poll(0)  # delivery reports come only from here
                await asyncio.sleep(POLL_S)
                waited += POLL_S
                if waited >= WARN_EVERY_S:
                    log.warning("%d records out not yet acknowledged by Kafka; waiting", mark.remaining)
                    waited = 0.0
        if self._failed:
            failed, self._failed = self._failed, []
            raise OutputError(f"Kafka refused {len(failed)} record(s) out; the first: {failed[0]}")
