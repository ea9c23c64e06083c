"""The message ids a charger sent recently, for dropping exact re-sends.

They are kept for the horizon (18 minutes; a re-send that got past them would be written
again, as a late row once its buckets have closed), ~150 per charger at 10-second samples.
As a dict of id strings and receive times they were half of a filled charger state in
memory, ~14.6 KB per connector (bench/RESULTS.md, `python -m bench.steady_state`). Here
each id is an 8-byte BLAKE2b digest in one bytearray, its receive time in an array beside
it, in whole seconds rounded up (32 bits: until 2106): 12 bytes an id. An id is forgotten
up to a second later than its receive time in milliseconds would let it go, never
earlier. Two different ids of one charger meeting on a 64-bit digest within 18 minutes is
a chance of ~10^-15, and would cost one message's processing, reported as a duplicate.

Receive times were packed as 64-bit milliseconds before (16 bytes an id); those are still
read (``from_packed`` tells them by their length).
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Iterable, Mapping
from hashlib import blake2b
from typing import Any

DIGEST = 8
_MAX_S = 2**32 - 1
if array("I").itemsize != 4:  # pragma: no cover - every platform CPython runs on here
    raise ImportError("SeenMessages needs a 4-byte array('I')")


def _digest(message_id: str) -> bytes:
    return blake2b(message_id.encode(), digest_size=DIGEST).digest()


def _seconds(ms: int) -> int:
    """Whole seconds, rounded up (never earlier), within 32 bits."""
    return min(max(-(-ms // 1000), 0), _MAX_S)


class SeenMessages:
    __slots__ = ("_digests", "_times")
    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(self, digests: bytes = b"", times_ms: Iterable[int] = ()) -> None:
        self._digests = bytearray(digests)  # DIGEST bytes per id, in the order they came
        self._times = array("I", map(_seconds, times_ms))  # receive time of each (s), same order
        self._check()

    def _check(self) -> None:
        if len(self._digests) != DIGEST * len(self._times):
            raise ValueError("one receive time per digest")

    @classmethod
    def of_ids(cls, ids: Mapping[str, int]) -> SeenMessages:
        """From message id -> received_at_ms (the state's encoding before digests)."""
        return cls(b"".join(map(_digest, ids)), ids.values())

    def __len__(self) -> int:
        return len(self._times)

    def __contains__(self, message_id: object) -> bool:
        return isinstance(message_id, str) and self._index(_digest(message_id)) >= 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SeenMessages):
            return NotImplemented
        return self._digests == other._digests and self._times == other._times

    def add(self, message_id: str, received_at_ms: int) -> None:
        """Note an id not seen yet (``in`` says which)."""
        self._digests += _digest(message_id)
        self._times.append(_seconds(received_at_ms))

    def forget_received_before(self, ms: int) -> None:
        # Ids come mostly in the order they were received: those go from the front, and
        # the whole is filtered only when an older one is left behind a newer one.
        cut = _seconds(ms)  # a time in seconds t is before ms exactly when t < ceil(ms / 1000)
        times = self._times
        front = 0
        while front < len(times) and times[front] < cut:
            front += 1
        if front:
            del times[:front]
            del self._digests[: front * DIGEST]
        if not times or min(times) >= cut:
            return
        keep = [i for i, t in enumerate(self._times) if t >= cut]
        digests = self._digests
        self._digests = bytearray(b"".join(digests[i * DIGEST : (i + 1) * DIGEST] for i in keep))
        self._times = array("I", (self._times[i] for i in keep))

    def packed(self) -> tuple[bytes, bytes]:
        """(digests, receive times in seconds as 32-bit little-endian ints): ``from_packed``
        reads them."""
        return bytes(self._digests), _little(self._times).tobytes()

    @classmethod
    def from_packed(cls, digests: bytes, times: bytes) -> SeenMessages:
        ids = len(digests) // DIGEST
        if ids and len(times) == 8 * ids:  # 64-bit milliseconds, as packed before
            return cls(digests, _little(array("q", times)))
        seen = cls()
        seen._digests, seen._times = bytearray(digests), _little(array("I", times))
        seen._check()
        return seen

    def to_doc(self) -> list[Any]:
        """[digests, receive times], both base64 (as a list of numbers the times took a fifth
        of the time to encode a charger's state)."""
        return [base64.b64encode(b).decode() for b in self.packed()]

    @classmethod
    def from_doc(cls, doc: list[Any]) -> SeenMessages:
        digests, times = doc
        if isinstance(times, list):  # written before the times were base64: a list of numbers
            return cls(base64.b64decode(digests), times)
        return cls.from_packed(base64.b64decode(digests), base64.b64decode(times))

    def _index(self, digest: bytes) -> int:
        """Where the digest starts, on a digest boundary; -1 if absent."""
        i = self._digests.find(digest)
        while i > 0 and i % DIGEST:
            i = self._digests.find(digest, i + 1)
        return i


def _little(times: array[int]) -> array[int]:
    """The array in little-endian order (either way: swapping is its own inverse)."""
    if sys.byteorder == "little":
        return times
    swapped = array(times.typecode, times)
    swapped.byteswap()
    return swapped
