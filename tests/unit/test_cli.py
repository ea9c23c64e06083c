"""The command line: every subcommand has help, `--set` reaches the settings object, and
the README's settings table is the one `chargestream settings` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import cli
from agents.config import get_settings

README = Path(__file__).parents[2] / "README.md"
COMMANDS = ("worker", "migrate", "simulate", "demo", "replay", "infra", "settings")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    assert len(capsys.readouterr().out) > 100


def test_set_reaches_the_settings_object(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGESTREAM_TOPIC_PARTITIONS", "8")
    cli._apply_settings(["topic_partitions=3", "CHARGESTREAM_GRACE_SECONDS=7"])
    try:
        s = get_settings()
        assert (s.topic_partitions, s.grace_seconds) == (3, 7)
        with pytest.raises(SystemExit, match="unknown setting"):
            cli._apply_settings(["no_such_setting=1"])
    finally:
        monkeypatch.delenv("CHARGESTREAM_GRACE_SECONDS", raising=False)
        monkeypatch.undo()
        get_settings.cache_clear()


def test_the_readme_lists_every_setting() -> None:
    assert cli.settings_table() in README.read_text()
