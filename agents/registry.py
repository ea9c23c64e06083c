"""The charger registry: site, connector count and heartbeat interval per charger.

Fed from a compacted topic (chargestream.chargers.v1, keyed by charger id, value a JSON
``{"site_id", "connectors", "heartbeat_interval_s"?, "rated_power_w"?}``, null to delete).
Every worker reads the whole topic into memory with its own consumer (no group), so a
lookup never depends on partition assignment.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from sys import intern
from typing import Any

import orjson

log = logging.getLogger(__name__)
UNASSIGNED_SITE = "unassigned"  # chargers with no site anywhere: processed and counted here


@dataclass(frozen=True, slots=True)
class ChargerInfo:
    site_id: str
    connectors: int | None = None
    heartbeat_interval_s: float | None = None
    rated_power_w: float | None = None


def parse_entry(raw: bytes) -> ChargerInfo | None:
    try:
        d = orjson.loads(raw)
        return ChargerInfo(
            intern(str(d["site_id"])),  # one copy per site, not per charger
            _opt(d.get("connectors"), int),
            _opt(d.get("heartbeat_interval_s"), float),
            _opt(d.get("rated_power_w"), float),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _opt(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


class ChargerRegistry:
    """Thread-safe lookups; updated by ``put``/``delete`` (the Kafka reader or a test)."""

    def __init__(self) -> None:
        self._chargers: dict[str, ChargerInfo] = {}
        self._sites: dict[str, tuple[int, int]] = {}  # site -> (chargers, connectors)
        self._lock = threading.Lock()
        self.invalid_entries = 0

    def get(self, charger_id: str) -> ChargerInfo | None:
        return self._chargers.get(charger_id)

    def connectors_total(self, site_id: str) -> int | None:
        totals = self._sites.get(site_id)
        return None if totals is None else totals[1]

    def put(self, charger_id: str, info: ChargerInfo) -> None:
        with self._lock:
            self._forget(charger_id)
            self._chargers[intern(charger_id)] = info  # shared with the decoded site timelines
            chargers, connectors = self._sites.get(info.site_id, (0, 0))
            self._sites[info.site_id] = (chargers + 1, connectors + (info.connectors or 0))

    def delete(self, charger_id: str) -> None:
        with self._lock:
            self._forget(charger_id)

    def _forget(self, charger_id: str) -> None:
        """Take the charger out, and out of its site's totals. (Totals are kept per entry: a
        recount of all sites per entry made reading a registry of n chargers cost n².)"""
        old = self._chargers.pop(charger_id, None)
        if old is None:
            return
        chargers, connectors = self._sites[old.site_id]
        if chargers == 1:
            del self._sites[old.site_id]
        else:
            self._sites[old.site_id] = (chargers - 1, connectors - (old.connectors or 0))

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if not key:
            self.invalid_entries += 1
            return
        charger_id = key.decode(errors="replace")
        if value is None:
            self.delete(charger_id)
            return
        info = parse_entry(value)
        if info is None:
            self.invalid_entries += 1
            log.warning("registry entry for %s is invalid; ignored", charger_id)
            return
        self.put(charger_id, info)


class RegistryReader(threading.Thread):
    """Reads the registry topic from the beginning and keeps following it."""

    def __init__(
        self, registry: ChargerRegistry, kafka: dict[str, Any], topic: str, timeout_s: float
    ) -> None:
        super().__init__(name="registry-reader", daemon=True)
        self.registry, self.topic, self.timeout_s = registry, topic, timeout_s
        self.kafka = kafka  # client configuration: bootstrap and security
        self.caught_up = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        # A broker restart must not end the reader: lookups of chargers not read yet would
        # give "unassigned" for good. Start over (re-reading is idempotent) until stopped.
        while not self._stop.is_set():
            try:
                self._read()
            except Exception:
                log.exception("registry reader failed; reading the registry again in 1 s")
                self._stop.wait(1.0)

    def _read(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer(
            {
                **self.kafka,
                "group.id": "chargestream-registry-unused",
                "enable.auto.commit": False,
                "socket.timeout.ms": int(self.timeout_s * 1000),
            }
        )
        try:
            meta = consumer.list_topics(self.topic, timeout=self.timeout_s).topics[self.topic]
            parts = [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in meta.partitions]
            ends = {p.partition: consumer.get_watermark_offsets(p, timeout=self.timeout_s)[1] for p in parts}
            consumer.assign(parts)
            position = {p: 0 for p in ends}
            while not self._stop.is_set():
                if not self.caught_up.is_set() and all(position[p] >= ends[p] for p in ends):
                    self.caught_up.set()
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    continue
                self.registry.apply(msg.key(), msg.value())
                position[msg.partition() or 0] = (msg.offset() or 0) + 1
        finally:
            consumer.close()

    def stop(self) -> None:
        self._stop.set()
