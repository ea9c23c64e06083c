"""ISO-8601 parsing for charger clocks, which are often wrong or sloppy."""

from __future__ import annotations

from datetime import UTC, datetime

MAX_CLOCK_AHEAD_MS = 5 * 60_000  # a charger clock this far ahead of the CSMS is wrong
MAX_CLOCK_BEHIND_MS = 365 * 86_400_000  # ... this far behind it was never set (1970, 2000)


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


def trusted_time(ts_ms: int, received_at_ms: int, quirks: list[str]) -> int:
    """The charger's time unless its clock plainly lies; then the receipt time (noted)."""
    if ts_ms > received_at_ms + MAX_CLOCK_AHEAD_MS:
        quirks.append("clock_ahead")
        return received_at_ms
    if ts_ms < received_at_ms - MAX_CLOCK_BEHIND_MS:
        quirks.append("clock_unset")
        return received_at_ms
    return ts_ms
