"""The faust.App, built from settings, and nothing else."""

from __future__ import annotations

from typing import Any

import faust

from .config import Settings, get_settings
from .kafka_clients import faust_credentials


def create_app(settings: Settings, **overrides: Any) -> faust.App:
    return faust.App(
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


app = create_app(get_settings())
