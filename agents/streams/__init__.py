"""Thin agents: decode, call the domain, hand results to the sinks."""

from . import charger, meter, site_power, status

__all__ = ["charger", "meter", "site_power", "status"]
