"""Domain objects <-> bytes, for Faust tables (raw values) and the internal topics.

Tables hold raw bytes we encode ourselves: Faust's codecs would raise into the agent
on a bad value, and this keeps the on-disk and changelog format explicit and stable.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from sys import intern
from typing import Any

import orjson

from . import charger_codec
from .domain.alerts import AlertKey, AlertState, AlertType, Notice
from .domain.buckets import BUCKET_MS, Contribution, SiteBucket, SiteState
from .domain.charger import ChargerState
from .domain.charger_status import ChargerStatus, TrackedAlert
from .domain.liveness import Liveness
from .domain.power import EvseSeries, Point
from .domain.seen_messages import SeenMessages
from .domain.site_timeline import (
    CLASS_INDEX,
    CLASSES,
    MS,
    WINDOW,
    Change,
    ChargerLine,
    ConnectorLine,
    SiteTimeline,
    month_array,
)
from .domain.status import ConnectorState, FaultEvent, StatusClass, StatusEvent
from .domain.timestamps import iso_ms

SITE_POWER_SCHEMA = "chargestream.site.power.v1"


def _held(doc: Any) -> bytes:
    """JSON for bytes that stay in memory (table values, the cached timeline). orjson
    returns its whole output buffer, 4 KiB however short the JSON (3.13, tracemalloc), and
    the two table values of each charger made most of the worker's memory per connector
    (bench/RESULTS.md). A copy holds just the JSON."""
    return bytes(memoryview(orjson.dumps(doc)))


# --- stage 1 table: charger id -> ChargerState -------------------------------------


def encode_charger(state: ChargerState) -> bytes:
    try:
        return charger_codec.encode(state)
    except charger_codec.NotPackable:
        return charger_json(state)


def charger_json(state: ChargerState) -> bytes:
    """The JSON layout (before the packed one, and for a state it cannot take)."""
    return _held(
        {
            "e": {str(evse): [_point(p) for p in s.ordered()] for evse, s in state.evses.items()},
            "t": state.tx_evse,
            "s": state.messages.to_doc(),
        }
    )


def decode_charger(raw: bytes | None) -> ChargerState:
    if not raw:
        return ChargerState()
    if raw[:1] != b"{":
        return charger_codec.decode(raw)
    doc = orjson.loads(raw)  # JSON: written before the packed format, or not packable
    return ChargerState(
        # An EVSE of 1.0 ("1.0" as a key; 2.0.1 takes it for an integer) may be in states
        # written before its ids were made ints (agents/domain/meter.py _id).
        evses={int(float(k)): EvseSeries({p[0]: Point(*p) for p in pts}) for k, pts in doc["e"].items()},
        tx_evse={tx: int(evse) for tx, evse in doc["t"].items()},
        # "m": message id -> received_at_ms, as values written before digests were kept
        messages=SeenMessages.from_doc(doc["s"]) if "s" in doc else SeenMessages.of_ids(doc.get("m", {})),
    )


def _point(p: Point) -> list[Any]:
    return [
        p.ts_ms,
        p.energy_wh,
        p.power_w,
        p.vi_power_w,
        p.interval_wh,
        p.context,
        p.export_wh,
        p.export_w,
        p.received_at_ms,
    ]


_VALUE = {cls: cls.value for cls in StatusClass}  # an enum's .value is a slow descriptor


# --- stage 1 watermarks: input partition -> largest received_at seen ----------------


def encode_int(value: int) -> bytes:
    return str(value).encode()


def decode_int(raw: bytes | None) -> int:
    return int(raw) if raw else 0


# --- the internal topic between the stages -----------------------------------------


def encode_watermark(input_partition: int, watermark_ms: int) -> bytes:
    return orjson.dumps({"type": "watermark", "partition": input_partition, "watermark_ms": watermark_ms})


def encode_bundle(items: list[Contribution | Change]) -> bytes:
    """Contributions and changes of one stage-1 batch for one stage-2 partition, in order.
    Layout 2: each item a list of its fields, led by "c" (contribution) or "s" (change);
    a dict per item (layout 1, still read) made encoding and decoding the bundles ~5 % of
    the worker (bench/RESULTS.md)."""
    return orjson.dumps({"type": "bundle", "v": 2, "items": [_compact(i) for i in items]})


def _compact(i: Contribution | Change) -> list[Any]:
    if isinstance(i, Change):
        return [
            "s",
            i.site_id,
            i.charger_id,
            i.ts_ms,
            i.connector,
            _VALUE[i.cls] if i.cls else None,
            i.offline,
        ]
    return [
        "c",
        i.site_id,
        i.bucket_start,
        i.evse_key,
        i.readings,
        i.energy_wh,
        i.powers,
        i.carried_power_w,
        i.reported,
    ]


Stage2Item = Contribution | Change | tuple[int, int]


def decode_stage2(raw: bytes) -> list[Stage2Item]:
    """The items of a stage-2 record: contributions, status/liveness changes, or (input
    partition, watermark). Bundles of layout 1 and records of one item each, as stage 1
    sent them before bundles, are still read (a topic written by an older version)."""
    d = orjson.loads(raw)
    if d["type"] != "bundle":
        return [_item(d)]
    if d.get("v") == 2:
        return [_from_compact(*i) for i in d["items"]]
    return [_item(i) for i in d["items"]]


def _from_compact(kind: str, site_id: str, *f: Any) -> Contribution | Change:
    # Ids interned: a site's state keeps the items' strings (a contribution per EVSE and
    # open bucket), and each item decoded here brings copies of its own.
    if kind == "s":
        charger_id, ts_ms, connector, cls, offline = f
        return Change(
            intern(site_id),
            intern(charger_id),
            ts_ms,
            intern(connector) if connector else connector,
            StatusClass(cls) if cls else None,
            offline,
        )
    start, evse_key, readings, energy_wh, powers, carried_power_w, reported = f
    return Contribution(
        intern(site_id),
        start,
        intern(evse_key),
        readings,
        energy_wh,
        _powers(powers),
        carried_power_w,
        reported,
    )


def _item(d: dict[str, Any]) -> Stage2Item:
    if d["type"] == "watermark":
        return int(d["partition"]), int(d["watermark_ms"])
    if d["type"] == "change":
        cls = StatusClass(d["class"]) if d["class"] else None
        return Change(d["site_id"], d["charger_id"], d["ts"], d["connector"], cls, d["offline"])
    return _contribution(d)


def _contribution(d: dict[str, Any]) -> Contribution:
    return Contribution(
        d["site_id"],
        d["bucket_start"],
        d["evse_key"],
        d["readings"],
        d["energy_wh"],
        _powers(d["powers"]),
        d["carried_power_w"],
        d["reported"],
    )


def _powers(pairs: list[list[Any]]) -> tuple[tuple[int, float], ...]:
    return tuple([(int(t), float(w)) for t, w in pairs])  # a list is built faster than a generator runs


# --- stage 2 table: site id -> SiteState (+ bookkeeping) ---------------------------


@dataclass(slots=True)
class SiteEntry:
    """A site's state plus what the agent needs to find it again on its partition."""

    state: SiteState = field(default_factory=SiteState)
    partition: int = -1
    dirty: set[int] = field(default_factory=set)  # buckets changed since the last publish
    timeline: SiteTimeline = field(default_factory=SiteTimeline)
    counts: dict[StatusClass, int] = field(default_factory=dict)  # last published
    alert: TrackedAlert | None = None  # site_no_available_connector
    # The timeline as last encoded, with its change count then (not itself encoded).
    timeline_json: tuple[SiteTimeline, int, orjson.Fragment] | None = field(
        default=None, repr=False, compare=False
    )
    # Each open bucket as last encoded: its contributions then, and their JSON (not encoded).
    open_json: dict[int, tuple[list[Contribution], orjson.Fragment]] = field(
        default_factory=dict, repr=False, compare=False
    )


def encode_site(entry: SiteEntry) -> bytes:
    s = entry.state
    return _held(
        {
            "o": _open_json(entry),
            "rev": {str(b): r for b, r in s.revisions.items()},
            "closed": {str(b): list(v) for b, v in s.closed.items()},
            "final_up_to": s.final_up_to,
            "partition": entry.partition,
            "dirty": sorted(entry.dirty),
            "tl": _timeline_json(entry),
            "counts": {c.value: n for c, n in entry.counts.items()},
            "alert": _alert_doc(entry.alert) if entry.alert else None,
        }
    )


def decode_site(raw: bytes | None, site_id: str) -> SiteEntry:
    if not raw:
        return SiteEntry()
    d = orjson.loads(raw)
    if "o" in d:
        open_ = {int(b): _open_bucket(site_id, int(b), cs) for b, cs in d["o"].items()}
    else:  # values written before 2026-12-05: each contribution a dict of its fields
        open_ = {int(b): {c["evse_key"]: _contribution(c) for c in cs} for b, cs in d["open"].items()}
    state = SiteState(
        open=open_,
        revisions={int(b): r for b, r in d["rev"].items()},
        closed={int(b): (v[0], v[1]) for b, v in d["closed"].items()},
        final_up_to=d["final_up_to"],
    )
    return SiteEntry(
        state,
        d["partition"],
        set(d["dirty"]),
        _timeline(d["tl"]) if "tl" in d else SiteTimeline(),  # entries from before availability
        {StatusClass(c): n for c, n in d.get("counts", {}).items()},
        _tracked(d["alert"]) if d.get("alert") else None,
    )


def _open_json(entry: SiteEntry) -> dict[str, orjson.Fragment]:
    """The open buckets, each as [evse_key, readings, energy_wh, powers, carried_power_w,
    reported] per contribution (site and bucket are the key's and the bucket's). A bucket is
    encoded again only when a contribution in it has changed: between two commits a live
    site changes one or two of its three to four open buckets, and encoding all of them,
    each contribution with its field names, was 4 % of a live worker (py-spy)."""
    kept, fresh = entry.open_json, {}
    for start, bucket in entry.state.open.items():
        contribs = list(bucket.values())
        held = kept.get(start)
        if held is None or len(held[0]) != len(contribs) or not all(map(operator.is_, held[0], contribs)):
            doc = [
                [c.evse_key, c.readings, c.energy_wh, c.powers, c.carried_power_w, c.reported]
                for c in contribs
            ]
            held = (contribs, orjson.Fragment(_held(doc)))
        fresh[start] = held
    entry.open_json = fresh  # buckets no longer open leave
    return {str(start): held[1] for start, held in fresh.items()}


def _open_bucket(site_id: str, start: int, contribs: list[list[Any]]) -> dict[str, Contribution]:
    return {
        (k := intern(c[0])): Contribution(site_id, start, k, c[1], c[2], _powers(c[3]), c[4], c[5])
        for c in contribs
    }


def _timeline_json(entry: SiteEntry) -> orjson.Fragment:
    """The timeline's JSON, encoded again only when it has changed since the last time."""
    tl, kept = entry.timeline, entry.timeline_json
    if kept is None or kept[0] is not tl or kept[1] != tl.changes:
        kept = entry.timeline_json = (tl, tl.changes, orjson.Fragment(_held(_timeline_doc(tl))))
    return kept[2]


# The order of a window's per-class times in the JSON, written into each timeline: values
# stay readable if StatusClass gains a member.
_CLASS_VALUES = [cls.value for cls in CLASSES]


def _timeline_doc(tl: SiteTimeline) -> dict[str, Any]:
    """Layout 2: windows and month sums as flat lists. Layout 1 (a dict per window of its
    non-zero classes, a dict of months) took ~69 us to encode a site of seven chargers
    against ~22 (bench/RESULTS.md); both are read."""
    return {
        "f": tl.folded_to,
        "v": 2,
        "k": _CLASS_VALUES,
        "c": {
            charger: [
                ch.offline,
                ch.since,
                ch.pending,
                {
                    key: [
                        _VALUE[c.cls] if c.cls else None,
                        c.since,
                        [[t, _VALUE[v]] for t, v in c.pending],
                        _windows_doc(c.open),
                        c.months.tolist(),
                    ]
                    for key, c in ch.connectors.items()
                },
            ]
            for charger, ch in tl.chargers.items()
        },
    }


def _windows_doc(windows: array[int]) -> list[list[int]]:
    """Layout 2's windows: each [length, start, excluded ms, ms per class], as held."""
    return [windows[at : at + WINDOW].tolist() for at in range(0, len(windows), WINDOW)]


def _timeline(d: dict[str, Any]) -> SiteTimeline:
    """Layout 2, or layout 1 (earlier versions: a dict per window of its non-zero classes
    by length, a dict of month sums); they differ in those two only."""
    windows: Callable[[Any], array[int]]
    months: Callable[[Any], array[int]]
    if d.get("v") == 2:
        windows, months = _windows_reader(d["k"]), _months
    else:
        windows, months = _windows_v1, _months_v1
    tl = SiteTimeline(d["f"])
    for charger, (offline, since, pending, connectors) in d["c"].items():
        ch = tl.chargers[intern(charger)] = ChargerLine(offline, since, [(t, v) for t, v in pending])
        for key, (cls, csince, cpending, open_, month_doc) in connectors.items():
            ch.connectors[intern(key)] = ConnectorLine(
                StatusClass(cls) if cls else None,
                csince,
                [(t, StatusClass(v)) for t, v in cpending],
                windows(open_),
                months(month_doc),
            )
    return tl


def _windows_reader(stored: list[str]) -> Callable[[list[list[int]]], array[int]]:
    """Layout 2's windows, each [length, start, excluded ms, ms per class in ``stored``' order]."""
    if stored == _CLASS_VALUES:
        return _flat
    return lambda doc: _flat(
        _window(n, start, excl, zip(stored, ms, strict=True)) for n, start, excl, *ms in doc
    )


def _months(doc: list[int]) -> array[int]:
    return array("q", doc)


def _windows_v1(doc: dict[str, list[Any]]) -> array[int]:
    return _flat(_window(int(n), start, excl, ms.items()) for n, (start, ms, excl) in doc.items())


def _months_v1(doc: dict[str, list[int]]) -> array[int]:
    return month_array({int(m): (v[0], v[1], v[2]) for m, v in doc.items()})


def _window(length: int, start: int, excluded_ms: int, by_class: Iterable[tuple[str, int]]) -> list[int]:
    """A window as held (site_timeline.WINDOW values) from its time per class by name."""
    w = [length, start, excluded_ms] + [0] * len(CLASSES)
    for cls, value in by_class:
        w[MS + CLASS_INDEX[StatusClass(cls)]] = value
    return w


def _flat(windows: Iterable[list[int]]) -> array[int]:
    return array("q", [v for w in windows for v in w])


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


# --- charger status table: charger id -> ChargerStatus --------------------------------


def encode_status(s: ChargerStatus) -> bytes:
    return _held(
        {
            "site": s.site_id,
            "p": s.partition,
            "live": [s.liveness.last_seen_ms, s.liveness.interval_s, s.liveness.offline_since_ms],
            "conn": {
                k: {
                    "cur": _status_event_doc(cs.current),
                    "faults": {
                        fk: [
                            f.evse_id,
                            f.connector_id,
                            f.ts_ms,
                            f.component,
                            f.variable,
                            f.cleared,
                            f.tech_code,
                        ]
                        for fk, f in cs.faults.items()
                    },
                    "facts": cs.facts,
                }
                for k, cs in s.connectors.items()
            },
            "alerts": {fp: _alert_doc(a) for fp, a in s.alerts.items()},
        }
    )


def decode_status(raw: bytes | None, charger_id: str) -> ChargerStatus | None:
    if not raw:
        return None
    d = orjson.loads(raw)
    s = ChargerStatus(d["site"], Liveness(*d["live"]), partition=d["p"])
    for k, c in d["conn"].items():
        s.connectors[k] = ConnectorState(
            _status_event(c["cur"], charger_id),
            {fk: FaultEvent(charger_id, *f) for fk, f in c["faults"].items()},
            [(t, source, value) for t, source, value in c.get("facts", ())],  # absent before facts
        )
    for fp, a in d["alerts"].items():
        s.alerts[fp] = _tracked(a)
    return s


def _alert_doc(a: TrackedAlert) -> dict[str, Any]:
    k, st = a.key, a.state
    return {
        "k": [k.type.value, k.site_id, k.charger_id, k.evse_id, k.connector_id],
        "s": [st.phase, st.since_ms, st.starts_at_ms, st.last_sent_ms, st.flips],
        "sum": a.summary,
    }


def _tracked(a: dict[str, Any]) -> TrackedAlert:
    t, site, charger, evse, conn = a["k"]
    phase, since, starts, sent, flips = a["s"]
    return TrackedAlert(
        AlertKey(AlertType(t), site, charger, evse, conn),
        AlertState(phase, since, starts, sent, flips),
        a["sum"],
    )


def _status_event_doc(e: StatusEvent | None) -> list[Any] | None:
    if e is None:
        return None
    return [e.evse_id, e.connector_id, e.ts_ms, e.status, e.error_code, e.vendor_error_code, e.info]


def _status_event(doc: list[Any] | None, charger_id: str) -> StatusEvent | None:
    return None if doc is None else StatusEvent(charger_id, *doc)


# --- the alerts topic ------------------------------------------------------------------

ALERT_SCHEMA = "chargestream.alert.v1"


def alert_record(tracked: TrackedAlert, notice: Notice) -> dict[str, Any]:
    """One record of chargestream.alerts.v1 (schemas/alert.v1.json), keyed by fingerprint."""
    k = tracked.key
    return {
        "schema": ALERT_SCHEMA,
        "fingerprint": k.fingerprint,
        "dedup_key": k.dedup_key,
        "type": k.type.value,
        "severity": k.labels()["severity"],
        "status": "resolved" if notice.kind == "resolve" else "firing",
        "site_id": k.site_id,
        "charger_id": k.charger_id or None,
        "evse_id": k.evse_id,
        "connector_id": k.connector_id,
        "summary": tracked.summary,
        "starts_at": iso_ms(notice.starts_at_ms),
        "ends_at": iso_ms(notice.ends_at_ms) if notice.ends_at_ms is not None else None,
        "flap_count": notice.flap_count,
        "labels": k.labels(),
    }
