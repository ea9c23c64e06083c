"""The faust.App, built from settings, and nothing else."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import faust

from .config import Settings, get_settings
from .kafka_clients import faust_credentials

log = logging.getLogger(__name__)


class BoundedShutdownApp(faust.App):
    """Faust's graceful stop (wait for events in flight, flush, commit) has no overall bound:
    a stop that waits on an unreachable Cassandra would wait forever. This one exits after
    ``shutdown_timeout_s`` whatever is left (at-least-once covers what was not committed)."""

    shutdown_timeout_s: float = 30.0

    async def on_stop(self) -> None:
        timer = threading.Timer(self.shutdown_timeout_s, _exit_now, args=(self.shutdown_timeout_s,))
        timer.daemon = True
        timer.start()
        await super().on_stop()


def _exit_now(bound_s: float) -> None:
    log.error("graceful shutdown took longer than %.0f s; exiting without it", bound_s)
    os._exit(1)


def create_app(settings: Settings, **overrides: Any) -> faust.App:
    app = BoundedShutdownApp(
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
        web_tables_enabled=False,  # Faust's default serves table contents over HTTP
        **overrides,
    )
    app.shutdown_timeout_s = settings.shutdown_timeout_seconds
    return app


app = create_app(get_settings())
