"""metrics.SiteGauges: the per-site gauges, one row of values per site, as Prometheus sees them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from agents.metrics import STATUS_CLASSES, SiteGauges


def _scrape(registry: CollectorRegistry) -> set[str]:
    return {line for line in generate_latest(registry).decode().splitlines() if not line.startswith("#")}


def test_values_set_are_exposed_and_values_never_set_are_not() -> None:
    registry = CollectorRegistry()
    sites = SiteGauges(registry)
    sites.set_power("S1", 1200.5)
    sites.set_status("S2", 3, dict.fromkeys(STATUS_CLASSES, 0) | {"available": 4, "faulted": 1}, 2)
    sites.set_power("S2", 7.0)
    sites.set_power("S2", 11.0)  # the newest value
    lines = _scrape(registry)
    assert 'chargestream_site_power_watts{site_id="S1"} 1200.5' in lines
    assert 'chargestream_site_power_watts{site_id="S2"} 11.0' in lines
    assert 'chargestream_site_chargers_offline{site_id="S2"} 2.0' in lines
    assert 'chargestream_site_connectors{site_id="S2",status="available"} 4.0' in lines
    assert 'chargestream_site_connectors{site_id="S2",status="faulted"} 1.0' in lines
    assert 'chargestream_site_connectors{site_id="S2",status="occupied"} 0.0' in lines
    assert not any('site_id="S1"' in line for line in lines if "power_watts" not in line)


def test_sites_of_partitions_given_away_are_no_longer_exposed() -> None:
    registry = CollectorRegistry()
    sites = SiteGauges(registry)
    sites.set_status("S1", 1, {"available": 1}, 0)
    sites.set_status("S2", 2, {"available": 2}, 0)
    sites.set_power("S2", 5.0)
    sites.forget_partitions({2})
    lines = _scrape(registry)
    assert 'chargestream_site_connectors{site_id="S1",status="available"} 1.0' in lines
    assert not any('site_id="S2"' in line for line in lines)
