"""Table values kept decoded between events, and encoded once per commit.

A site's whole state (open buckets, availability timeline, alert) is one JSON value, and
decoding it for every contribution was the largest single cost of stage 2 (py-spy,
bench/RESULTS.md). Here a value is decoded when first read and kept with the bytes it
came from; later reads return the same object as long as the table still holds those
bytes (a restored or rebalanced table holds others, and they are decoded again).

The domain code changes values in place. A value read with ``get`` must be written back
with ``set`` in the same event; one that was not (the event failed half-way, or changed
nothing worth keeping) is dropped when the event settles, and decoded again from the
table's bytes when next read. ``peek`` is for reads that change nothing.

A value ``set`` is encoded into the table once per commit, however often events set it
meanwhile: under live traffic a batch holds a few records, and encoding every site a batch
touched, at the end of every batch, was 15 % of the worker (py-spy, bench/RESULTS.md).
When an event settles, its values become pending (with the changelog partition of its
event); ``flush``, at a commit, when no event is half-way (agents/held_state.py), encodes
them into the table. Until then reads return the pending object. Read keys through
``known_keys``.

Two consequences of sharing the pending object with the events that change it:
- an event that fails half-way after ``get`` of a pending value leaves what it changed in
  it (the bytes to go back to do not exist yet); that is a bug of ours, and its input is
  dead-lettered. A value not pending is dropped as before;
- an event cancelled half-way (the worker stopping) may leave a pending value half-changed:
  the view is then ``spoiled`` and nothing more of it may be committed (the input since the
  last commit is processed again after the restart).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class DecodedTable(Generic[V]):
    def __init__(
        self,
        table: Any,  # a HeldTable of bytes -> bytes (or any mapping with get, item assignment
        # and put_settled)
        decode: Callable[[bytes, bytes | None], V],
        encode: Callable[[V], bytes],
    ) -> None:
        self.table = table
        self._decode, self._encode = decode, encode
        self._kept: dict[bytes, tuple[bytes | None, V]] = {}  # key -> (table bytes, decoded)
        self._unsaved: set[bytes] = set()  # read with get in this event and not set since
        self._dirty: dict[bytes, V] = {}  # set in this event
        self._pending: dict[bytes, tuple[int | None, V]] = {}  # settled: into the table at flush
        self.spoiled = False

    def peek(self, key: bytes) -> V:
        """The value, to read only."""
        if key in self._dirty:
            return self._dirty[key]
        if key in self._pending:
            return self._pending[key][1]
        raw = self.table.get(key)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == raw:
            return kept[1]
        value = self._decode(key, raw)
        self._kept[key] = (raw, value)
        return value

    def get(self, key: bytes) -> V:
        """The value, to change in place and ``set`` before the event ends."""
        if key not in self._dirty:
            self._unsaved.add(key)
        return self.peek(key)

    def set(self, key: bytes, value: V) -> None:
        self._dirty[key] = value
        self._unsaved.discard(key)

    def known_keys(self) -> list[bytes]:
        """The table's keys and those set since the last flush."""
        return list(dict.fromkeys([*self.table.keys(), *self._pending, *self._dirty]))

    def settle(self) -> None:
        """The event has ended: the values it set become pending (for the changelog
        partition of this event); values it read for change and did not set are dropped."""
        for key, value in self._dirty.items():
            self._pending[key] = (self.table.partition_for_key(key), value)
        self._dirty.clear()
        for key in self._unsaved:
            self._kept.pop(key, None)
        self._unsaved.clear()

    def flush(self) -> None:
        """Encode the pending values into the table, its changelog records ready to send.
        Only when no event is half-way: they may be changing these very objects."""
        for key, (partition, value) in self._pending.items():
            raw = self._encode(value)
            self.table.put_settled(key, raw, partition)
            self._kept[key] = (raw, value)
        self._pending.clear()

    def abandon(self) -> None:
        """The event was cancelled half-way: what it read or set is decoded afresh next
        time, and if it had a pending value in hand, nothing more is committed from here."""
        touched = self._unsaved | self._dirty.keys()
        if touched & self._pending.keys():
            self.spoiled = True
        for key in touched:
            self._kept.pop(key, None)
        self._unsaved.clear()
        self._dirty.clear()

    def forget(self) -> None:
        """Drop every kept value (partitions revoked: what comes back is read again). The
        pending ones stay until the hand-over's flush: they are this worker's to send."""
        self._kept.clear()
        self._unsaved.clear()
        self._dirty.clear()
