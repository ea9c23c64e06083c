"""The charger registry's lookups and per-site connector totals (no Kafka: entries applied
as the reader would apply them)."""

from __future__ import annotations

import orjson

from agents.registry import ChargerInfo, ChargerRegistry


def entry(site: str, connectors: int | None = None) -> bytes:
    return orjson.dumps({"site_id": site, "connectors": connectors})


def test_site_totals_follow_puts_moves_and_deletes() -> None:
    reg = ChargerRegistry()
    reg.apply(b"CP1", entry("S1", 2))
    reg.apply(b"CP2", entry("S1", 4))
    reg.apply(b"CP3", entry("S2", 1))
    assert (reg.connectors_total("S1"), reg.connectors_total("S2")) == (6, 1)

    reg.apply(b"CP2", entry("S2", 3))  # moved to another site, with another count
    assert (reg.connectors_total("S1"), reg.connectors_total("S2")) == (2, 4)

    reg.apply(b"CP1", None)  # a tombstone
    assert reg.connectors_total("S1") is None  # no charger left: the site is unknown
    assert reg.get("CP1") is None
    assert reg.get("CP2") == ChargerInfo("S2", 3)


def test_a_site_of_chargers_without_a_count_is_known_with_zero() -> None:
    reg = ChargerRegistry()
    reg.apply(b"CP1", entry("S1"))
    assert reg.connectors_total("S1") == 0
    reg.apply(b"CP2", entry("S1", 2))
    reg.apply(b"CP2", None)
    assert reg.connectors_total("S1") == 0  # CP1 is still there


def test_invalid_entries_are_counted_and_change_nothing() -> None:
    reg = ChargerRegistry()
    reg.apply(b"CP1", entry("S1", 2))
    reg.apply(b"CP1", b"{not json")
    reg.apply(None, entry("S1", 5))
    reg.apply(b"CP2", b'{"connectors": 1}')  # no site
    assert reg.invalid_entries == 3
    assert reg.connectors_total("S1") == 2


def test_deleting_an_unknown_charger_is_harmless() -> None:
    reg = ChargerRegistry()
    reg.apply(b"CP9", None)
    assert reg.connectors_total("S1") is None
