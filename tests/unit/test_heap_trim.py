"""The heap trim is glibc's malloc_trim, found and callable here (the image and CI run glibc)."""

from __future__ import annotations

from agents.app import create_app
from agents.config import Settings
from agents.heap_trim import trim_periodically, trimmer


def test_malloc_trim_is_found_and_returns() -> None:
    trim = trimmer()
    assert trim is not None
    garbage = [bytes(4096) for _ in range(10_000)]  # ~40 MiB freed below, for it to give back
    del garbage
    assert trim() in (0, 1)  # 1: memory was released


def test_the_worker_trims_on_a_timer_unless_told_not_to() -> None:
    app = create_app(Settings(app_id="heap-trim-test"))
    before = len(app._app_tasks)
    trim_periodically(app, 0)
    assert len(app._app_tasks) == before
    trim_periodically(app, 60)
    assert len(app._app_tasks) == before + 1
