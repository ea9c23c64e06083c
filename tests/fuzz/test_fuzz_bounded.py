"""The fuzz target runs for a bounded time in CI (CHARGESTREAM_FUZZ_SECONDS, default 20),
seeded with the OCPP fixtures; it must find nothing, and says how many inputs it tried."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.timeout(600)


def test_fuzzing_the_input_path_finds_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seconds = int(os.environ.get("CHARGESTREAM_FUZZ_SECONDS", "20"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for fixture in (REPO / "tests" / "fixtures" / "ocpp").glob("*.json"):
        shutil.copy(fixture, corpus / fixture.name)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.fuzz_input",
            f"-max_total_time={seconds}",
            "-rss_limit_mb=4096",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        check=False,
    )
    output = result.stdout + result.stderr
    found = re.search(r"Done (\d+) runs in (\d+) second", output)
    tried = f"{found.group(1)} in {found.group(2)} s" if found else "?"
    with capsys.disabled():  # into the test command's output, passed or not
        print(f"\nfuzz inputs tried: {tried}")
    assert result.returncode == 0, output[-4000:]
    assert found and int(found.group(1)) > 1000, output[-2000:]
