"""Writes in flight, numbered as they are issued, and waits for all issued before a point.

The output producer (records to Kafka) and the Cassandra store both issue writes that land
in the background, and both must let a commit wait for every write issued before it, but
not for those issued while it waits (under steady input there always are some).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class Mark:
    """A point in the sequence of writes: set once every write issued before it has landed."""

    __slots__ = ("landed", "remaining", "seq")

    def __init__(self, seq: int, remaining: int) -> None:
        self.seq, self.remaining, self.landed = seq, remaining, asyncio.Event()
        if remaining <= 0:
            self.landed.set()


class Landings:
    def __init__(self) -> None:
        self._next = 0  # sequence number of the next write
        self._outstanding = 0  # issued, not landed (or refused)
        self._marks: list[Mark] = []

    def issue(self) -> int:
        """A new write; its sequence number."""
        seq = self._next
        self._next += 1
        self._outstanding += 1
        return seq

    def landed(self, seq: int) -> None:
        """The write is done with, landed or refused."""
        self._outstanding -= 1
        for mark in self._marks:
            if seq < mark.seq:
                mark.remaining -= 1
                if mark.remaining == 0:
                    mark.landed.set()

    @contextmanager
    def mark(self) -> Iterator[Mark]:
        """A mark at this point, watched while the block runs."""
        mark = Mark(self._next, self._outstanding)  # every outstanding write is older
        self._marks.append(mark)
        try:
            yield mark
        finally:
            self._marks.remove(mark)
