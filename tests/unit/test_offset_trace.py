"""The processing trace (CHARGESTREAM_TRACE_PROCESSING): which offsets an event covers, and
the stress tool's reading of it (offsets skipped, and read twice)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agents.consumer import RecordBatch, event_records, offset_spans
from bench.rebalance_stress import offsets_report


def _record(topic: str, partition: int, offset: int) -> Any:  # the fields a Message has here
    return SimpleNamespace(topic=topic, partition=partition, offset=offset)


def test_a_batch_read_straight_on_is_one_run_per_topic_partition() -> None:
    batch = RecordBatch([_record("m", 1, 10), _record("s", 1, 3), _record("m", 1, 11), _record("m", 1, 12)])
    event = SimpleNamespace(topic="m", partition=1, offset=12, value=batch)
    assert offset_spans(event_records(event)) == {"m[1]": [(10, 12)], "s[1]": [(3, 3)]}


def test_a_batch_that_goes_back_shows_it() -> None:
    records = [_record("m", 0, o) for o in (7, 8, 3, 4, 9)]
    assert offset_spans(records) == {"m[0]": [(7, 8), (3, 4), (9, 9)]}


def test_a_single_record_event_covers_itself() -> None:
    assert offset_spans(event_records(_record("t", 0, 7))) == {"t[0]": [(7, 7)]}


def test_the_report_names_offsets_no_worker_settled_and_those_settled_twice(tmp_path: Path) -> None:
    logs = {
        "w0": [
            "[x] [1] [INFO] settled {'m[1]': [(0, 4)]}",
            "[x] [1] [INFO] skipped {'m[1]': [(0, 1)]} settled already",  # in the next event
            "[x] [1] [INFO] settled {'m[1]': [(0, 1), (8, 9)]}",
        ],
        "w1": ["[x] [2] [INFO] settled {'m[1]': [(3, 5)], 'm[0]': [(0, 2)]}"],
    }
    for who, lines in logs.items():
        (tmp_path / who).mkdir()
        (tmp_path / who / "worker.log").write_text("\n".join(lines) + "\n")
    report = offsets_report(tmp_path)
    assert "m[1]: skipped 6-7; settled again 3-4" in report
    assert "m[0]" not in report  # settled once each
