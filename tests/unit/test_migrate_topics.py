"""`migrate` creates every topic the worker would otherwise declare at its first start."""

from __future__ import annotations

from agents.config import Settings
from agents.migrate import topic_specs


def test_migrate_creates_the_changelog_and_leader_topics() -> None:
    import agents.topics  # noqa: F401 -- declares the tables
    from agents.app import app

    specs = topic_specs(Settings())
    for table in app.tables.values():
        name = table.changelog_topic.get_topic_name()
        partitions, config = specs[name]
        assert partitions == table.partitions
        assert config == {"cleanup.policy": "compact"}
    assert specs[app._leader_assignor._leader_topic_name] == (1, {})  # type: ignore[attr-defined]
