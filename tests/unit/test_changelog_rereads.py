"""Where table recovery's changelog partitions are read again after a fetch was dropped."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from faust.types import TP

from agents.consumer import changelog_rereads

A0, A1, S0, GONE = (TP("t-changelog", p) for p in (0, 1, 2, 3))


def _recovery(in_recovery: bool) -> SimpleNamespace:
    return SimpleNamespace(
        in_recovery=in_recovery,
        active_tps={A0, A1},
        active_offsets=Counter({A0: 41, A1: -1}),
        standby_tps={S0, GONE},
        standby_offsets=Counter({S0: 7, GONE: 3}),
    )


def test_while_recovering_active_and_standby_partitions_resume_after_what_was_taken() -> None:
    assigned = {A0, A1, S0}
    assert changelog_rereads(_recovery(True), assigned) == {A0: 42, A1: 0, S0: 8}


def test_after_recovery_only_standby_copies_are_read_on() -> None:
    assert changelog_rereads(_recovery(False), {A0, A1, S0}) == {S0: 8}


def test_partitions_not_assigned_are_left_alone() -> None:
    assert GONE not in changelog_rereads(_recovery(True), {A0, A1, S0})


def test_a_partition_recovery_has_taken_nothing_of_is_read_from_the_start() -> None:
    recovery = _recovery(True)
    recovery.active_offsets = Counter()  # not in the counter at all
    assert changelog_rereads(recovery, {A0})[A0] == 0
