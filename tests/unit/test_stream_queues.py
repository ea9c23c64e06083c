"""Faust empties the streams' queues at the end of every table recovery, with the flow
running: records handed over just before are gone, and the consumer must read them again
(agents/consumer.py, ``streams_cleared``); a batch whose hand-over was under way then, and
that reaches its queue after the emptying, is skipped (``outdated``)."""

from __future__ import annotations

from faust.types import TP, Message

from agents.app import ChargestreamApp, create_app
from agents.config import Settings
from agents.consumer import _batch, outdated
from agents.held_state import HeldStateConsumer


def _consumer() -> tuple[HeldStateConsumer, ChargestreamApp]:
    app = create_app(Settings(app_id="stream-queues-test"))
    consumer = app.consumer  # built, not started: no broker needed
    assert isinstance(consumer, HeldStateConsumer)
    return consumer, app


def _handed_over(offset: int) -> object:
    tp = TP("in", 0)
    record = Message("in", 0, offset, 0.0, 0, None, b"k", b"v", None, 1, 1, tp)
    return _batch(tp, [record])


def test_a_clear_with_the_flow_running_makes_the_consumer_seek_again() -> None:
    consumer, app = _consumer()
    consumer.resume_flow()
    app.flow_control.resume()  # as recovery does when it completes
    assert consumer._reseek


def test_a_clear_with_the_flow_stopped_leaves_the_seek_to_the_rebalance() -> None:
    consumer, app = _consumer()
    consumer.stop_flow()  # as at a revoke, whose recovery seeks anyway
    app.flow_control.clear()
    assert not consumer._reseek


def test_a_batch_handed_over_before_a_clear_is_skipped_after_it() -> None:
    _, app = _consumer()
    before = _handed_over(16)
    assert not outdated(before)
    app.flow_control.clear()
    after = _handed_over(16)
    assert outdated(before)
    assert not outdated(after)
