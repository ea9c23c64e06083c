"""What a worker's consumer and table recovery are doing, for /debug/consumer.

A worker that stops making progress without an error (a table recovery that waits for
changelog records that never come) leaves nothing in its log but Faust's "no event
received" warnings. This reads the state that says where it stands: the flow switches, the
partition sets Faust fetches from, the recovery's progress, and per assigned
topic-partition aiokafka's position, pause and high watermark. (What each asyncio task
waits on: `kill -USR1 <pid>` makes Faust's worker log every thread's and task's stack.)

Diagnosis only: it reads Faust's and aiokafka's private attributes, so each item is read on
its own and one that cannot be read is reported in its place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any


def describe(app: Any) -> dict[str, object]:
    """The state as JSON-ready values, by name."""
    return {name: _read(read) for name, read in _readers(app)}


def _readers(app: Any) -> Iterator[tuple[str, Callable[[], object]]]:
    """(name, reader); each reads late, inside ``_read``."""
    yield "generation", lambda: app.consumer_generation_id
    yield "rebalancing", lambda: app.rebalancing
    yield "flow_control_active", lambda: bool(app.flow_control.is_active())
    yield "consumer_flow_active", lambda: app.consumer.flow_active
    yield "assigned", lambda: _names(app.consumer.assignment())
    # Faust fetches only from its active partitions: assigned, less paused and buffer-full.
    yield "faust_active", lambda: _names(app.consumer._active_partitions or ())
    yield "faust_paused", lambda: _names(app.consumer._paused_partitions)
    yield "faust_buffer_full", lambda: _names(app.consumer._buffered_partitions)
    yield "recovery_in_progress", lambda: app.tables.recovery.in_recovery
    yield "recovery_completed", lambda: bool(app.tables.recovery.completed.is_set())
    yield "recovery_end_signalled", lambda: bool(app.tables.recovery.signal_recovery_end.is_set())
    yield "recovery_remaining", lambda: _remaining(app.tables.recovery)
    yield "changelog_queue_size", lambda: int(app.tables.changelog_queue.qsize())
    yield "fetch", lambda: _fetch_state(app.consumer)


def _remaining(recovery: Any) -> dict[str, int]:
    """Active changelog partitions still short of their high watermark: records to read."""
    return {_name(tp): n for tp, n in recovery.active_remaining().items() if n}


def _fetch_state(consumer: Any) -> dict[str, dict[str, object]]:
    """Per assigned topic-partition: aiokafka's position (None: awaiting a reset), whether
    it is paused there, the last high watermark seen, and whether the fetcher holds records
    of it not handed over yet."""
    inner = consumer._thread._ensure_consumer()
    assignment = inner._subscription.subscription.assignment
    held = inner._fetcher._records
    out = {}
    for tp in sorted(assignment.tps):
        state = assignment.state_value(tp)
        out[_name(tp)] = {
            "position": state.position if state.has_valid_position else None,
            "high": inner.highwater(tp),
            "paused": state.paused,
            "fetched_not_taken": tp in held,
        }
    return out


def _names(tps: Iterable[Any]) -> list[str]:
    return sorted(_name(tp) for tp in tps)


def _name(tp: Any) -> str:
    return f"{tp.topic}[{tp.partition}]"


def _read(read: Callable[[], object]) -> object:
    try:
        return read()
    except Exception as exc:  # a diagnosis must not fail the page
        return f"unavailable: {exc!r}"
