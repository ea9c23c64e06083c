"""The fleet simulator: deterministic for a seed, in send order, mixed and messy, and its
ground truth says exactly which messages the pipeline must reject, and why."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace

from agents.domain.envelope import decode
from agents.domain.errors import Rejected
from agents.domain.validation import validate
from agents.simulator import SimConfig, Truth, messages

CFG = SimConfig(
    sites=6,
    chargers_per_site=5,
    seed=7,
    start_ms=1_795_521_600_000,
    duration_s=3600,
    share_malformed=0.01,
    faults_per_hour=1,
    offline_per_hour=0.5,
)


def _digest(cfg: SimConfig) -> str:
    h = hashlib.sha256()
    for at, topic, key, value in messages(cfg):
        h.update(b"%d|%s|%s|%s" % (at, topic.encode(), key, value))
    return h.hexdigest()


def test_the_same_seed_gives_the_same_messages() -> None:
    assert _digest(CFG) == _digest(CFG)
    assert _digest(CFG) != _digest(replace(CFG, seed=8))


def test_messages_are_mixed_messy_and_rejected_exactly_as_the_truth_says() -> None:
    truth = Truth()
    rejected: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    last = 0
    for at, _topic, _key, value in messages(CFG, truth):
        assert at >= last
        last = at
        env = decode(value, 262_144)
        result = env if isinstance(env, Rejected) else validate(env)
        if isinstance(result, Rejected):
            rejected[result.reason.value] += 1
        else:
            assert not isinstance(env, Rejected)
            versions[env.ocpp_version] += 1
    assert rejected == truth.malformed and sum(rejected.values()) > 10
    assert versions["1.6"] and versions["2.0.1"]
    assert {
        "ocpp.MeterValues",
        "ocpp.TransactionEvent",
        "ocpp.StatusNotification",
        "ocpp.Heartbeat",
        "ocpp.BootNotification",
        "ocpp.NotifyEvent",
        "ocpp.StartTransaction",
        "ocpp.StopTransaction",
    } <= set(truth.messages)
    assert truth.duplicates and truth.late and truth.faults and truth.offline
    assert sum(truth.energy_wh.values()) > 0
