"""gc_policy: full collections freeze their survivors, and release them once a period."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from agents.gc_policy import FreezeAfterFullCollection


@pytest.fixture(autouse=True)
def explicit_collections_only() -> Iterator[None]:
    """Only the tests' own collections: an automatic full collection while a test builds its
    objects would run the policy (and freeze) before the test looks, as it did once in CI
    after other tests had left the collector's counters near a full collection."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def test_survivors_of_a_full_collection_are_frozen_and_released_once_a_period() -> None:
    now = [0.0]
    policy = FreezeAfterFullCollection(600.0, clock=lambda: now[0])
    gc.callbacks.append(policy)
    kept = [[n] for n in range(1000)]  # long-lived containers, as a worker's state
    try:
        gc.collect(1)  # a young collection changes nothing
        assert gc.get_freeze_count() == 0
        gc.collect()
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept)
        now[0] = 601.0  # a period later: released, for the next full collection to traverse
        gc.collect()
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.callbacks.remove(policy)
        gc.unfreeze()


def test_cyclic_garbage_of_frozen_objects_is_collected_after_the_release() -> None:
    now = [0.0]
    policy = FreezeAfterFullCollection(600.0, clock=lambda: now[0])
    gc.callbacks.append(policy)
    try:

        class Node:
            other: object = None

        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle, alive while a is referenced
        gone = weakref.ref(a)
        gc.collect()
        assert gc.get_freeze_count() > 0
        del a, b  # now cyclic garbage, frozen: no collection sees it
        gc.collect()
        assert gone() is not None
        now[0] = 601.0
        gc.collect()  # releases
        gc.collect()  # traverses everything
        assert gone() is None
    finally:
        gc.callbacks.remove(policy)
        gc.unfreeze()


def test_install_sets_the_young_threshold_and_the_policy() -> None:
    from agents.gc_policy import THRESHOLDS, install

    before = gc.get_threshold()
    policy = install()
    try:
        assert gc.get_threshold() == THRESHOLDS
        assert policy in gc.callbacks
    finally:
        gc.callbacks.remove(policy)
        gc.set_threshold(*before)
