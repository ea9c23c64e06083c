"""Settings for the local services: ports, heaps and where files go.

Read once from the environment (prefix ``CHARGESTREAM_LOCAL_``). Everything the
services write lives under ``state_dir``; downloaded jars live under ``cache_dir``.
Both default to the user's XDG directories, so they stay out of git and are shared
by every clone on the machine (a second clone reuses running services).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback) / "chargestream"


class LocalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHARGESTREAM_LOCAL_", frozen=True)

    state_dir: Path = Field(default_factory=lambda: _xdg("XDG_STATE_HOME", ".local/state") / "local")
    cache_dir: Path = Field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache"))
    java_home: Path | None = None  # default: the first JDK 17 found under /usr/lib/jvm

    kafka_port: int = 9092
    kafka_controller_port: int = 19093
    # 512m ran out of heap (and the broker exited) with ~15,000 partitions left by interrupted
    # bench and test runs on a long-lived machine; 1g leaves room for that.
    kafka_heap: str = "1g"

    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    cassandra_heap: str = "1G"

    prometheus_port: int = 9090
    prometheus_scrape_interval: str = "2s"
    alertmanager_port: int = 9093

    secure_dir: Path | None = None
    """When set, Kafka listens SASL_SSL (SCRAM-SHA-512) and Cassandra wants a password and
    TLS, with the certificates in this directory: `ca.pem` and `server.pem` (the server's
    key and certificate, PEM). For tests of the secure settings; the default is plaintext."""
    secure_username: str = "chargestream"
    secure_password: SecretStr | None = None
    """Required with secure_dir: Kafka's SCRAM user and a Cassandra superuser role."""

    ready_timeout_seconds: float = 180.0
    stop_timeout_seconds: float = 60.0

    @model_validator(mode="after")
    def _secure_needs_a_password(self) -> LocalSettings:
        if self.secure_dir is not None and not self.secure_password:
            raise ValueError("secure_dir needs secure_password (CHARGESTREAM_LOCAL_SECURE_PASSWORD)")
        return self

    @property
    def password(self) -> str:
        return self.secure_password.get_secret_value() if self.secure_password else ""

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    @property
    def prometheus_targets_dir(self) -> Path:
        return self.state_dir / "prometheus" / "targets"

    def log_file(self, service: str) -> Path:
        return self.state_dir / "logs" / f"{service}.log"
