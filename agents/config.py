"""The one settings object: read from the environment once (prefix CHARGESTREAM_).

Defaults point at the local services that ``python -m infra.local up`` starts, so a
fresh checkout runs with no configuration; production overrides them by env.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHARGESTREAM_", frozen=True, extra="ignore")

    app_id: str = "chargestream"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_timeout_seconds: float = Field(10.0, gt=0)
    topic_replication_factor: int = Field(1, ge=1)
    topic_partitions: int = Field(8, ge=1)

    # "host1,host2" or a JSON list
    cassandra_contact_points: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.1",)
    cassandra_port: int = 9042
    cassandra_local_dc: str = "datacenter1"
    cassandra_keyspace: str = "chargestream"
    cassandra_timeout_seconds: float = Field(10.0, gt=0)

    # Worker data directory (Faust's tables and offsets); relative to the cwd.
    data_dir: str = "var/worker"
    store: str = "memory://"
    web_port: int = 6066
    web_host: str = "127.0.0.1"

    @field_validator("cassandra_contact_points", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return tuple(json.loads(text))
            return tuple(h.strip() for h in text.split(",") if h.strip())
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
