"""`python -m bench.run` (`make bench`): the same pre-loaded input through each variant, one
after another, each with its own consumer group and keyspace; throughput, CPU and memory
side by side, and the ratios from this one run, appended to bench/RESULTS.md.

Variants:
  a   chargestream's worker with all sinks on (Cassandra; `--sink memory` for the in-memory
      twin of the same interface, to see the worker's own rate)
  b   the baseline as the Faust docs and tutorials suggest (bench/tutorial_faust.py)
  c   the same site power in Quix Streams, its idiomatic peer (bench/quix_peer.py; run in a
      virtualenv of its own under var/bench/, made on first use)
  a2  the same with two worker processes in one group (scaling)
  am, a2m  a and a2 with the in-memory sink whatever --sink says: the worker's own rate and
      scaling, with the host's two cores not shared with Cassandra (the issue asks for this
      figure where Cassandra on the same host is the limit); compared with b, c, d1, d1b
      and d2 as a is. With the in-memory sink every row stays in the worker's heap, so
      their peak RSS is not the worker's own.
  d1  the framework's ceiling: a Faust agent that only counts raw bytes
  d1b the same agent on chargestream's consumer (one event per fetched batch, merged by
      timestamp, commits through the settled records): the framework's part of a
  d2  the Python ceiling: confluent-kafka batch consumer + orjson + dict aggregation
  mem memory per connector: a on two inputs of its own, of a fifth of --connectors and
      ten times that (10,000 and 100,000 at the default)
  lat latency: a under a steady offered load (half of a's events/s from this run, or
      --latency-rate), probes timed from received_at to the derived site power, their
      Cassandra row, fault alerts and offline detection (bench/latency.py)

Events/s is measured up to the moment every input record is processed (for a, b and c:
the consumer group has committed every input offset, and then every offset of its
internal topic: a's stage 2, b's and c's repartitioning). They are seen from outside,
through committed offsets, so the first commit seen starts the clock, and only the input
records committed after it count (a worker that takes thousands of records per event
commits a large share at once). An input drained in the first commit is timed from the
start of the processes, start-up included; such a tiny input gives no meaningful rate. c reads
only the topics that carry power; its events are their records. CPU seconds are the
process's user + system time over the same run (including its start-up); peak RSS is the
process's high-water mark.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).parents[1]
sys.path.insert(0, str(REPO))

from agents.cassandra_session import connect  # noqa: E402
from agents.config import Settings, renamed_topics  # noqa: E402
from agents.simulator import SimConfig, chargers, messages  # noqa: E402

# The OCPP actions of the default input topics, meter topics first (as the worker splits them).
ACTIONS = tuple(
    t.rsplit(".", 1)[-1]
    for t in (*Settings.model_fields["meter_topics"].default, *Settings.model_fields["status_topics"].default)
)


@dataclass
class Result:
    variant: str
    events: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    rss_mib: float = 0.0  # when drained (largest process)
    timed_events: int | None = None  # those processed within ``seconds`` (None: all)
    services_cpu: dict[str, float] = field(default_factory=dict)  # Kafka's, Cassandra's, meanwhile

    @property
    def rate(self) -> float:
        timed = self.events if self.timed_events is None else self.timed_events
        return timed / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_million(self) -> float:
        return self.cpu_seconds / self.events * 1e6 if self.events else 0.0

    def service_cpu_per_million(self, name: str) -> str:
        cpu = self.services_cpu.get(name)
        return "" if cpu is None or not self.events else f"{cpu / self.events * 1e6:,.1f}"


def services_cpu() -> dict[str, float]:
    """CPU seconds so far of the local Kafka and Cassandra (those `infra.local` started):
    on a machine they share with the worker, their part of each event's cost."""
    from infra.local.config import LocalSettings
    from infra.local.manager import select
    from infra.local.process import running_pid

    settings = LocalSettings()
    out = {}
    for svc in select(settings, ["kafka", "cassandra"]):
        pid = running_pid(settings.state_dir / "run", svc.name, svc.marker)
        if pid is not None:
            out[svc.name] = proc_cpu(pid)
    return out


def preload(bootstrap: str, prefix: str, *, events: int, connectors: int, partitions: int, seed: int) -> int:
    """Create the input topics and fill them with the simulator's first `events` messages."""
    from confluent_kafka import Producer

    create_inputs(bootstrap, prefix, partitions)
    # The period just long enough for the events asked for (plus a margin for idle time).
    duration_s = max(120, int(events / connectors * 10 * 1.5))
    start_ms = int(time.time() * 1000) - duration_s * 1000
    cfg = dense_fleet(connectors, seed=seed, start_ms=start_ms, duration_s=duration_s, prefix=prefix)
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 50})
    publish_registry(producer, f"{prefix}chargers", cfg)
    sent = 0
    for at, topic, key, value in messages(cfg):
        produce(producer, topic, key, value, at)  # the simulator's topics carry the prefix
        sent += 1
        if sent >= events:
            break
    if producer.flush(300):
        raise RuntimeError("preload: messages left undelivered")
    return sent


def dense_fleet(connectors: int, *, seed: int, start_ms: int, duration_s: float, prefix: str) -> SimConfig:
    """About ``connectors`` connectors, dense as a large network is: every connector busy
    and sampled every 10 s (the simulator gives 1.4 EVSEs per charger on average)."""
    n_chargers = max(1, round(connectors / 1.4))
    per_site = 10
    return SimConfig(
        sites=max(1, n_chargers // per_site),
        chargers_per_site=min(per_site, n_chargers),
        seed=seed,
        start_ms=start_ms,
        duration_s=duration_s,
        idle_minutes=(0.1, 1.0),
        session_minutes=(30.0, 120.0),
        share_malformed=0.001,
        prefix=prefix,
    )


def publish_registry(producer: Any, topic: str, cfg: SimConfig) -> None:
    """The fleet's chargers onto the charger registry topic."""
    for ch in chargers(cfg):
        entry = {"site_id": ch.site, "connectors": ch.evses, "heartbeat_interval_s": cfg.heartbeat_interval_s}
        producer.produce(topic, key=ch.id.encode(), value=orjson.dumps(entry))


def produce(producer: Any, topic: str, key: bytes, value: bytes, at_ms: int) -> None:
    """One record, waiting while the producer's queue is full."""
    while True:
        try:
            producer.produce(topic, key=key, value=value, timestamp=at_ms)
            return
        except BufferError:
            producer.poll(0.05)


def create_inputs(bootstrap: str, prefix: str, partitions: int) -> None:
    """The input topics and the charger registry topic, under ``prefix``."""
    create_topics(bootstrap, [f"{prefix}ocpp.{a}" for a in ACTIONS] + [f"{prefix}chargers"], partitions)


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        f.result(60)


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_mib(pid: int, field: str = "VmHWM") -> float:
    """A memory figure of /proc/PID/status: VmHWM (peak RSS) or VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _topics_with(bootstrap: str, part: str) -> list[str]:
    """The topics whose names contain ``part`` (a run's prefix is also inside the names of
    b's and c's internal topics: ``repartition__<group>--...``, ``changelog__<group>...``)."""
    from confluent_kafka.admin import AdminClient

    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    return [t for t in topics if part in t]


def _offsets(bootstrap: str, group: str, topics: Sequence[str]) -> dict[tuple[str, int], tuple[int, int]]:
    """Per topic-partition: (offset committed by the group, or 0; high watermark)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        meta = c.list_topics(timeout=10)
        tps = [TopicPartition(t, p) for t in topics if t in meta.topics for p in meta.topics[t].partitions]
        return {
            (tp.topic, tp.partition): (max(tp.offset, 0), c.get_watermark_offsets(tp, timeout=10)[1])
            for tp in _committed(c, tps)
        }
    finally:
        c.close()


def _committed(consumer: Any, tps: list[Any], attempts: int = 20) -> list[Any]:
    """The group's committed offsets. On a fresh broker the offsets topic is made on first
    use, and until its leader is elected the coordinator lookup fails (NOT_COORDINATOR,
    COORDINATOR_LOAD_IN_PROGRESS): retriable, so retried for a while."""
    from confluent_kafka import KafkaError, KafkaException

    waits = (
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
    )
    for _ in range(attempts - 1):
        try:
            return list(consumer.committed(tps, timeout=10))
        except KafkaException as exc:
            if exc.args[0].code() not in waits:
                raise
            time.sleep(0.5)
    return list(consumer.committed(tps, timeout=10))


def lag(bootstrap: str, group: str, topics: list[str]) -> tuple[int, int]:
    """(records committed by the group, records in the topics); the topics are never trimmed."""
    offsets = _offsets(bootstrap, group, topics).values()
    return sum(min(done, high) for done, high in offsets), sum(high for _, high in offsets)


def run_chargestream(
    bootstrap: str, prefix: str, events: int, sink: str, partitions: int, *, workers: int = 1, name: str = ""
) -> Result:
    """Variant a: chargestream's worker; with ``workers`` > 1 (variant a2, scaling) that many
    processes in one group on the same input."""
    name = name or ("a" if workers == 1 else f"a{workers}")
    app_id = f"{prefix}{name}"
    env = chargestream_env(bootstrap, prefix, app_id, sink, partitions)
    inputs = [f"{prefix}ocpp.{a}" for a in ACTIONS]
    internal = [env["CHARGESTREAM_SITE_CONTRIBUTIONS_TOPIC"]]
    command = [sys.executable, "-m", "agents", "worker", "--loglevel", "warn"]
    data_dir = REPO / "var" / "bench" / app_id
    data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    each = [
        {**env, "CHARGESTREAM_WEB_PORT": str(6066 + i), "CHARGESTREAM_DATA_DIR": str(data_dir / str(i))}
        for i in range(workers)
    ]
    return _drain(
        name,
        [(command, e) for e in each],
        bootstrap=bootstrap,
        group=app_id,
        events=events,
        inputs=inputs,
        internal=internal,
        log_name=f"{prefix}{name}.log",
    )


def chargestream_env(
    bootstrap: str, prefix: str, app_id: str, sink: str, partitions: int, **extra: str
) -> dict[str, str]:
    """The environment of a chargestream worker on the inputs under ``prefix``, with outputs,
    internal topics and keyspace of its own (named after ``app_id``), made by `migrate`."""
    env = {
        **os.environ,
        "CHARGESTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "CHARGESTREAM_APP_ID": app_id,
        "CHARGESTREAM_TOPIC_PARTITIONS": str(partitions),
        **renamed_topics(Settings.model_construct(), lambda t: prefix + t, inputs=True),
        # Outputs and the stage-2 topic of this run's own (a and a2 read the same input).
        **renamed_topics(Settings.model_construct(), lambda t: f"{app_id}.{t}"),
        "CHARGESTREAM_REGISTRY_TOPIC": f"{prefix}chargers",
        "CHARGESTREAM_CASSANDRA_KEYSPACE": _keyspace(app_id),
        "CHARGESTREAM_TIMESERIES_BACKEND": sink,
        **extra,
    }
    subprocess.run(
        [sys.executable, "-m", "agents", "migrate"],
        env=env,
        check=True,
        timeout=300,
        stdout=subprocess.DEVNULL,
    )
    return env


def run_tutorial(bootstrap: str, prefix: str, events: int, partitions: int) -> Result:
    group = f"{prefix}b"
    inputs = [f"{prefix}ocpp.{a}" for a in ACTIONS]
    # Its output topic exists before it starts, as an operator would create it: Faust makes
    # only the topics its agents read, and a send to a missing one (then every commit's
    # producer flush) waited for it for good in one run of 2026-12-04.
    create_topics(bootstrap, [f"{group}-site-power"], partitions)
    command = [
        sys.executable,
        "-m",
        "bench.tutorial_faust",
        *_variant_args(bootstrap, group, inputs),
        "--keyspace",
        _keyspace(group),
        "--data-dir",
        str(REPO / "var" / "bench" / group),
        "--partitions",
        str(partitions),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return _drain(
        "b",
        [(command, env)],
        bootstrap=bootstrap,
        group=group,
        events=events,
        inputs=inputs,
        internal=[f"{group}-by-site"],
        log_name=f"{group}.log",
    )


STALL_S = 300
QUIX_VENV = REPO / "var" / "bench" / "quix-venv"
QUIX_REQUIREMENT = "quixstreams==3.28.1"  # pins confluent-kafka < 2.13: a venv of its own


def run_quix(bootstrap: str, prefix: str) -> Result:
    python = QUIX_VENV / "bin" / "python"
    if not (QUIX_VENV / QUIX_REQUIREMENT).exists():
        print(f"  installing {QUIX_REQUIREMENT} into {QUIX_VENV.relative_to(REPO)} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True, timeout=300)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, QUIX_REQUIREMENT], check=True, timeout=900)
        (QUIX_VENV / QUIX_REQUIREMENT).touch()
    group = f"{prefix}c"
    # Only the topics that carry power, as a Quix user would subscribe (and Quix names a
    # repartition topic after all of a frame's topics: eight of ours exceed Kafka's limit).
    # Its events are the records of these topics.
    inputs = [f"{prefix}ocpp.{a}" for a in ("MeterValues", "TransactionEvent")]
    command = [
        str(python),
        "-m",
        "bench.quix_peer",  # from the repository root (_drain's cwd): it imports bench.naive_power
        *_variant_args(bootstrap, group, inputs),
        "--state-dir",
        str(REPO / "var" / "bench" / group),
    ]
    return _drain(
        "c",
        [(command, dict(os.environ))],
        bootstrap=bootstrap,
        group=group,
        events=None,
        inputs=inputs,
        internal_prefix=f"repartition__{group}--",
        log_name=f"{group}.log",
    )


def _keyspace(name: str) -> str:
    """A Cassandra keyspace named after a run's group (letters, digits and underscores)."""
    return name.replace(".", "_").replace("-", "_")


def cleanup(bootstrap: str, prefix: str) -> None:
    """Delete the run's topics and keyspaces. Every run makes its own, several thousand
    partitions a full run; a broker that keeps them run after run ran out of heap."""
    from confluent_kafka.admin import AdminClient

    topics = _topics_with(bootstrap, prefix)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in (admin.delete_topics(topics, operation_timeout=60) if topics else {}).values():
        future.result(timeout=120)
    cluster, session = connect(Settings())
    try:
        rows = session.execute("SELECT keyspace_name FROM system_schema.keyspaces")
        for keyspace in [r.keyspace_name for r in rows if r.keyspace_name.startswith(_keyspace(prefix))]:
            session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    finally:
        cluster.shutdown()


def _variant_args(bootstrap: str, group: str, topics: list[str]) -> list[str]:
    """The arguments every variant's command takes, whatever else it takes."""
    return ["--bootstrap", bootstrap, "--group", group, "--topics", ",".join(topics)]


def _drain(
    variant: str,
    processes: list[tuple[list[str], dict[str, str]]],
    *,
    bootstrap: str,
    group: str,
    events: int | None,
    inputs: list[str],
    internal: Sequence[str] = (),
    internal_prefix: str = "",
    log_name: str,
) -> Result:
    """Run worker processes (command, environment) until their group has committed every
    input record, then every record of its internal topics (named, or named with a prefix);
    events/s: the input records committed after the first commit seen, over the time from
    it to that moment. CPU is the processes' sum, peak RSS their
    largest."""
    log = REPO / "var" / "bench" / log_name
    services_before = services_cpu()
    procs = start_processes(processes, log_name)
    launched = time.monotonic()
    try:
        started, untimed = None, 0
        targets: dict[tuple[str, int], int] = {}
        deadline = time.monotonic() + 3600
        progress, moved = (-1, -1, -1), time.monotonic()
        while time.monotonic() < deadline:
            if exited := [p.returncode for p in procs if p.poll() is not None]:
                raise RuntimeError(f"variant {variant} exited {exited[0]}; see {log}")
            done, total = lag(bootstrap, group, inputs)
            if done and started is None:
                # The clock starts at the first commit seen; what that commit already
                # covers (a whole first batch) is not timed.
                started, untimed = time.monotonic(), done
            hop_done = -1
            if total and done >= total:
                # Then the internal topics, up to where they were when the input was done: the
                # timers of a (watermarks, ticks) keep adding to them, and with two workers
                # committing at different moments they are never all caught up at once.
                hops = [*internal, *(_topics_with(bootstrap, internal_prefix) if internal_prefix else [])]
                hop = _offsets(bootstrap, group, hops)
                targets = targets or {tp: high for tp, (_, high) in hop.items()}
                hop_done = sum(min(hop[tp][0], high) for tp, high in targets.items())
                if hop_done >= sum(targets.values()):
                    break
            if (done, total, hop_done) != progress:
                progress, moved = (done, total, hop_done), time.monotonic()
            elif time.monotonic() - moved > STALL_S:  # a crashed agent leaves its process up
                raise TimeoutError(
                    f"variant {variant} committed nothing for {STALL_S} s, with {done:,} of {total:,} "
                    f"input records committed; see {log}"
                )
            time.sleep(0.5)
        else:
            raise TimeoutError(f"variant {variant} did not drain in an hour")
        seconds = time.monotonic() - (started or time.monotonic())
        count = total if events is None else events  # None: every record of its inputs
        cpu = sum(proc_cpu(p.pid) for p in procs)
        peak, now = (max(_proc_mib(p.pid, f) for p in procs) for f in ("VmHWM", "VmRSS"))
        services = {k: v - services_before.get(k, 0.0) for k, v in services_cpu().items()}
        if total > untimed:
            return Result(
                variant, count, seconds, cpu, peak, now, timed_events=total - untimed, services_cpu=services
            )
        # All of it in the first commit (a tiny input): every record, start-up included.
        return Result(variant, count, time.monotonic() - launched, cpu, peak, now, services_cpu=services)
    finally:
        stop_processes(procs)


def start_processes(
    processes: list[tuple[list[str], dict[str, str]]], log_name: str
) -> list[subprocess.Popen[bytes]]:
    """Start (command, environment) pairs, each in a session of its own, output to one log
    under var/bench/."""
    log = REPO / "var" / "bench" / log_name
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return [
            subprocess.Popen(
                command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            for command, env in processes
        ]


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:  # a stalled Faust worker may not stop on SIGTERM
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(60)


def run_self_measuring(variant: str, module: str, bootstrap: str, prefix: str, events: int) -> Result:
    """A variant that measures itself (bench/ceiling_plain.py, bench/faust_ceiling.py,
    bench/faust_batch_ceiling.py). Each has a consumer group of its own, so a variant runs
    once an invocation: run again, it would find its input committed and wait."""
    faust_app = variant.startswith("d1")
    extra = ["--data-dir", str(REPO / "var" / "bench" / f"{prefix}{variant}")] if faust_app else []
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            module,
            *_variant_args(bootstrap, f"{prefix}{variant}", [f"{prefix}ocpp.{a}" for a in ACTIONS]),
            "--events",
            str(events),
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if out.returncode != 0:  # its own log is on stderr: the error's end is there
        raise RuntimeError(f"variant {variant} exited {out.returncode}: ...{out.stderr[-2000:]}")
    d: dict[str, Any] = orjson.loads(out.stdout.strip().splitlines()[-1])
    return Result(
        variant, int(d["events"]), float(d["seconds"]), float(d["cpu_seconds"]), float(d["peak_rss_mib"])
    )


def run_memory(
    bootstrap: str, prefix: str, connectors: tuple[int, int], *, sink: str, partitions: int, seed: int
) -> tuple[list[Result], str]:
    """Memory per connector: a on two inputs of its own, ``connectors`` apart, every
    connector reporting a few times; the growth of the worker's RSS once drained, per
    connector added."""
    runs = []
    for n in connectors:
        own = f"{prefix}mem{n}."
        events = preload(bootstrap, own, events=4 * n, connectors=n, partitions=partitions, seed=seed)
        result = run_chargestream(bootstrap, own, events, sink, partitions, name=f"mem{n}")
        result.variant = f"a, {n:,} connectors"
        runs.append(result)
    (small, large), (n1, n2) = runs, connectors
    per = (large.rss_mib - small.rss_mib) * 2**20 / (n2 - n1)
    return runs, (
        f"memory per connector: {per:,.0f} bytes (RSS when drained: {small.rss_mib:,.0f} MiB at "
        f"{n1:,} connectors, {large.rss_mib:,.0f} MiB at {n2:,})"
    )


def report(
    results: list[Result], command: str, sink: str, events: int, connectors: int, *, notes: Sequence[str] = ()
) -> str:
    cores = os.cpu_count()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        f"## {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"`{command}`  ",
        f"machine: {cores} cores, {mem_gib:.0f} GiB, {platform.python_implementation()} "
        f"{platform.python_version()}; input: {events:,} events, ~{connectors:,} connectors; "
        f"sink for a and a2: {sink} (am and a2m: memory)",
        "",
        "| variant | events/s | CPU s per 1M events | peak RSS MiB "
        "| Kafka CPU s per 1M | Cassandra CPU s per 1M |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.variant} | {r.rate:,.0f} | {r.cpu_per_million:,.1f} | {r.peak_rss_mib:,.0f} "
        f"| {r.service_cpu_per_million('kafka')} | {r.service_cpu_per_million('cassandra')} |"
        for r in results
    ]
    by = {r.variant: r for r in results}
    for one, two, what in (("a", "a2", ""), ("am", "a2m", ", in-memory sink")):
        if one not in by:
            continue
        ratios = [f"{one}/{v} = {by[one].rate / r.rate:.3f}" for v, r in by.items() if v[0] != "a" and r.rate]
        if ratios:
            lines += ["", f"ratios (events/s, same run{what}): " + ", ".join(ratios)]
        if two in by and by[one].rate and by[two].rate:
            scaling = by[two].rate / by[one].rate
            lines += ["", f"scaling (two workers over one{what}): {two}/{one} = {scaling:.2f}"]
    lines += ["", *notes] if notes else []
    return "\n".join(lines) + "\n"


# chargestream's worker variants: name -> (worker processes, sink; None: the one --sink names)
WORKER_VARIANTS: dict[str, tuple[int, str | None]] = {
    "a": (1, None),
    "a2": (2, None),
    "am": (1, "memory"),
    "a2m": (2, "memory"),
}


def _run_variant(
    variant: str, args: argparse.Namespace, prefix: str, events: int, notes: list[str], *, done: list[Result]
) -> list[Result]:
    if variant in WORKER_VARIANTS:
        workers, sink = WORKER_VARIANTS[variant]
        if sink == args.sink:  # am or a2m when --sink names their sink: a or a2 again
            twin = next(n for n, (w, s) in WORKER_VARIANTS.items() if w == workers and s is None)
            notes.append(f"{variant} not run: with --sink {sink} it is {twin}")
            return []
        return [
            run_chargestream(
                args.bootstrap,
                prefix,
                events,
                sink or args.sink,
                args.partitions,
                workers=workers,
                name=variant,
            )
        ]
    elif variant == "mem":  # 10,000 and 100,000 connectors at the default 50,000
        small = max(10, args.connectors // 5)
        runs, note = run_memory(
            args.bootstrap,
            prefix,
            (small, 10 * small),
            sink=args.sink,
            partitions=args.partitions,
            seed=args.seed,
        )
        notes.append(note)
        return runs
    elif variant == "lat":
        from bench.latency import run_latency

        rate = args.latency_rate
        if not rate:
            measured = [r.rate for r in done if r.variant == "a"]
            if not measured:
                raise SystemExit("variant lat: run a before it, or give --latency-rate")
            rate = measured[0] / 2
        notes += run_latency(
            args.bootstrap,
            prefix,
            rate=rate,
            seconds=args.latency_seconds,
            sink=args.sink,
            partitions=args.partitions,
            seed=args.seed,
        )
        return []
    elif variant == "b":
        return [run_tutorial(args.bootstrap, prefix, events, args.partitions)]
    elif variant == "c":
        return [run_quix(args.bootstrap, prefix)]
    elif variant == "d1":
        return [run_self_measuring("d1", "bench.faust_ceiling", args.bootstrap, prefix, events)]
    elif variant == "d1b":
        return [run_self_measuring("d1b", "bench.faust_batch_ceiling", args.bootstrap, prefix, events)]
    elif variant == "d2":
        return [run_self_measuring("d2", "bench.ceiling_plain", args.bootstrap, prefix, events)]
    else:
        raise SystemExit(f"unknown variant {variant!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--connectors", type=int, default=50_000)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--variants", default="a,a2,am,a2m,b,c,d1,d1b,d2,mem,lat")
    p.add_argument("--latency-rate", type=float, default=0.0, help="events/s offered in lat (0: half of a's)")
    p.add_argument("--latency-seconds", type=float, default=120.0, help="how long lat's probes run")
    p.add_argument("--sink", choices=["cassandra", "memory"], default="cassandra")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--bootstrap", default=os.environ.get("CHARGESTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = p.parse_args(argv)
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    prefix = f"bench-{int(time.time())}."
    # A SIGTERM (`timeout`, a CI job's end) exits through the cleanups below, as Ctrl-C
    # does: Python's default ends the process at once, and 141 topics of runs stopped so
    # were found on the local broker (2026-12-07).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        text, failed = _bench(args, prefix, command)
        print(text)
        if not args.results.exists():
            args.results.write_text(
                "# Benchmark results\n\nNewest last; every run keeps its command and machine.\n\n"
            )
        with args.results.open("a") as f:
            f.write("\n" + text)
    finally:
        cleanup(args.bootstrap, prefix)
    return 1 if failed else 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _bench(args: argparse.Namespace, prefix: str, command: str) -> tuple[str, bool]:
    """Preload the input, run each variant on it, and report; whether any variant failed."""
    print(f"preloading {args.events:,} events ({prefix}*) ...", file=sys.stderr)
    events = preload(
        args.bootstrap,
        prefix,
        events=args.events,
        connectors=args.connectors,
        partitions=args.partitions,
        seed=args.seed,
    )
    results: list[Result] = []
    notes: list[str] = []
    failed = False
    for variant in args.variants.split(","):
        print(f"variant {variant} ...", file=sys.stderr)
        try:
            results += _run_variant(variant, args, prefix, events, notes, done=results)
        except TimeoutError as exc:  # a stalled worker is a finding to record, not a lost run
            notes.append(f"{variant} did not drain: {exc}")
            print(f"  {exc}", file=sys.stderr)
            continue
        except Exception as exc:  # nor is a variant that failed: the others' results are kept
            notes.append(f"{variant} failed: {exc!r}")
            traceback.print_exc()
            failed = True
            continue
        if results:
            print(f"  {results[-1]}", file=sys.stderr)
    return report(results, command, args.sink, events, args.connectors, notes=notes), failed


if __name__ == "__main__":
    sys.exit(main())
