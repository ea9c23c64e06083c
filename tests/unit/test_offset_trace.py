"""The offsets trace (CHARGESTREAM_TRACE_PROCESSING): what an event covers, and the stress
tool's reading of it (skipped and re-read offsets)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agents.consumer import RecordBatch, offset_ranges
from bench.rebalance_stress import offsets_report


def _record(topic: str, partition: int, offset: int) -> Any:  # the fields a Message has here
    return SimpleNamespace(topic=topic, partition=partition, offset=offset)


def test_a_batch_covers_each_topic_partition_from_its_first_to_its_last_record() -> None:
    batch = RecordBatch([_record("m", 1, 10), _record("s", 1, 3), _record("m", 1, 11), _record("m", 1, 12)])
    event = SimpleNamespace(topic="m", partition=1, offset=12, value=batch)
    assert offset_ranges(event) == {"m[1]": (10, 12, 3), "s[1]": (3, 3, 1)}


def test_a_single_record_event_covers_itself() -> None:
    assert offset_ranges(_record("t", 0, 7)) == {"t[0]": (7, 7, 1)}


def test_the_report_names_offsets_no_worker_settled_and_those_settled_twice(tmp_path: Path) -> None:
    for who, lines in {
        "w0": ["[x] [1] [INFO] settled {'m[1]': (0, 4, 5)}", "[x] [1] [INFO] settled {'m[1]': (8, 9, 2)}"],
        "w1": ["[x] [2] [INFO] settled {'m[1]': (3, 5, 3), 'm[0]': (0, 2, 3)}"],
    }.items():
        (tmp_path / who).mkdir()
        (tmp_path / who / "worker.log").write_text("\n".join(lines) + "\n")
    report = offsets_report(tmp_path)
    assert "m[1]: skipped 6-7; settled again 3-4" in report
    assert "m[0]" not in report  # settled once each
