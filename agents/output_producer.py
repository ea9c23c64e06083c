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
  Kafka refused any, or if one was not acknowledged within ``message.timeout.ms`` of its
  first produce (replacements below included): held_state runs it before every commit, so
  offsets never pass an undelivered output;
- a full local queue makes ``produce`` wait (backpressure), never drop.

A stalled producer is replaced. After a broker restart, librdkafka 2.16's idempotent
producer was once seen to deliver nothing more, and to log nothing, until its records
timed out five minutes later (the broker-restart fault test, CI of 2026-12-07): the
commit then failed and the worker stopped. Records are kept here until their delivery
report, so when the oldest one waiting has been with the current producer for
``stall_s``, that producer is purged and let go, and a new one sends every record waiting,
in the order first produced. What the old one did deliver comes twice, as after any crash
of an at-least-once worker. The copies usually follow the originals: the old producer had
sent those first, and is purged before the new one exists. Nothing fences it off, though
(that takes a transactional producer): a request of the old one still on its way, late,
would land after the copies, and an older value of its key would be the last.
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
CHECK_EVERY_S = 1.0  # how often a waiting flush or a full queue looks for a stall
LET_GO_S = 10.0  # how long a replaced producer may take to serve its purged records' reports

# A record as produced: topic, key, value, partition (None: by key), headers.
_Record = tuple[str, bytes | None, bytes | None, int | None, Sequence[tuple[str, bytes]] | None]


class OutputError(RuntimeError):
    """Kafka refused records; the message names the topics and the causes."""


class OutputProducer:
    def __init__(self, config: dict[str, Any], stall_s: float = 60.0) -> None:
        self._config = {"partitioner": "murmur2_random", "enable.idempotence": True, **config}
        self._stall_s = stall_s
        self._timeout_s = float(self._config.get("message.timeout.ms", 300_000)) / 1000
        self._producer = self._new_producer()
        self._generation = 0  # of the producer: reports of a replaced one are ignored
        self._landings = Landings()  # records produced, not yet acknowledged or refused
        # seq -> the record and when it was first produced (message.timeout.ms counts from
        # there), until its report; by seq, so oldest first. It has been with the current
        # producer since then or since the producer replaced, whichever came last.
        self._waiting: dict[int, tuple[_Record, float]] = {}
        self._replaced_at = 0.0
        self._checked_at = 0.0
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
        seq = self._landings.issue()
        record = (topic, key, value, partition, headers)
        try:
            while True:
                try:
                    self._send(seq, record)
                    break
                except BufferError:  # librdkafka's queue is full: let it drain
                    pass
                self._producer.poll(0)
                await asyncio.sleep(POLL_S)
                self._check_stall()
        except BaseException:  # not produced: nothing to wait for
            self._landings.landed(seq)
            raise
        self._waiting[seq] = (record, time.monotonic())
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
        # A replaced producer's report: the record was sent again (or failed, below).
        if generation != self._generation or self._waiting.pop(seq, None) is None:
            return
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
                self._check_stall()
                waited += POLL_S
                if waited >= WARN_EVERY_S:
                    log.warning("%d records out not yet acknowledged by Kafka; waiting", mark.remaining)
                    waited = 0.0
        if self._failed:
            failed, self._failed = self._failed, []
            raise OutputError(f"Kafka refused {len(failed)} record(s) out; the first: {failed[0]}")

    def _check_stall(self) -> None:
        """Replace the producer when the oldest record waiting has been with it for stall_s;
        give the records up as refused once that record is message.timeout.ms old."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY_S or not self._waiting:
            return
        self._checked_at = now
        first_at = next(iter(self._waiting.values()))[1]
        age = now - first_at
        with_this_one = now - max(first_at, self._replaced_at)
        expired = age >= self._timeout_s
        if not expired and with_this_one < self._stall_s:
            return
        if expired:
            log.warning("a record out unacknowledged for %.0f s: %d given up", age, len(self._waiting))
        else:
            log.warning(
                "a record out has waited %.0f s for Kafka's acknowledgement: a new Kafka producer sends"
                " the %d records waiting again",
                with_this_one,
                len(self._waiting),
            )
            metrics.producer_replaced.inc()
        self._generation += 1  # the old producer's reports are ignored from here
        self._replaced_at = now
        stuck = self._producer
        try:
            stuck.purge(in_queue=True, in_flight=True, blocking=False)  # before the new one exists
        except Exception:  # let go of it all the same
            log.exception("purging the stalled producer failed")
        self._producer = self._new_producer()
        # Destroying a librdkafka handle joins its threads: not on the event loop.
        threading.Thread(target=_let_go, args=([stuck],), name="producer-let-go", daemon=True).start()
        del stuck
        if expired:
            for seq, (record, _) in self._waiting.items():
                self._failed.append(f"{record[0]}: given up when the oldest waiting had {age:.0f} s")
                self._landings.landed(seq)
            self._waiting.clear()
            return
        for seq, (record, _) in self._waiting.items():  # in the order first produced
            try:
                self._send(seq, record)
            except Exception:  # BufferError, say
                log.exception("sending a record again failed; the rest wait for the next replacement")
                return


def _let_go(holder: list[Any]) -> None:
    """Serves a replaced producer's reports (ignored: its generation is over) and drops the
    last reference to it."""
    producer = holder.pop()
    producer.flush(LET_GO_S)
    del producer
