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

A stuck producer is replaced. After a broker restart, librdkafka 2.16's idempotent
producer was once seen to deliver nothing more, and to log nothing, until its records
timed out five minutes later (the broker-restart fault test, CI of 2026-12-07): the commit
then failed and the worker stopped. Records are kept here until their delivery report, so
when ``stall_s`` passes with records waiting and no report at all, the producer is purged
and let go, and a new one sends what had no report, in the order first produced. What
the old one did deliver comes twice, as after any crash of an at-least-once worker. The
copies follow the originals (the old producer sent those first, and is purged before the
new one connects), so the newest record of a key stays last: the integration test checks
that with Kafka stopped (SIGSTOP) while records were in flight.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from .landings import Landings
from .metrics import metrics

log = logging.getLogger(__name__)

POLL_S = 0.005  # how often a waiting flush or a full queue polls librdkafka
# Delivery reports are served once per this many records produced (and by every flush):
# each poll lets go of the GIL and takes it back, which cost more of the event loop than
# the produce itself when done per record (py-spy, bench/RESULTS.md).
POLL_EVERY = 64
WARN_EVERY_S = 30.0

# A record as produced: topic, key, value, partition (None: by key), headers.
_Record = tuple[str, bytes | None, bytes | None, int | None, Sequence[tuple[str, bytes]] | None]


class OutputError(RuntimeError):
    """Kafka refused records; the message names the topics and the causes."""


class OutputProducer:
    def __init__(self, config: dict[str, Any], stall_s: float = 60.0) -> None:
        self._config = {"partitioner": "murmur2_random", "enable.idempotence": True, **config}
        self._stall_s = stall_s
        self._producer = self._new_producer()
        self._generation = 0  # of the producer: reports of a replaced one are ignored
        self._landings = Landings()  # records produced, not yet acknowledged or refused
        self._waiting: dict[int, _Record] = {}  # seq -> record, until its delivery report
        # The last delivery report, or the first record produced when none waited.
        self._reported_at = time.monotonic()
        self._failed: list[str] = []

    def _new_producer(self) -> Any:
        from confluent_kafka import Producer

        return Producer(self._config)

    async def produce(
        self,
        topic: str,
        *,
        value: bytes | None,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        if not self._landings.outstanding:  # a stall is counted from here
            self._reported_at = time.monotonic()
        seq = self._landings.issue()
        record = (topic, key, value, partition, headers)
        while True:
            try:
                self._send(seq, record)
                break
            except BufferError:  # librdkafka's queue is full: let it drain
                self._producer.poll(0)
                await asyncio.sleep(POLL_S)
                self._replace_if_stuck()
            except BaseException:  # not produced: nothing to wait for
                self._landings.landed(seq)
                raise
        self._waiting[seq] = record
        if seq % POLL_EVERY == 0:
            self._producer.poll(0)  # serve delivery reports (on this thread); never blocks

    def _send(self, seq: int, record: _Record) -> None:
        topic, key, value, partition, headers = record
        generation = self._generation
        kwargs: dict[str, Any] = {
            "key": key,
            "value": value,
            "on_delivery": lambda err, msg: self._done(generation, seq, err, msg),
        }
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = list(headers)
        self._producer.produce(topic, **kwargs)

    def _done(self, generation: int, seq: int, err: Any, msg: Any) -> None:
        if generation != self._generation:  # a replaced producer's report: the record was sent again
            return
        self._reported_at = time.monotonic()
        if err is not None:
            self._failed.append(f"{msg.topic()}: {err}")
        del self._waiting[seq]
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
                self._replace_if_stuck()
                waited += POLL_S
                if waited >= WARN_EVERY_S:
                    log.warning("%d records out not yet acknowledged by Kafka; waiting", mark.remaining)
                    waited = 0.0
        if self._failed:
            failed, self._failed = self._failed, []
            raise OutputError(f"Kafka refused {len(failed)} record(s) out; the first: {failed[0]}")

    def _replace_if_stuck(self) -> None:
        """A new producer for the records waiting, when none has had a report for stall_s."""
        if not self._waiting or time.monotonic() - self._reported_at < self._stall_s:
            return
        log.warning(
            "no record out acknowledged for %.0f s (%d waiting): a new Kafka producer sends them again",
            time.monotonic() - self._reported_at,
            len(self._waiting),
        )
        metrics.producer_replaced.inc()
        stuck, self._producer = self._producer, self._new_producer()
        self._generation += 1
        try:
            stuck.purge(in_queue=True, in_flight=True, blocking=False)
        except Exception:  # let go of it all the same
            log.exception("purging the stuck producer failed")
        # Destroying a librdkafka handle joins its threads: not on the event loop.
        threading.Thread(target=_let_go, args=([stuck],), name="producer-let-go", daemon=True).start()
        del stuck
        for seq, record in self._waiting.items():  # in the order first produced
            self._send(seq, record)
        self._reported_at = time.monotonic()


def _let_go(holder: list[Any]) -> None:
    """Drops the last reference to a replaced producer (its reports are ignored)."""
    holder.pop().poll(0)
