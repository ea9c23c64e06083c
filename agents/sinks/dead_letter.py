"""Dead letters: the original bytes, untouched, plus why and where from, as headers.

A dead letter keeps the input's key and value exactly, so it can be replayed once the
cause is fixed; everything chargestream knows about it travels in headers
(schemas/dead_letter.v1.md).
"""

from __future__ import annotations

from agents.domain.errors import Rejected

HEADER_PREFIX = "chargestream.dlq."


def dead_letter_headers(
    rejected: Rejected, *, topic: str, partition: int, offset: int, timestamp_ms: int | None
) -> list[tuple[str, bytes]]:
    return [
        (HEADER_PREFIX + "reason", rejected.reason.value.encode()),
        (HEADER_PREFIX + "detail", rejected.detail.encode(errors="replace")[:1000]),
        (HEADER_PREFIX + "topic", topic.encode()),
        (HEADER_PREFIX + "partition", str(partition).encode()),
        (HEADER_PREFIX + "offset", str(offset).encode()),
        (HEADER_PREFIX + "timestamp", str(timestamp_ms or "").encode()),
    ]
