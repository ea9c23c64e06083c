"""Faust empties the streams' queues at the end of every table recovery, with the flow
running: records handed over just before are gone, and the consumer must read them again
(agents/consumer.py, ``streams_cleared``). This checks that Faust's clear reaches it."""

from __future__ import annotations

from agents.app import ChargestreamApp, create_app
from agents.config import Settings
from agents.held_state import HeldStateConsumer


def _consumer() -> tuple[HeldStateConsumer, ChargestreamApp]:
    app = create_app(Settings(app_id="stream-queues-test"))
    consumer = app.consumer  # built, not started: no broker needed
    assert isinstance(consumer, HeldStateConsumer)
    return consumer, app


def test_a_clear_with_the_flow_running_makes_the_consumer_seek_before_handing_over_more() -> None:
    consumer, app = _consumer()
    consumer.resume_flow()
    app.flow_control.resume()  # as recovery does when it completes
    assert consumer._reseek


def test_a_clear_with_the_flow_stopped_leaves_the_seek_to_the_rebalance() -> None:
    consumer, app = _consumer()
    consumer.stop_flow()  # as at a revoke, whose recovery seeks anyway
    app.flow_control.clear()
    assert not consumer._reseek
