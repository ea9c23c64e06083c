"""Table state reaches Kafka only after the outputs it implies: a crash leaves state behind
its outputs, never ahead of them.

Faust sends a table's changelog record the moment a key is set, while records sent from an
agent are held back ("attached") until their offsets are committed. A worker killed in
between recovers tables that already hold the effect of a message whose outputs were never
sent; replayed, that message changes nothing (a duplicate, an unchanged bucket), so its
outputs are lost for good. Here the order is reversed:
- outputs go to their own producer at once (``topics.emit``, agents/output_producer.py),
  and Cassandra writes are issued at once and land in the background; two
  ``before_commit`` hooks wait until both have landed;
- a ``HeldTable`` updates its in-memory data at once but keeps the changelog records; when
  the event ends (``settled``) they become ready, last value per key. The large values,
  kept decoded (agents/decoded_table.py), are taken at the commit, while no event is
  half-way (``gate``), and encoded once per key after it, events going on meanwhile;
- at each offset commit (and before partitions are revoked): take the ready records, run
  the ``before_commit`` hooks (every Cassandra row and output record issued so far, those
  events' included, has landed), send the records through the outputs' producer and wait
  until they are in Kafka, and let Faust commit the offsets: through the last event of
  each partition whose state was taken, so that committed offsets and sent state meet.
After a crash the tables are at most as new as the outputs; the messages since the last
commit are processed again and send the same outputs again (identical re-sends). At a
revoke the same is done for the revoked partitions (``hand_over``), so their next owner
starts where their state ends. Holding also sends one changelog record per key per commit
instead of one per change.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, Protocol, TypeVar

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, AppT

from .config import get_settings
from .consumer import RewindingConsumer, event_records, offset_spans, settled_offsets_of
from .metrics import metrics
from .topic_declare import declare_patiently

log = logging.getLogger(__name__)
_Records = dict[Any, tuple[int | None, Any]]  # key -> (changelog partition, value)
K = TypeVar("K")
V = TypeVar("V")


class HeldTable(faust.Table[Any, Any]):
    """A faust.Table whose changelog records wait for the end of their event and a commit."""

    def __init__(self, app: AppT, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._in_event: _Records = {}
        self._ready: _Records = {}
        self.on_recovered: list[Callable[[list[Any]], None]] = []  # keys read from the changelog

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        """Recovery and standby copies write the store; views that keep decoded values
        (agents/decoded_table.py) learn which keys now hold other bytes."""
        events = list(batch)
        super().apply_changelog_batch(events)
        if self.on_recovered:
            keys = [self._to_key(e.key) for e in events]
            for callback in self.on_recovered:
                callback(keys)

    def on_key_set(self, key: Any, value: Any) -> None:
        self._in_event[key] = (self.partition_for_key(key), value)
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        self._in_event[key] = (self.partition_for_key(key), None)
        self._sensor_on_del(self, key)

    def settle(self) -> None:
        """The event that made the held changes has finished: its outputs are all sent."""
        self._ready.update(self._in_event)
        self._in_event.clear()

    def abandon(self) -> None:
        """The event was cancelled half-way: its changes never reach the changelog."""
        self._in_event.clear()

    def put_encoded(self, key: Any, value: Any) -> None:
        """A value settled earlier and encoded now, at a commit (DecodedTable.encode_taken):
        into the data. Its changelog record goes with that commit's (take_encoded)."""
        self.data[key] = value

    def take_ready(self) -> _Records:
        ready, self._ready = self._ready, {}
        return ready

    def give_back(self, records: _Records) -> None:
        """Records a commit took and did not send: ready again, unless a newer one is."""
        self._ready = {**records, **self._ready}

    async def send_records(self, records: _Records, out: ChangelogOut) -> None:
        """To the changelog, through ``out`` (librdkafka). Not through Faust's producer:
        its ``send_changelog`` buffer makes every stream wait while it drains, and sent one
        by one through aiokafka a commit's ~7,000 records took 30-40 s under live traffic
        (bench/RESULTS.md). So no RocksDB store learns what is persisted (it would recover
        the whole changelog); the worker's store is in memory."""
        topic = self.changelog_topic.get_topic_name()
        for key, (partition, value) in records.items():
            await out.produce(topic, key=key, value=value, partition=partition)


class ChangelogOut(Protocol):
    """A producer whose ``flush`` waits until every record produced before it is in Kafka."""

    async def produce(
        self, topic: str, *, value: bytes | None, key: bytes | None, partition: int | None
    ) -> None: ...
    async def flush(self) -> None: ...


class Settles(Protocol):
    def settle(self) -> None: ...
    def abandon(self) -> None: ...


class Encodes(Protocol):
    """A decoded view (agents/decoded_table.py) of a held table."""

    spoiled: bool
    table: HeldTable

    def take(self) -> None: ...
    def encode_taken(self, limit: int | None = None) -> int: ...
    def take_encoded(self) -> _Records: ...
    def forget(self) -> None: ...


class Gate:
    """Events and the taking of state for a commit exclude each other: a commit takes what
    whole events left, of every table at once. A commit closes the gate (events wait to
    start), waits for the events in flight to end, takes the state, and opens it."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._drained: asyncio.Future[None] | None = None  # a commit waits for the events
        self._reopened: asyncio.Future[None] | None = None  # events wait for the commit

    async def enter(self) -> None:
        while self._reopened is not None:
            await asyncio.shield(self._reopened)  # one waiter cancelled must not cancel all
        self._in_flight += 1

    def leave(self) -> None:
        self._in_flight -= 1
        if not self._in_flight and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    @asynccontextmanager
    async def closed(self) -> AsyncIterator[None]:
        while self._reopened is not None:  # another commit (a hand-over, say) is taking
            await asyncio.shield(self._reopened)
        loop = asyncio.get_running_loop()
        reopened = self._reopened = loop.create_future()
        try:
            if self._in_flight:
                self._drained = loop.create_future()
                await asyncio.shield(self._drained)
            yield
        finally:
            self._drained = self._reopened = None
            reopened.set_result(None)


gate = Gate()


class Message(Protocol):
    topic: str
    partition: int
    offset: int


_trace_processing = get_settings().trace_processing

# (topic, partition) -> the offset of its last settled event. Offsets are committed through
# these, together with the state the events left: committed offsets and sent state then
# always meet, and the next owner of a partition neither loses nor repeats an event's effect.
settled_offsets: dict[tuple[str, int], int] = {}


@asynccontextmanager
async def settled(message: Message, *tables: Settles) -> AsyncIterator[None]:
    """Around the processing of one event (inside the commit ``gate``): its table changes
    become ready when it ends, however it ends (an event that raised is acked by Faust all
    the same), except by cancellation. Faust cancels its agents when the worker stops,
    mid-event if one is in flight, and does not ack that event: it is processed again after
    the restart, so neither its state nor its offset may be committed now."""
    await gate.enter()
    try:
        yield
    except asyncio.CancelledError:
        for table in tables:
            table.abandon()
        raise
    except BaseException:
        _settle(message, tables)
        raise
    else:
        _settle(message, tables)
    finally:
        gate.leave()


def _settle(message: Message, tables: tuple[Settles, ...]) -> None:
    for table in tables:
        table.settle()
    if _trace_processing:
        log.info("settled %s", offset_spans(event_records(message)))
    for tp, offset in settled_offsets_of(message).items():
        if offset > settled_offsets.get(tp, -1):  # a batch read again after a seek: nothing new
            settled_offsets[tp] = offset


def unsettled(records: Sequence[Any]) -> list[Any]:
    """The records not settled yet in this assignment. A seek (the end of table recovery,
    a stale batch) can deliver again records already handed over; the first delivery may
    still be queued in the stream when the seek decides where to read from, so the second
    one is dropped here, record by record, once the first has settled."""
    fresh = [r for r in records if r.offset > settled_offsets.get((r.topic, r.partition), -1)]
    if _trace_processing and len(fresh) < len(records):  # in its event's "settled" line too
        again = [r for r in records if r.offset <= settled_offsets.get((r.topic, r.partition), -1)]
        log.info("skipped %s settled already", offset_spans(again))
    return fresh


# Where the held changelog records go (topics.py: the outputs' producer).
changelog_out: Callable[[], ChangelogOut] | None = None

# Awaited at every commit, whether or not state is held: outputs written behind (the
# Cassandra store) land before the offsets and state that follow from them.
before_commit: list[Callable[[], Awaitable[None]]] = []
# Awaited at every commit before the state is taken, with no event half-way: outputs an
# agent holds back across events (stage 2's open site buckets) are made.
before_take: list[Callable[[], Awaitable[None]]] = []
# Awaited at every commit once the state is taken, events going on meanwhile, before the
# before_commit hooks: writes of what before_take made (issuing them with the events stopped
# was a quarter of the pause). They may include newer ones, made by events since: outputs
# ahead of the state are allowed, behind it never.
after_take: list[Callable[[], Awaitable[None]]] = []
# The decoded views whose pending values are encoded at every commit (agents/topics.py).
decoded_views: list[Encodes] = []
# Taken values are encoded in slices of about this long, events going on between them.
ENCODE_SLICE_S = 0.01
# One commit's state at a time: the next takes only once this one's values are encoded
# (a hand-over may come while a commit is encoding, sending or landing).
_one_commit = asyncio.Lock()


class NewestAtCommit(Generic[K, V]):
    """Key -> its newest value not written yet, written once at the next commit (an
    ``after_take`` hook). For rows that are rewritten many times between commits, where the
    last one is all a reader needs (an open site_power_1m bucket, a site's ports per class):
    one statement per key and commit instead of one per change. The offsets of the events
    that made them are committed only once they have landed."""

    def __init__(self, write: Callable[[list[V]], Awaitable[None]]) -> None:
        self._newest: dict[K, V] = {}
        self._write = write
        after_take.append(self.write_newest)

    def put(self, key: K, value: V) -> None:
        self._newest[key] = value

    def discard(self, key: K) -> None:
        """A final value was written instead: none waiting is worth a write."""
        self._newest.pop(key, None)

    async def write_newest(self) -> None:
        if not self._newest:
            return
        values = list(self._newest.values())
        self._newest.clear()
        await self._write(values)


async def send_held_state(app: AppT) -> dict[TP, int] | None:
    """Outputs first, then the state that follows from them (see the module doc). Returns
    the offsets to commit with that state: after the last event of each partition in it;
    None when nothing may be committed any more (an event was cancelled with a pending
    decoded value in hand: the worker is stopping, and reads that input again)."""
    async with _one_commit:
        # Taken with no event half-way, and in one step: these events' writes were all
        # issued when they settled (or by before_take), so the hooks wait for them, and not
        # for the writes of events that go on meanwhile.
        async with gate.closed():
            paused = time.perf_counter()
            if any(view.spoiled for view in decoded_views):
                log.warning("no commit: an event was cancelled half-way; its input is read again")
                return None
            for hook in before_take:
                await hook()
            for view in decoded_views:
                view.take()
            held = {t: t.take_ready() for t in app.tables.values() if isinstance(t, HeldTable)}
            through = {TP(topic, part): offset + 1 for (topic, part), offset in settled_offsets.items()}
            metrics.commit_pause.observe(time.perf_counter() - paused)
        try:
            for view in decoded_views:
                held[view.table].update(await _encode_in_slices(view))
            for hook in after_take:
                await hook()
            for hook in before_commit:
                await hook()
            if any(held.values()):
                assert changelog_out is not None, "held tables need a changelog producer (topics.py)"
                out = changelog_out()
                for table, records in held.items():
                    await table.send_records(records, out)
                await out.flush()
            metrics.commit_send.observe(time.perf_counter() - paused)
        except BaseException:  # failed or cancelled (the worker stopping): the next commit sends it all
            _give_back(held)
            raise
        return through


async def _encode_in_slices(view: Encodes) -> _Records:
    """A view's taken values, encoded ~ENCODE_SLICE_S at a time: events go on between
    slices (and encode what they touch first)."""
    slice_ends = time.perf_counter() + ENCODE_SLICE_S
    while view.encode_taken(32):
        if time.perf_counter() >= slice_ends:
            await asyncio.sleep(0)
            slice_ends = time.perf_counter() + ENCODE_SLICE_S
    return view.take_encoded()


def _give_back(held: dict[HeldTable, _Records]) -> None:
    """The records a commit took and may not have sent go back, under anything newer, for
    the next commit to take with its own (whose offsets include this one's). Decoded values
    it had not encoded yet stay taken in their views: the next commit takes them too."""
    for table, records in held.items():
        table.give_back(records)


class HeldStateConsumer(RewindingConsumer):
    def _new_offset(self, tp: TP) -> int | None:
        """What Faust would commit: through the last settled event. Faust's own account (its
        acked offsets, and the gaps it sees between them) is dropped: a batch event
        (consumer.py) is one offset to Faust, and every event settles before Faust acks it."""
        self._acked[tp].clear()
        self._acked_index[tp].clear()
        self._gap[tp].clear()
        offset = settled_offsets.get((tp.topic, tp.partition))
        return None if offset is None else offset + 1

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Faust's drain loop takes the offsets between two events of a partition for a gap
        to commit past, and files it in an interval tree (and yields the loop) each time:
        between two batch events that is every batch. Commits go through the settled
        offsets instead (``_new_offset``), so there is nothing to file. (py-spy, live
        traffic: ~4 % of the worker.)"""

    async def _commit_offsets(self, offsets: Mapping[Any, int], start_new_transaction: bool = True) -> bool:
        # Through every event whose state goes out now, not only those Faust has acked so
        # far (events settle before Faust acks them); Faust flushes the producer again.
        through = await send_held_state(self.app)
        if through is None:
            return False
        offsets = {**offsets, **{tp: max(o, offsets.get(tp, 0)) for tp, o in through.items()}}
        # Faust commits only the assigned partitions' offsets, and gives up on all when the
        # group has moved on, silently: the state just sent is then ahead of the offsets
        # its partitions' next owner reads from, and that owner processes those events again.
        assigned = self.assignment()
        gone = sorted(tp for tp in through if tp not in assigned)
        if gone:
            log.warning("state sent for %s, whose offsets are no longer this worker's to commit", gone)
        result: bool = await super()._commit_offsets(offsets, start_new_transaction=start_new_transaction)
        if not result and through.keys() & assigned:
            log.warning("offset commit refused after its state was sent (the group has moved on)")
        return result

    async def perform_seek(self) -> None:
        """Faust seeks to the committed offsets at the end of every table recovery, and then
        reads again what was processed since the last commit, over tables that already hold
        its effects (a status read again over a newer one became a history row with
        ``current = false``). Within one assignment, read on after the last settled event
        instead; records delivered but not processed (Faust clears the streams' buffers when
        recovery ends) are read again."""
        await super().perform_seek()
        for (topic, partition), offset in settled_offsets.items():
            tp = TP(topic, partition)
            read = self._read_offset.get(tp)
            if read is None or read <= offset:
                self._read_offset[tp] = offset + 1  # Faust delivers from this offset on

    async def hand_over(self, revoked: set[TP]) -> None:
        """Partitions are being revoked (Faust has waited for the events in flight): their
        next owner recovers their tables from the changelog and reads from the committed
        offsets, so send the held state and commit the offsets that go with it, now. Faust
        does not commit here, and a commit after the rebalance is refused. Then the decoded
        views forget their values: what comes back is read again. (After the hand-over, which
        puts what it encodes back into them: the other way round, the values of partitions
        that left stayed decoded.)"""
        try:
            through = await send_held_state(self.app)
        finally:
            for view in decoded_views:
                view.forget()
        if through is None:
            return
        offsets = {tp: offset for tp, offset in through.items() if tp in revoked}
        for tp in revoked:
            settled_offsets.pop((tp.topic, tp.partition), None)
        if offsets and not await self._commit(offsets):  # the consumer thread's: still this generation
            # Faust's _commit returns False, silently, when the group has moved on: the
            # state sent above is then ahead of the offsets the next owner reads from.
            log.warning("hand-over commit refused: the next owner reads again what this worker processed")


class HeldStateTransport(aiokafka_driver.Transport):
    Consumer = HeldStateConsumer

    async def _create_topic(self, owner: Any, client: Any, topic: str, *args: Any, **kwargs: Any) -> None:
        """Faust's declaration, tried again while the broker is away (agents/topic_declare.py)."""
        await declare_patiently(
            functools.partial(super()._create_topic, owner, client, topic, *args, **kwargs),
            topic,
            get_settings().kafka_startup_wait_seconds,
            stopping=lambda: bool(owner.should_stop),
        )
