"""Domain objects <-> bytes, for Faust tables (raw values) and the internal topics.

Tables hold raw bytes we encode ourselves: Faust's codecs would raise into the agent
on a bad value, and this keeps the on-disk and changelog format explicit and stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .domain.buckets import BUCKET_MS, Contribution, SiteBucket, SiteState
from .domain.charger import ChargerState
from .domain.power import EvseSeries, Point
from .domain.timestamps import iso_ms

SITE_POWER_SCHEMA = "chargestream.site.power.v1"


# --- stage 1 table: charger id -> ChargerState -------------------------------------


def encode_charger(state: ChargerState) -> bytes:
    return orjson.dumps(
        {
            "e": {str(evse): [_point(p) for p in s.ordered()] for evse, s in state.evses.items()},
            "t": state.tx_evse,
            "m": state.messages,
        }
    )


def decode_charger(raw: bytes | None) -> ChargerState:
    if not raw:
        return ChargerState()
    doc = orjson.loads(raw)
    return ChargerState(
        evses={int(k): EvseSeries({p[0]: Point(*p) for p in pts}) for k, pts in doc["e"].items()},
        tx_evse=doc["t"],
        messages=doc["m"],
    )


def _point(p: Point) -> list[Any]:
    return [p.ts_ms, p.energy_wh, p.power_w, p.vi_power_w, p.interval_wh, p.context, p.export_wh, p.export_w]


# --- stage 1 watermarks: input partition -> largest received_at seen ----------------


def encode_int(value: int) -> bytes:
    return str(value).encode()


def decode_int(raw: bytes | None) -> int:
    return int(raw) if raw else 0


# --- the internal topic between the stages -----------------------------------------


def encode_contribution(c: Contribution) -> bytes:
    return orjson.dumps(
        {
            "type": "contribution",
            "site_id": c.site_id,
            "bucket_start": c.bucket_start,
            "evse_key": c.evse_key,
            "readings": c.readings,
            "energy_wh": c.energy_wh,
            "powers": c.powers,
            "carried_power_w": c.carried_power_w,
            "reported": c.reported,
        }
    )


def encode_watermark(input_partition: int, watermark_ms: int) -> bytes:
    return orjson.dumps({"type": "watermark", "partition": input_partition, "watermark_ms": watermark_ms})


def decode_stage2(raw: bytes) -> Contribution | tuple[int, int]:
    """A contribution, or (input partition, watermark) from a watermark message."""
    d = orjson.loads(raw)
    if d["type"] == "watermark":
        return int(d["partition"]), int(d["watermark_ms"])
    return _contribution(d)


def _contribution(d: dict[str, Any]) -> Contribution:
    return Contribution(
        d["site_id"],
        d["bucket_start"],
        d["evse_key"],
        d["readings"],
        d["energy_wh"],
        tuple((int(t), float(w)) for t, w in d["powers"]),
        d["carried_power_w"],
        d["reported"],
    )


# --- stage 2 table: site id -> SiteState (+ bookkeeping) ---------------------------


@dataclass(slots=True)
class SiteEntry:
    """A site's state plus what the agent needs to find it again on its partition."""

    state: SiteState = field(default_factory=SiteState)
    partition: int = -1
    dirty: set[int] = field(default_factory=set)  # buckets changed since the last publish


def encode_site(entry: SiteEntry) -> bytes:
    s = entry.state
    return orjson.dumps(
        {
            "open": {str(b): [_contribution_doc(c) for c in cs.values()] for b, cs in s.open.items()},
            "rev": {str(b): r for b, r in s.revisions.items()},
            "closed": {str(b): list(v) for b, v in s.closed.items()},
            "final_up_to": s.final_up_to,
            "partition": entry.partition,
            "dirty": sorted(entry.dirty),
        }
    )


def decode_site(raw: bytes | None) -> SiteEntry:
    if not raw:
        return SiteEntry()
    d = orjson.loads(raw)
    state = SiteState(
        open={int(b): {c["evse_key"]: _contribution(c) for c in cs} for b, cs in d["open"].items()},
        revisions={int(b): r for b, r in d["rev"].items()},
        closed={int(b): (v[0], v[1]) for b, v in d["closed"].items()},
        final_up_to=d["final_up_to"],
    )
    return SiteEntry(state, d["partition"], set(d["dirty"]))


def _contribution_doc(c: Contribution) -> dict[str, Any]:
    return orjson.loads(encode_contribution(c))  # type: ignore[no-any-return]


# --- the derived topic ---------------------------------------------------------------


def site_power_record(b: SiteBucket) -> bytes:
    """One record of chargestream.site.power.v1 (schemas/site_power.v1.json)."""
    return orjson.dumps(
        {
            "schema": SITE_POWER_SCHEMA,
            "site_id": b.site_id,
            "bucket_start": iso_ms(b.bucket_start),
            "bucket_end": iso_ms(b.bucket_start + BUCKET_MS),
            "energy_wh": round(b.energy_wh, 3),
            "mean_power_w": round(b.mean_power_w, 3),
            "peak_power_w": round(b.peak_power_w, 3),
            "current_power_w": round(b.current_power_w, 3),
            "connectors_reporting": b.connectors_reporting,
            "connectors_total": b.connectors_total,
            "coverage": b.coverage,
            "rolling_5m_mean_power_w": round(b.rolling_5m_mean_power_w, 3),
            "rolling_15m_mean_power_w": round(b.rolling_15m_mean_power_w, 3),
            "rolling_15m_energy_wh": round(b.rolling_15m_energy_wh, 3),
            "revision": b.revision,
            "final": b.final,
        }
    )
