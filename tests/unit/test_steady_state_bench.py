"""`python -m bench.steady_state` keeps working (a tiny input; benchmarks are not tests, so
nothing here is timed)."""

from __future__ import annotations

import pytest

from bench import steady_state


def test_the_steady_state_bench_runs_on_a_tiny_fleet(capsys: pytest.CaptureFixture[str]) -> None:
    assert steady_state.main(["--chargers", "4", "--minutes", "3", "--timeline-hours", "0.2"]) == 0
    out = capsys.readouterr().out
    for line in (
        "stage-1 domain CPU per meter message",
        "state decoded and encoded at each",
        "fold CPU per connector and minute",
    ):
        assert line in out
