"""Coverage-guided fuzzing (atheris, libFuzzer) of the stage-1 domain path.

    python -m tests.fuzz.fuzz_input -max_total_time=60 [CORPUS_DIR ...]

Seeded with the real-world OCPP fixtures. Every input must be accepted or rejected with a
dead-letter reason (tests/hostile.py); an exception or another outcome is a finding, and
libFuzzer writes the input to crash-<sha1>. libFuzzer prints how many inputs it tried
("Done N runs").
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["agents"]):
    from tests.hostile import OUTCOMES, process


def one_input(data: bytes) -> None:
    outcome = process(data)
    if outcome not in OUTCOMES:
        raise AssertionError(f"unexpected outcome {outcome!r}")


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
