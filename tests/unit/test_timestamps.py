"""Timestamps out: iso_ms must give what the datetime formatting gives, for any millisecond."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from agents.domain.timestamps import iso_ms, parse_iso_ms


def _through_datetime(epoch_ms: int) -> str:
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_ms)  # exact, no float
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_iso_ms_equals_the_datetime_formatting() -> None:
    rnd = random.Random(7)
    edges = [0, 1, 999, 1000, 59_999, 60_000, -1, -60_001, 951_782_400_000, 253_402_300_799_999]
    spread = [rnd.randrange(-62_135_596_800_000, 253_402_300_800_000) for _ in range(5000)]
    near = [1_795_521_600_000 + rnd.randrange(3_600_000) for _ in range(5000)]  # minutes reused
    for ms in edges + spread + near:
        assert iso_ms(ms) == _through_datetime(ms), ms


def test_iso_ms_reads_back() -> None:
    for ms in (0, 1_795_521_600_123, -1):
        assert parse_iso_ms(iso_ms(ms)) == (ms, False)


def test_iso_ms_takes_a_float_as_the_datetime_formatting_does() -> None:
    for ms in (1_795_521_600_123.9, -1.5, 0.4):
        at = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
        assert iso_ms(ms) == at.replace("+00:00", "Z")
