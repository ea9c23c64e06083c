"""The settings object: defaults point at the local services; env overrides parse."""

from __future__ import annotations

import os

import pytest

from agents.config import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("CHARGESTREAM_"):
            monkeypatch.delenv(name)


def test_defaults_point_at_local_services() -> None:
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.cassandra_contact_points == ("127.0.0.1",)


@pytest.mark.parametrize("raw", ["cass-1,cass-2", " cass-1 , cass-2 ", '["cass-1", "cass-2"]'])
def test_contact_points_from_env(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("CHARGESTREAM_CASSANDRA_CONTACT_POINTS", raw)
    assert Settings().cassandra_contact_points == ("cass-1", "cass-2")


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError):
        Settings().kafka_bootstrap = "elsewhere:9092"  # type: ignore[misc]


def test_the_commit_interval_is_fausts(monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.app import create_app

    monkeypatch.setenv("CHARGESTREAM_COMMIT_INTERVAL_SECONDS", "10")
    assert create_app(Settings()).conf.broker_commit_interval == 10.0
