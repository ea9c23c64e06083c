"""Rebalances under stress: the rebalance fault test, many times, with the second worker
leaving at a random moment.

tests/integration/test_faults.py lets a second worker join, process input for 2 s and leave
(SIGTERM). Here it leaves 1-8 s after it was started, so that it joins, recovers, processes
and leaves at every moment of the first worker's rebalances; each run is compared with the
undisturbed one as in the fault test. Not part of `make test`: ~35 s a run, and the faults
it finds are rare (README, known limits). On the local services (`make services`):

    .venv/bin/python -m bench.rebalance_stress --runs 30

Workers log at info level; a failing run keeps their logs under --basetemp.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from agents.consumer import offset_runs

# main passes its options to the test (run by pytest) through these
RUNS_ENV = "CHARGESTREAM_STRESS_RUNS"
MAX_LIFE_ENV = "CHARGESTREAM_STRESS_MAX_LIFE"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--max-life", type=float, default=8.0, help="the second worker's longest life, s")
    parser.add_argument("--basetemp", default="/tmp/chargestream-rebalance-stress")
    parser.add_argument("--keep-going", action="store_true", help="go on after a failing run")
    args = parser.parse_args(argv)
    os.environ[RUNS_ENV] = str(args.runs)
    os.environ[MAX_LIFE_ENV] = str(args.max_life)
    return int(
        pytest.main(
            [
                "-p",
                "tests.conftest",  # the suite's service fixtures
                "-p",
                "tests.integration.test_faults",  # its shared input and undisturbed run
                "-p",
                "no:cacheprovider",
                f"--basetemp={args.basetemp}",
                *([] if args.keep_going else ["-x"]),
                "-o",
                "timeout=900",
                str(Path(__file__).resolve()),
            ]
        )
    )


# Collected only when pytest is pointed at this file (main above): bench/ is not a test path.
@pytest.mark.parametrize("run", range(int(os.environ.get(RUNS_ENV, "1"))))
def test_second_worker_leaves_at_a_random_moment(
    run: int, shared_input: Any, reference: Any, cassandra_session: Any, tmp_path: Path
) -> None:
    # Imported here, once pytest has taken the module as a plugin (main above).
    from tests.integration import test_faults as faults
    from tests.workers import Worker, delete_topics

    rng = random.Random(run)
    life_s = rng.uniform(1.0, float(os.environ.get(MAX_LIFE_ENV, "8")))

    def rebalance(worker: Worker, env: dict[str, str], tmp: Path) -> Worker:
        faults._started(worker)
        second = Worker(env, tmp / "w1", loglevel="info")
        try:
            time.sleep(life_s)
        finally:
            second.stop()
        return worker

    trace = {"CHARGESTREAM_TRACE_PROCESSING": "true"}  # the workers log the offsets they settle
    got = faults._run(
        shared_input, f"stress{run}", cassandra_session, tmp_path, rebalance, extra_env=trace, loglevel="info"
    )
    try:
        faults._assert_same(got, reference)
    except AssertionError as exc:  # its keyspace and topics stay, to be read
        raise AssertionError(f"{exc}\n{offsets_report(tmp_path)}") from None
    # A keyspace a run: ~50 runs' worth took the local Cassandra's 1 GiB heap (it died).
    name = f"{shared_input.unique}_stress{run}"
    cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)
    for prefix in (f"{name}.", f"{name}-"):  # its own topics and its tables' changelogs
        delete_topics(shared_input.bootstrap, prefix)


NOTES = (
    "hand-over commit refused",
    "offset commit refused",
    "no longer this worker's to commit",
    "reads from",
    "outdated",
    "status out of order",
    "change late",
)
# "settled {tp: spans}" lists an event's records; "skipped {tp: spans} settled already" those
# of them it did not process (delivered again after a seek)
TRACED = re.compile(r"\] (settled|skipped) (\{.*\})(?: settled already)?$")


def offsets_report(run_dir: Path) -> str:
    """From the workers' logs (CHARGESTREAM_TRACE_PROCESSING): per topic-partition, the offsets
    no worker settled below the last one settled (skipped), and those settled more than
    once (read again: allowed only where no commit covered them)."""
    settled: dict[str, Counter[int]] = defaultdict(Counter)
    notes = []
    for log in sorted(run_dir.rglob("worker.log")):
        who = log.parent.name
        for line in log.read_text(errors="replace").splitlines():
            if m := TRACED.search(line):
                for tp, spans in ast.literal_eval(m.group(2)).items():
                    offsets = Counter(o for first, last in spans for o in range(first, last + 1))
                    if m.group(1) == "settled":
                        settled[tp].update(offsets)
                    else:
                        settled[tp].subtract(offsets)
            elif any(note in line for note in NOTES):
                notes.append(f"{who}: {line}")
    lines = []
    for tp, counts in sorted(settled.items()):
        skipped = [o for o in range(max(counts) + 1) if counts[o] <= 0]
        twice = sorted(o for o, n in counts.items() if n > 1)
        if skipped or twice:
            lines.append(f"{tp}: skipped {_spans(skipped)}; settled again {_spans(twice)}")
    return "\n".join(["offsets (workers' logs):", *(lines or ["every offset settled once"]), *notes])


def _spans(offsets: list[int]) -> str:
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in offset_runs(offsets)) or "none"


if __name__ == "__main__":
    sys.exit(main())
