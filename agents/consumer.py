"""Faust's aiokafka consumer, made to read every record of its partitions once per owner.

Faust's consumer (faust-streaming 0.15) lost input records after a rebalance in four ways:

- **Partitions with no committed offset were not rewound.** After each rebalance Faust
  seeks the assigned partitions to their committed offsets, through aiokafka's
  ``seek_to_committed``, which seeks only partitions whose committed offset is above 0: one
  with no commit yet (or a commit at 0) keeps the position its fetcher had, after records
  it fetched but never processed. Such partitions now start where a new consumer would
  (``consumer_auto_offset_reset``, earliest here) or at the commit at 0.
- **Records fetched before a seek were delivered after it.** Faust hands a fetched batch
  to the streams record by record, skipping partitions that are paused meanwhile. When a
  partition is paused or sought while its batch is handed over (both happen in table
  recovery after every rebalance), the rest of the batch still reached the streams once
  the partition was resumed. Faust's read position was back at the committed offset by
  then, so the first such record looked like a jump ahead, the records in between counted
  as a gap (Faust's allowance for compacted and transactional topics), and the next commit
  passed over them: dozens of MeterValues per partition were never processed after a
  second worker joined and left. Here a partition's records are dropped when it was paused
  or sought after their batch was fetched, and the partitions are sought to their
  committed offsets again (a batch fetched while a seek ran may be read past it already).
  The same holds for records waiting in the time-ordered merge: a seek's own reads can
  arrive while it runs, so those dropped after a seek are read again by another seek.
- **Changelog records dropped with a fetch were never read again.** When the records of a
  fetch are dropped (a stale batch here, or Faust's getmany while the flow is stopped),
  Faust seeks to the committed offsets, and changelog partitions have none: they stayed
  past the dropped records. A table recovery that had resumed the flow a moment before
  waited for them forever (the worker never became ready). Those recovery reads are now
  sought back to after the last record it took.
- **Records handed over just before the end of a table recovery were dropped.** Faust
  resumes the stream partitions, seeks them to their committed offsets and then empties
  the streams' queues, with the flow running throughout: a batch fetched from the new
  position and handed over before the emptying was gone, and the fetcher was past it. The
  rebalance fault test lost a partition's first batch so after a worker joined: input
  (CI: ~2,000 sample rows missing, transactions ended on the wrong EVSE) or site
  contributions (here: a site's first buckets without some connectors); 2 of 3 CI runs,
  2 of 14 here, 2026-12-07. The app's flow control now tells the consumer when it empties
  the queues with the flow running, and the consumer seeks again before it hands anything
  more over. A batch whose hand-over was under way at the emptying reaches its queue after
  it; its agent skips it (``outdated``), as its records are read again too.

And one crash: Faust's livelock detector reads each partition's position, which aiokafka
asserts is known; it is not while the partition waits for an offset reset (just after
``seek_to_beginning``), and the assertion took the whole consumer down. Such a partition
is skipped in that round.

And one change of model, for speed and order: **one stream event per fetched batch.**
Faust hands records to its streams one at a time, at about 14 us of its own machinery each
plus a task pair per record in its drain loop (a Faust agent that only counts raw bytes tops
out at ~15,000 records/s here; bench/RESULTS.md). Records of the topics an app declares
batched are handed over instead as one message per fetch: its ``value`` is a
``RecordBatch`` of the records. Topics declared ``time_ordered`` (co-partitioned inputs)
give one batch per partition number, their records merged by timestamp
(agents/time_order.py); the others one per topic-partition, in offset order. The stream,
its acks and the commits are Faust's as before, but a batch is one event: it settles
whole, and held_state.py commits through the last settled record of each topic-partition
in it. Faust's drain loop checks only the batch message's own offset against what was
read already, so that check is made here for every record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Hashable, Iterable, Mapping, Set
from typing import Any

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage

from .assignment_watch import AssignmentWatch
from .config import get_settings
from .time_order import FetchProgress, TimeOrder

log = logging.getLogger(__name__)

# How long a partition's merge waits for a topic that has records on the broker and none
# fetched, before it goes on without it (agents/time_order.py), counted while fetches bring
# records (a broker restart does not count). Fetches come every few milliseconds, but on a
# busy host a topic's records can take over a second to be handed over (a worker's timers
# ran 1-2 s late in the fault tests), and what goes on without them is processed out of
# order. Kafka Streams waits for such records without a bound (max.task.idle.ms 0); this
# bound is for a partition whose leader cannot be reached while the others deliver.
MAX_WAIT_S = 10.0


# Fetches wait on the broker until this much is there, or CHARGESTREAM_FETCH_WAIT_MS has
# passed: under live traffic a fetch would otherwise return as soon as one record arrived,
# and a batch of a few records pays the per-batch costs (settling, bundles, publishing)
# almost per record.
FETCH_MIN_BYTES = 256 * 1024


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._assignment_watch = AssignmentWatch()  # agents/assignment_watch.py

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka takes both at construction and hands them to its fetcher when it starts;
        # Faust passes neither (and fixes the wait at 1.5 s).
        consumer._fetch_min_bytes = FETCH_MIN_BYTES
        consumer._fetch_max_wait_ms = get_settings().fetch_wait_ms
        return consumer

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        # In the consumer thread's loop, called by aiokafka's rebalance listener.
        try:
            self._assignment_watch.start(self._ensure_consumer(), generation_id)
        except Exception:  # the watch is a safeguard: never in the assignment's way
            log.exception("could not watch the assignment for missing topics")
        await super().on_partitions_assigned(assigned, generation_id)

    async def on_thread_stop(self) -> None:
        self._assignment_watch.stop()
        await super().on_thread_stop()


class RewindingConsumer(aiokafka_driver.Consumer):
    def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._moves = 0  # pauses and seeks of stream partitions so far
        # partition -> the number of its last pause or seek (aiokafka's TopicPartition and
        # Faust's TP are equal tuples, so either finds the other)
        self._moved: dict[TP, int] = {}
        self._batch_after = 0  # the moves done before the batch now handed over was fetched
        # Records were dropped after a seek (from the merge, or from the streams' queues),
        # and the fetcher may have read past them since: seek to the committed offsets
        # again (getmany does, as for a stale batch).
        self._reseek = False
        self._merged_in = 0  # records put into the merge so far (seeks check for new ones)
        self._time_order: TimeOrder[TP, Message] = TimeOrder(
            lambda m: m.timestamp, lambda m: m.offset, MAX_WAIT_S, _gave_up
        )
        self._fetch_progress = FetchProgress(time.monotonic())  # the merge's clock
        # Where each stream partition's reading began at its last seek to the committed
        # offsets (0: from the beginning): before any record of it is processed, all from
        # there on is still to do, however far the fetches have got (views.unprocessed).
        self.read_from: dict[TP, int] = {}

    async def seek_to_committed(self) -> Mapping[Any, int]:
        merged_in = self._merged_in
        committed: Mapping[Any, int] = await super().seek_to_committed()
        # Table changelogs are not committed: Faust's recovery seeks those itself.
        unseeked = [tp for tp, offset in committed.items() if not offset and not self._is_changelog_tp(tp)]
        if unseeked and self.app.conf.consumer_auto_offset_reset == "earliest":
            await self._thread.seek_to_beginning(*unseeked)
        streams = {tp: offset or 0 for tp, offset in committed.items() if not self._is_changelog_tp(tp)}
        self.read_from.update(streams)
        if get_settings().trace_processing:
            log.info("generation %s reads from %s", self.app.consumer_generation_id, _named(streams))
        self._sought(committed, merged_in)
        return committed

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, after records of a fetch were dropped
        (a stale batch here; Faust's getmany when the flow is stopped): it covers the stream
        partitions, and the changelog records that fetch held are read again too."""
        await super().perform_seek()
        await self._reread_changelogs()

    async def _reread_changelogs(self) -> None:
        """Changelog partitions are not committed, so a seek to the committed offsets leaves
        them where the fetch left them: past records that were dropped with it. A table
        recovery waiting for those waits forever (the rebalance fault test, CI 2026-12-06:
        every changelog partition fetched to its end, recovery hundreds of records short,
        a seek at the moment it resumed the flow). So the changelog partitions recovery
        reads (active ones while it recovers, standby copies always) are sought back to
        after the last record it took; it skips what it has."""
        recovery = self.app.tables.recovery  # type: ignore[attr-defined]
        targets = changelog_rereads(recovery, self.assignment())
        if not targets:
            return
        try:
            await self.seek_wait(targets)
        except Exception as exc:  # a rebalance under way: its recovery seeks them anew
            log.warning("changelog partitions not sought again (%r); recovery will seek", exc)
            return
        if recovery.in_recovery:
            log.info("table recovery reads again from %s", _named(targets))

    async def _seek(self, partition: TP, offset: int) -> None:
        merged_in = self._merged_in
        await super()._seek(partition, offset)
        self._sought([partition], merged_in)

    def _sought(self, partitions: Iterable[TP], merged_in: int) -> None:
        """After a seek (``merged_in``: the merge's intake when it began): a fetch begun
        before it may predate it. But records the merge took in while the seek ran (the
        drain loop goes on meanwhile when the seek is table recovery's, which resumes the
        partitions first) may come from the seek's own reads: dropped, they would never be
        read again, so seek again."""
        dropped = self._moving(partitions)
        self._reseek |= dropped and self._merged_in != merged_in

    def streams_cleared(self) -> None:
        """Faust has emptied the streams' queues (ChargestreamApp's flow control): with the
        flow running (the end of a table recovery, module doc), seek again before handing
        over more; a batch whose hand-over was under way lands after the emptying (Faust's
        drain loop puts it from a task of its own) and is skipped (``outdated``). A clear
        with the flow stopped (a revoke, recovery resuming after one) comes before the seek
        that ends the recovery. (A first start's recovery runs with the flow on from the
        start: one seek more than needed.)"""
        QueueClears.count += 1
        if self.flow_active:
            self._reseek = True

    def verify_event_path(self, now: float, tp: TP) -> None:
        try:
            super().verify_event_path(now, tp)
        except AssertionError:  # aiokafka: position unknown, an offset reset is pending
            log.debug("%s awaits an offset reset; not checked for livelock this round", tp)

    def on_buffer_full(self, tp: TP) -> None:
        """A stream's queue is at its high-pressure mark: Faust stops fetching the partition
        of the event that found it so. For a merged batch that is the topic of its last
        record only, and the merge then held the other topics' records while it waited for
        that one, up to MAX_WAIT_S (stalls of 0.7-1.0 s under live traffic, 2026-12-04):
        every time-ordered topic of the partition stops and resumes together."""
        for each in self._merged_with(tp):
            super().on_buffer_full(each)

    def on_buffer_drop(self, tp: TP) -> None:
        for each in self._merged_with(tp):
            # One paused since (a rebalance, a recovery) stays paused: Faust's own resume
            # would fetch it again. Its resume makes it active when the time comes.
            if each not in self._paused_partitions:
                super().on_buffer_drop(each)

    def _merged_with(self, tp: TP) -> list[TP]:
        return merged_with(tp, getattr(self.app, "time_ordered_topics", ()), self.assignment())

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        tps = set(tps)
        super().pause_partitions(tps)
        self._moving(tps)  # a seek always follows a pause: the rebalance's or the recovery's

    def _moving(self, partitions: Iterable[TP]) -> bool:
        """Mark the partitions moved; whether the merge held records of theirs (dropped:
        a seek must read them again)."""
        self._moves += 1
        dropped = False
        for tp in partitions:
            if not self._is_changelog_tp(tp):  # table recovery positions these itself
                self._moved[tp] = self._moves
                dropped |= self._time_order.drop(tp)
        return dropped

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._time_order.drop(tp)
        await super().on_partitions_revoked(revoked)

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        self._batch_after = self._moves  # taken before the fetch: a move meanwhile makes it stale
        return await super()._getmany(active_partitions, timeout)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        batched: frozenset[str] = getattr(self.app, "batched_topics", frozenset())
        ordered: tuple[str, ...] = getattr(self.app, "time_ordered_topics", ())
        generation = self.app.consumer_generation_id
        fetched: dict[TP, list[Message]] = {}
        stale = False
        got_any = False
        async for tp, message in super().getmany(timeout):
            got_any = True
            if tp.topic in batched:
                fetched.setdefault(tp, []).append(message)
            elif self._stale(tp) or self._reseek:
                stale = True
            else:
                yield tp, message
        self._fetch_progress.advance(time.monotonic(), got_any)
        batches, stale_fetch = self._batches(fetched, ordered)
        stale |= stale_fetch
        for tp, messages in batches:
            # As Faust's own loop: a stopped flow or a new generation ends the hand-over
            # (the rebalance that follows seeks to the committed offsets); so does a seek
            # due (below: nothing is handed over from past records it must read again).
            if not self.flow_active or self.app.consumer_generation_id != generation or self._reseek:
                break
            yield tp, _batch(tp, messages)
            # Handed over. Unless a pause or seek came meanwhile (the batch may then have
            # been dropped from the stream's queue, and where to read is being decided
            # anew), read on after it: Faust's drain loop set the batch message's own offset.
            if self._moved_any(messages):
                stale = True
                continue
            for m in messages:
                self._read_offset[m.tp] = m.offset + 1
        if stale or self._reseek:
            self._reseek = False
            try:
                await self.perform_seek()
            except Exception as exc:
                # A rebalance under way: its recovery seeks again. Otherwise try again at the
                # next fetch: records dropped from the queues are behind the fetcher.
                self._reseek = self.app.consumer_generation_id == generation
                log.warning("seek after a stale batch failed (%r); will seek again", exc)

    def _batches(
        self, fetched: dict[TP, list[Message]], ordered: tuple[str, ...]
    ) -> tuple[list[tuple[TP, list[Message]]], bool]:
        """The batches to hand over now, and whether any fetched records were stale."""
        batches, stale = [], False
        for tp, messages in fetched.items():
            if self._stale(tp):
                stale = True
                continue
            read = self._read_offset.get(tp)  # already handed over: Faust's drain loop checks each record
            fresh = messages if read is None else [m for m in messages if m.offset >= read]
            if tp.topic in ordered:
                self._time_order.add(tp, fresh)
                self._merged_in += len(fresh)
            elif fresh:
                batches.append((tp, fresh))
        if ordered:
            batches += self._merged(ordered)
        return batches, stale

    def _merged(self, ordered: tuple[str, ...]) -> list[tuple[TP, list[Message]]]:
        """Per partition number, what the merge of its time-ordered topics lets go now."""
        assigned = self.assignment()
        now = self._fetch_progress.value
        out = []
        for partition in sorted({tp.partition for tp in self._time_order.holding()}):
            keys = [tp for t in ordered if (tp := TP(t, partition)) in assigned]
            records = self._time_order.take(partition, keys, self._more_on_broker, now)
            if records:
                out.append((records[-1].tp, records))
        return out

    def _more_on_broker(self, tp: TP) -> bool:
        """Whether the partition has records not fetched yet (or that is not known)."""
        try:
            high = self.highwater(tp)
            assignment = self._thread._ensure_consumer()._subscription.subscription.assignment
            state = assignment.state_value(tp)
        except Exception:  # not assigned (any more), or no fetch yet
            return True
        if high is None or state is None or not state.has_valid_position:
            return True
        position: int = state.position
        return position < high

    def _moved_any(self, messages: list[Message]) -> bool:
        """Whether any partition of these records was paused or sought since their fetch."""
        return self._moves != self._batch_after and any(self._stale(tp) for tp in {m.tp for m in messages})

    def _stale(self, tp: TP) -> bool:
        """Whether the partition was paused or sought after this batch was fetched. (Two
        ints compared first: the lookup only when something moved since the fetch, rarely.)"""
        return self._moves != self._batch_after and self._moved.get(tp, 0) > self._batch_after


def _gave_up(partition: Hashable, tps: list[TP]) -> None:
    log.warning(
        "input partition %s: no records of %s in %.0f s of fetching although the broker has some; the other"
        " topics go on without them, which then come out of time order",
        partition,
        [f"{tp.topic}[{tp.partition}]" for tp in tps],
        MAX_WAIT_S,
    )


def merged_with(tp: TP, ordered: tuple[str, ...], assigned: Set[TP]) -> list[TP]:
    """The topic-partitions whose records the merge joins with ``tp``'s, itself included;
    only assigned ones (resuming one that is not would fetch it)."""
    if tp.topic not in ordered:
        return [tp]
    return [each for t in ordered if (each := TP(t, tp.partition)) in assigned]


def changelog_rereads(recovery: Any, assigned: Set[TP]) -> dict[TP, int]:
    """Where a Faust table recovery reads its changelog partitions on from: after the last
    offset it took (none yet: from 0), for its standby copies and, while it recovers, its
    active partitions; those assigned here."""
    reading = [(recovery.standby_tps, recovery.standby_offsets)]
    if recovery.in_recovery:
        reading.append((recovery.active_tps, recovery.active_offsets))
    return {tp: _after(offsets.get(tp)) for tps, offsets in reading for tp in tps if tp in assigned}


def _after(taken: int | None) -> int:
    return 0 if taken is None or taken < 0 else taken + 1


class RecordBatch(tuple[Message, ...]):
    """The records of one batch event, in the order to process them; ``clears``: how many
    times the streams' queues had been emptied when it was handed over."""

    clears = 0


class QueueClears:
    """How many times Faust has emptied the streams' queues (RewindingConsumer.streams_cleared)."""

    count = 0


def outdated(message: Any) -> bool:
    """Whether the batch event was handed over before the streams' queues were last emptied,
    and reached its queue after that: its records are read again by the seek that follows
    (or by the rebalance's), and processed now they would settle offsets past records the
    emptying dropped. Its agent skips it whole (``batches``); it settles nothing."""
    records = event_records(message)
    if not isinstance(records, RecordBatch) or records.clears == QueueClears.count:
        return False
    if get_settings().trace_processing:
        log.info("outdated %s: read again after a seek", offset_spans(records))
    return True


async def batches(stream: Any) -> AsyncIterator[Any]:
    """A batched topic's events for its agent: one message per partition and fetch, less
    the ``outdated`` ones."""
    async for event in stream.events():
        if not outdated(event.message):
            yield event.message


def _batch(tp: TP, messages: list[Message]) -> ConsumerMessage:
    last = messages[-1]
    records = RecordBatch(messages)
    records.clears = QueueClears.count
    return ConsumerMessage(
        tp.topic,
        tp.partition,
        last.offset,
        last.timestamp,
        last.timestamp_type,
        None,
        None,
        records,  # type: ignore[arg-type]  # the value: the records themselves
        None,
        0,
        sum(m.serialized_value_size for m in messages),
        tp,
        generation_id=last.generation_id,
    )


def settled_offsets_of(message: Any) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the last offset an event covers: a batch's records, or itself."""
    return {(m.topic, m.partition): m.offset for m in event_records(message)}


def offset_spans(records: Iterable[Any]) -> dict[str, list[tuple[int, int]]]:
    """Per "topic[partition]", the records' offsets as runs in the order met (offset_runs):
    one run for a batch read straight on, more when it skips or goes back."""
    offsets: dict[str, list[int]] = {}
    for m in records:
        offsets.setdefault(f"{m.topic}[{m.partition}]", []).append(m.offset)
    return {tp: offset_runs(o) for tp, o in offsets.items()}


def offset_runs(offsets: Iterable[int]) -> list[tuple[int, int]]:
    """Offsets as (first, last) runs of consecutive ones, in the order given."""
    runs: list[tuple[int, int]] = []
    for o in offsets:
        if runs and runs[-1][1] + 1 == o:
            runs[-1] = (runs[-1][0], o)
        else:
            runs.append((o, o))
    return runs


def event_records(message: Any) -> tuple[Any, ...]:
    """The records of an event: a batch's, or the message itself."""
    records = getattr(message, "value", None)
    return records if isinstance(records, RecordBatch) else (message,)


def _named(offsets: Mapping[Any, int]) -> dict[str, int]:
    return {f"{topic}[{partition}]": offset for (topic, partition), offset in offsets.items()}


def batch_records(message: Any) -> RecordBatch:
    """The records of a batch event (a topic in ``batched_topics``)."""
    records: RecordBatch = message.value
    return records
