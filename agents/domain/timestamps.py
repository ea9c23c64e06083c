"""ISO-8601 parsing for charger clocks, which are often wrong or sloppy."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_iso_ms(text: str) -> tuple[int, bool] | None:
    """Epoch milliseconds and whether the text lacked a UTC offset (read as UTC).

    Accepts what Python's ISO parser accepts ("Z", offsets, fractions, a space for T);
    None for anything else.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except (ValueError, TypeError, AttributeError):
        return None
    naive = parsed.tzinfo is None
    if naive:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return int(parsed.timestamp() * 1000), naive
    except (OverflowError, OSError, ValueError):
        return None


def iso_ms(epoch_ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with millisecond precision and a Z."""
    return (
        datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
