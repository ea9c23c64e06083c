"""A clock for judging input topics idle: wall time less the time the worker was stalled.

One agent reads every input partition, one message (a batch of records: agents/consumer.py)
at a time. A message that takes longer than ``stall_s`` is waiting on something (Cassandra
down, a broker restarting), and meanwhile no topic is read. That time must not count as
the topics' silence: every partition would look idle, its watermark would jump to the wall
clock, and the backlog behind the stall would all be late.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReadingClock:
    stall_s: float = 1.0
    _stalled_s: float = 0.0  # the total of finished messages' time beyond stall_s
    _message_started: float | None = None

    def message_started(self, now: float) -> None:
        self._message_started = now

    def message_ended(self, now: float) -> None:
        if self._message_started is not None:
            self._stalled_s += self._beyond_stall(now, self._message_started)
        self._message_started = None

    def read(self, now: float) -> float:
        """``now`` (monotonic seconds) less the time stalls took, the current one included."""
        current = 0.0 if self._message_started is None else self._beyond_stall(now, self._message_started)
        return now - self._stalled_s - current

    def _beyond_stall(self, now: float, started: float) -> float:
        return max(0.0, now - started - self.stall_s)
