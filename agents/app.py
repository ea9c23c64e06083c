"""The faust.App, built from settings, and nothing else."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, cast

import faust
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from .config import Settings, get_settings
from .consumer import RewindingConsumer
from .held_state import HeldStateConsumer, HeldStateTransport, HeldTable
from .kafka_clients import faust_credentials
from .spill_store import register as register_spill_store

log = logging.getLogger(__name__)

# Events queued per stream: batches of hundreds of records each (consumer.py), not Faust's
# default of 4,096 single records.
STREAM_QUEUE_EVENTS = 64
# Stage 1's events are merged batches of a partition's topics, thousands of records each
# under a backlog, so its queue holds fewer: a bound on the input held in memory
# (bench/RESULTS.md, session 14). Set on its topic (agents/topics.py).
STAGE1_QUEUE_EVENTS = 16


class ChargestreamApp(faust.App):
    """A faust.App with five changes:
    - the topics in ``batched_topics`` reach their agents as one event per fetched batch
      (agents/consumer.py);
    - its flow control tells the consumer when it empties the streams' queues (the
      consumer then reads their records again);
    - table state is sent after the outputs it implies (agents/held_state.py);
    - Faust's graceful stop (wait for events in flight, flush, commit) gets an overall
      bound: a stop that waits on an unreachable Cassandra would wait forever. This one
      exits after ``shutdown_timeout_s`` whatever is left; what was not committed is
      processed again after the restart, as after a crash;
    - ``topic`` passes ``maxsize`` (the events queued for the topic's agents) on to the
      topic: Faust 0.15.3's takes it and drops it."""

    shutdown_timeout_s: float = 30.0
    # One stream event per fetched batch (agents/consumer.py); of the time-ordered topics
    # (co-partitioned, in this order), one per partition number, merged by timestamp.
    batched_topics: frozenset[str] = frozenset()
    time_ordered_topics: tuple[str, ...] = ()

    def topic(self, *topics: str, maxsize: int | None = None, **kwargs: Any) -> faust.TopicT:
        topic = super().topic(*topics, **kwargs)
        if maxsize is not None:
            topic.maxsize = maxsize
        return topic

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return _StreamQueues(self, loop=self.loop)

    def _new_transport(self) -> Any:
        return HeldStateTransport(self.conf.broker_consumer, self)

    async def on_stop(self) -> None:
        timer = threading.Timer(self.shutdown_timeout_s, _exit_now, args=(self.shutdown_timeout_s,))
        timer.daemon = True
        timer.start()
        await super().on_stop()


class _StreamQueues(FlowControlEvent):
    """Faust's flow control of the streams' queues, which tells the consumer when it has
    emptied them: records handed over and dropped so must be read again (consumer.py)."""

    def __init__(self, app: faust.App, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._app = app

    def clear(self) -> None:
        super().clear()
        consumer = self._app._consumer
        if isinstance(consumer, RewindingConsumer):
            consumer.streams_cleared()


class QuietWorker(faust.Worker):
    """Faust's worker without its terminal spinner. At log level warn or above Faust draws
    one, and to spin it for every log record it sets the root logger to DEBUG: every
    debug call of Faust and aiokafka then builds a record (several per message)."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None


def _exit_now(bound_s: float) -> None:
    log.error("graceful shutdown took longer than %.0f s; exiting without it", bound_s)
    os._exit(1)


def create_app(settings: Settings, **overrides: Any) -> ChargestreamApp:
    register_spill_store()
    if settings.group_instance_id:
        # Faust's assignor checks the worker URL (web host:port by default) stored in the
        # assignment the broker hands back to a static member: a restart on another port
        # would stop its consumer. The instance id is the identity that survives restarts.
        overrides.setdefault("canonical_url", f"http://{settings.group_instance_id}")
    app = ChargestreamApp(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        datadir=settings.data_dir,
        topic_replication_factor=settings.topic_replication_factor,
        topic_partitions=settings.topic_partitions,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,  # loopback unless configured otherwise
        consumer_group_instance_id=settings.group_instance_id,
        web_tables_enabled=False,  # Faust's default serves table contents over HTTP
        stream_buffer_maxsize=STREAM_QUEUE_EVENTS,
        broker_max_poll_records=settings.batch_max_records,
        broker_commit_interval=settings.commit_interval_seconds,
        table_standby_replicas=settings.standby_replicas,
        Table=HeldTable,
        Worker=QuietWorker,
        **overrides,
    )
    app.shutdown_timeout_s = settings.shutdown_timeout_seconds

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _state_before_handover(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", set())
        await cast(HeldStateConsumer, app.consumer).hand_over(revoked)  # HeldStateTransport's

    return app


app = create_app(get_settings())
