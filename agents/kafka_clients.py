"""Connecting to Kafka from settings: the one place that knows the security knobs, for
Faust's clients (aiokafka) and our own (confluent-kafka) alike."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from .config import Settings


def confluent_config(s: Settings, extra: Mapping[str, Any] = {}) -> dict[str, Any]:
    """librdkafka configuration: bootstrap, security, then ``extra``."""
    config: dict[str, Any] = {
        "bootstrap.servers": s.kafka_bootstrap,
        "security.protocol": s.kafka_security_protocol,
    }
    if (login := s.kafka_sasl_login) is not None:
        username, password = login
        config |= {
            "sasl.mechanism": s.kafka_sasl_mechanism,
            "sasl.username": username,
            "sasl.password": password,
        }
    if s.kafka_tls:
        config["ssl.endpoint.identification.algorithm"] = "https"
        if s.kafka_ssl_cafile:
            config["ssl.ca.location"] = s.kafka_ssl_cafile
    return {**config, **extra}


def faust_credentials(s: Settings) -> Any:
    """``broker_credentials`` for faust.App: None for plaintext."""
    import faust

    context = ssl_context(s.kafka_ssl_cafile) if s.kafka_tls else None
    if (login := s.kafka_sasl_login) is not None:
        username, password = login
        return faust.SASLCredentials(
            username=username, password=password, mechanism=s.kafka_sasl_mechanism, ssl_context=context
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def ssl_context(cafile: str | None) -> ssl.SSLContext:
    """Verifies the server's certificate chain and host name (Python's defaults)."""
    return ssl.create_default_context(cafile=cafile)
