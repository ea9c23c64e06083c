"""Table values kept decoded between events.

A site's whole state (open buckets, availability timeline, alert) is one JSON value, and
decoding it for every contribution was the largest single cost of stage 2 (py-spy,
bench/RESULTS.md). Here a value is decoded when first read and kept with the bytes it
came from; later reads return the same object as long as the table still holds those
bytes (a restored or rebalanced table holds others, and they are decoded again).

The domain code changes values in place. So that the kept object never runs ahead of
the table, a value read with ``get`` must be written back with ``set`` in the same event;
one that was not (the event failed half-way, or changed nothing worth keeping) is dropped
when the event settles, and decoded again from the table's bytes when next read. ``peek``
is for reads that change nothing.

A value ``set`` is encoded into the table once, when its event settles, however often
the event set it: a batch event (agents/consumer.py) changes a site or a charger many
times. So settle a DecodedTable before the table under it (agents/held_state.py takes a
table's changes when it settles), and read keys through ``known_keys``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class DecodedTable(Generic[V]):
    def __init__(
        self,
        table: Any,  # a faust table of bytes -> bytes (any mapping with get and item assignment)
        decode: Callable[[bytes, bytes | None], V],
        encode: Callable[[V], bytes],
    ) -> None:
        self.table = table
        self._decode, self._encode = decode, encode
        self._kept: dict[bytes, tuple[bytes | None, V]] = {}  # key -> (table bytes, decoded)
        self._unsaved: set[bytes] = set()  # read with get in this event and not set since
        self._dirty: dict[bytes, V] = {}  # set in this event: into the table when it settles

    def peek(self, key: bytes) -> V:
        """The value, to read only."""
        if key in self._dirty:
            return self._dirty[key]
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
        """The table's keys and those set in this event."""
        return list(dict.fromkeys([*self.table.keys(), *self._dirty]))

    def settle(self) -> None:
        """The event has ended: values it set go into the table, encoded once each; values
        it read for change and did not set are dropped."""
        for key, value in self._dirty.items():
            raw = self._encode(value)
            self.table[key] = raw
            self._kept[key] = (raw, value)
        self._dirty.clear()
        for key in self._unsaved:
            self._kept.pop(key, None)
        self._unsaved.clear()

    def abandon(self) -> None:
        """The event was cancelled half-way: what it read or set is decoded afresh next time
        (the worker is stopping; this keeps the contract all the same)."""
        self.forget()

    def forget(self) -> None:
        """Drop every kept value (partitions revoked: what comes back is read again)."""
        self._kept.clear()
        self._unsaved.clear()
        self._dirty.clear()
