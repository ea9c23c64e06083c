"""Thin agents: decode, call the domain, hand results to the sinks."""

from . import meter, site_power

__all__ = ["meter", "site_power"]
