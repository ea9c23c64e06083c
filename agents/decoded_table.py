"""Table values kept decoded between events.

A site's whole state (open buckets, availability timeline, alert) is one JSON value, and
decoding it for every contribution was the largest single cost of stage 2 (py-spy,
bench/RESULTS.md). Here a value is decoded when first read and kept with the bytes it
came from; later reads return the same object as long as the table still holds those
bytes (a restored or rebalanced table holds others, and they are decoded again).

The domain code changes values in place. So that the kept object never runs ahead of
the table, a value read with ``get`` must be written back with ``set`` (which encodes it
into the table) in the same event; one that was not (the event failed half-way, or
changed nothing worth keeping) is dropped when the event settles, and decoded again from
the table's bytes when next read. ``peek`` is for reads that change nothing.
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

    def peek(self, key: bytes) -> V:
        """The value, to read only."""
        raw = self.table.get(key)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == raw:
            return kept[1]
        value = self._decode(key, raw)
        self._kept[key] = (raw, value)
        return value

    def get(self, key: bytes) -> V:
        """The value, to change in place and ``set`` before the event ends."""
        self._unsaved.add(key)
        return self.peek(key)

    def set(self, key: bytes, value: V) -> None:
        raw = self._encode(value)
        self.table[key] = raw
        self._kept[key] = (raw, value)
        self._unsaved.discard(key)

    def settle(self) -> None:
        """The event has ended: values it read for change and did not set are dropped."""
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
