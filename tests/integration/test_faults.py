"""Crashes and outages lose nothing and count nothing twice.

One seeded simulator input (8 sites x 12 chargers, 30 minutes of history, ~18,000
messages on 4 partitions) is loaded once; its grace is longer than the input (see GRACE_S). A
reference run processes it undisturbed; every other run processes the same input with its
own consumer group, topics and keyspace while something goes wrong, and its results must
equal the reference:
- Cassandra: every row of the samples, site power, status history and availability tables
  (availability: the windows that end inside the input; after it, chargers go silent on
  purpose and that tail depends on the wall clock);
- derived topics: the final site power records, the availability windows and the alert
  changes, where a record sent twice (at-least-once) must be an identical copy;
- alert history: the same raises and resolutions (fault alerts; raise and clear after 0 s
  so that they follow the input, not the timing of the run), of alerts that began inside
  the input (as for availability, what begins in the silent tail depends on the clock),
  and that lasted longer than an instant: changes of two chargers at one instant reach
  stage 2 in no fixed order, and with a raise-after of 0 a site alert can fire and
  resolve at that instant in one run and not in another.

The disturbances: SIGKILL the worker five times at random moments (a static group member,
as deployed, so that a restart is not a rebalance); stop Cassandra for
60 s (the worker waits, with bounded memory, and catches up); restart the Kafka broker;
let a second worker join and leave again mid-stream (two rebalances).

SIGTERM is checked on the way: the reference run ends with one (exit 0 within the bound,
every input offset committed, and a new worker has nothing to redo), and a worker stopped
while Cassandra is down exits when the shutdown bound runs out.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cassandra.cluster import NoHostAvailable
from confluent_kafka import Consumer, TopicPartition

from agents.config import Settings, renamed_topics
from bench.rebalance_stress import offsets_report
from infra.local.config import LocalSettings
from infra.local.manager import down, up
from tests.waiting import wait_for
from tests.workers import Worker, delete_topics, kafka_stopped, metric_sum, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

MINUTE = 60_000
SITES = [f"SITE-{i:04d}" for i in range(8)]
# Enough input that the worker is still reading it when the disturbances come: with
# batch events it reads about as many messages per second as there are here in all.
CHARGERS_PER_SITE = 12
COMPARED_ALERTS = ("connector_fault", "connector_warning", "site_no_available_connector")
SHUTDOWN_BOUND_S = 20
# Longer than the input, which ends further back than that: no bucket or window can close
# while the backlog is read, so what counts as late cannot depend on how the topics'
# reads interleave (that differs between any two runs); all close once the input is idle.
GRACE_S = 35 * 60


class Input:
    """The shared input: its topics, its time span, and the settings of one run over it."""

    def __init__(self, bootstrap: str, unique: str) -> None:
        self.bootstrap, self.unique = bootstrap, unique
        now = int(time.time() * 1000) // MINUTE * MINUTE
        self.start_ms, self.end_ms = now - 75 * MINUTE, now - 45 * MINUTE
        defaults = Settings.model_construct()
        self.inputs = renamed_topics(defaults, lambda t: f"{unique}.{t}", inputs=True, registry=True)

    def env(self, run: str, **extra: str) -> dict[str, str]:
        u = f"{self.unique}_{run}"
        outputs = renamed_topics(Settings.model_construct(), lambda t: f"{u}.{t}")
        return {
            **outputs,
            "CHARGESTREAM_METER_TOPICS": self.inputs["CHARGESTREAM_METER_TOPICS"],
            "CHARGESTREAM_STATUS_TOPICS": self.inputs["CHARGESTREAM_STATUS_TOPICS"],
            "CHARGESTREAM_REGISTRY_TOPIC": self.inputs["CHARGESTREAM_REGISTRY_TOPIC"],
            "CHARGESTREAM_KAFKA_BOOTSTRAP": self.bootstrap,
            "CHARGESTREAM_APP_ID": u,
            "CHARGESTREAM_CASSANDRA_KEYSPACE": u,
            "CHARGESTREAM_TOPIC_PARTITIONS": "4",
            "CHARGESTREAM_IDLE_PARTITION_SECONDS": "3",
            "CHARGESTREAM_GRACE_SECONDS": str(GRACE_S),
            "CHARGESTREAM_WATERMARK_INTERVAL_SECONDS": "0.5",
            "CHARGESTREAM_ALERT_RAISE_AFTER_SECONDS": "0",
            "CHARGESTREAM_ALERT_CLEAR_AFTER_SECONDS": "0",
            "CHARGESTREAM_ALERT_RENOTIFY_SECONDS": "3600",
            "CHARGESTREAM_CASSANDRA_TIMEOUT_SECONDS": "2",
            "CHARGESTREAM_CASSANDRA_BACKOFF_MAX_SECONDS": "2",
            "CHARGESTREAM_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_BOUND_S),
            **extra,
        }

    def load(self) -> None:
        env = self.env("load")
        start = datetime.fromtimestamp(self.start_ms / 1000, UTC).isoformat()
        args = ["--fast", "--start", start, "--duration", str((self.end_ms - self.start_ms) // 1000)]
        args += ["--sites", str(len(SITES)), "--chargers", str(CHARGERS_PER_SITE), "--seed", "7", "--quiet"]
        args += ["--offline-per-hour", "0", "--faults-per-hour", "2"]
        run_cli(env, "agents", "migrate")  # the input topics, with their 4 partitions
        run_cli(env, "agents", "simulate", *args, timeout=300)


@pytest.fixture(scope="module")
def shared_input(kafka_bootstrap: str, cassandra_session: Any) -> Iterator[Input]:
    unique = f"t_faults_{os.getpid()}_{int(time.time()) % 100000}"
    data = Input(kafka_bootstrap, unique)
    data.load()
    yield data
    delete_topics(kafka_bootstrap, unique)
    for row in cassandra_session.execute("SELECT keyspace_name FROM system_schema.keyspaces"):
        if row.keyspace_name.startswith(unique):
            cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {row.keyspace_name}", timeout=60)


Disturb = Callable[[Worker, dict[str, str], Path], Worker]


def _run(
    data: Input,
    run: str,
    session: Any,
    tmp: Path,
    disturb: Disturb | None = None,
    after: Callable[[Worker, dict[str, str]], None] | None = None,
    extra_env: dict[str, str] | None = None,
    loglevel: str = "warn",
) -> Snapshot:
    env = data.env(run, **(extra_env or {}))
    late_before.clear()
    run_cli(env, "agents", "migrate")
    worker = Worker(env, tmp / run / "w0", loglevel=loglevel)
    try:
        if disturb is not None:
            worker = disturb(worker, env, tmp / run)
        try:
            wait_for(lambda: _done(data, env, session, worker), 300, f"run {run} to finish", interval=2)
        except AssertionError as exc:
            try:
                why = _why_not_done(data, env, session, worker)
            except Exception as failed:  # Cassandra down, say: the timeout is the news
                why = f"(no diagnosis: {failed!r})"
            raise AssertionError(f"{exc}\n{why}") from None
        time.sleep(3)  # writes of the last messages
        snap = Snapshot.take(data, env, session)
        snap.late = [*_late(worker, "the worker at the end"), *late_before]
        if after is not None:
            after(worker, env)
        return snap
    finally:
        worker.stop()


# Late counts of workers stopped before the end of a run (the second worker of a rebalance).
late_before: list[str] = []


def _late(worker: Worker, who: str) -> list[str]:
    """What the worker found late (no input is: GRACE_S is longer than it; offline changes
    found once it ends may be); a diagnosis for a comparison that fails."""
    try:
        page = worker.metrics()
    except OSError as exc:
        return [f"{who}: metrics unavailable ({exc})"]
    contributions = metric_sum(page, "chargestream_late_contributions_total")
    statuses = metric_sum(page, "chargestream_status_changes_total", 'fate="late"')
    return [f"{who}: {contributions:.0f} late contributions, {statuses:.0f} late status changes"]


def _done(data: Input, env: dict[str, str], session: Any, worker: Worker) -> bool:
    """Every site's availability folded past the input's end; every power bucket final."""
    worker.check_alive()
    ks = env["CHARGESTREAM_CASSANDRA_KEYSPACE"]
    try:
        ends = _availability_ends(session, ks)
    except NoHostAvailable:  # Cassandra just restarted: not done yet, ask again
        return False
    buckets = list(session.execute(f"SELECT final FROM {ks}.site_power_1m"))
    folded = all(ends.get(site, 0) >= data.end_ms for site in SITES)
    return folded and bool(buckets) and all(r.final for r in buckets)


def _availability_ends(session: Any, ks: str) -> dict[str, int]:
    """Site -> where its 1-minute availability windows end so far (ms)."""
    ends: dict[str, int] = {}
    for r in session.execute(f"SELECT site_id, window_s, window_start FROM {ks}.site_availability"):
        if r.window_s == 60:
            ends[r.site_id] = max(ends.get(r.site_id, 0), _window_end(r))
    return ends


def _why_not_done(data: Input, env: dict[str, str], session: Any, worker: Worker) -> str:
    """What a run that did not finish had got to: a diagnosis for the timeout."""
    ks = env["CHARGESTREAM_CASSANDRA_KEYSPACE"]
    ends = _availability_ends(session, ks)
    behind = {s: data.end_ms - ends.get(s, 0) for s in SITES if ends.get(s, 0) < data.end_ms}
    open_buckets = [
        (r.site_id, r.bucket_start)
        for r in session.execute(f"SELECT * FROM {ks}.site_power_1m")
        if not r.final
    ]
    pages = {}
    for page in ("readyz", "debug/consumer"):
        try:
            pages[page] = worker.metrics(page)
        except OSError as exc:  # a 503 (not ready) is an HTTPError, with the page as its body
            pages[page] = f"{exc}: {getattr(exc, 'read', lambda: b'')()!r}"
    try:
        events = f"{metric_sum(worker.metrics(), 'chargestream_events_total'):.0f}"
    except OSError as exc:
        events = repr(exc)
    log = worker.log()
    worker.proc.send_signal(signal.SIGUSR1)  # Faust's worker logs every thread's and task's stack
    time.sleep(2)
    return "\n".join(
        [
            f"sites whose availability ends short of the input (ms short): {behind}",
            f"site buckets not final: {len(open_buckets)} {sorted(open_buckets)[:5]}",
            f"events processed: {events}",
            *(f"/{page}: {body}" for page, body in pages.items()),
            f"worker log (tail; the stacks of its tasks follow in {worker.log_path}):",
            log,
        ]
    )


def _window_end(row: Any) -> int:
    return _ms(row.window_start) + int(row.window_s) * 1000


def _ms(naive_utc: datetime) -> int:
    return int(naive_utc.replace(tzinfo=UTC).timestamp() * 1000)


class Snapshot:
    """What a run produced, in a form two runs can be compared by."""

    def __init__(self) -> None:
        self.tables: dict[str, list[tuple[Any, ...]]] = {}
        self.topics: dict[str, dict[Any, Any]] = {}
        self.late: list[str] = []  # workers' counts of input met after its bucket or window closed

    @classmethod
    def take(cls, data: Input, env: dict[str, str], session: Any) -> Snapshot:
        snap = cls()
        ks = env["CHARGESTREAM_CASSANDRA_KEYSPACE"]
        for table in ("evse_samples", "site_power_1m", "connector_status_history"):
            rows = session.execute(f"SELECT * FROM {ks}.{table}")
            snap.tables[table] = sorted(_row(r, leave=("revision",)) for r in rows)
        snap.tables["site_availability"] = sorted(
            _row(r)
            for r in session.execute(f"SELECT * FROM {ks}.site_availability")
            if _window_end(r) <= data.end_ms
        )
        snap.tables["alert_history"] = sorted(
            (r.fingerprint, r.alert_type, r.status, r.starts_at, r.ends_at)
            for r in session.execute(f"SELECT * FROM {ks}.alert_history")
            if r.alert_type in COMPARED_ALERTS and _ms(r.starts_at) < data.end_ms and r.ends_at != r.starts_at
        )
        power = _topic(data.bootstrap, env["CHARGESTREAM_SITE_POWER_TOPIC"])
        snap.topics["site_power_final"] = _once_each(
            ((r["site_id"], r["bucket_start"]), {k: v for k, v in r.items() if k != "revision"})
            for r in power
            if r["final"]
        )
        windows = _topic(data.bootstrap, env["CHARGESTREAM_SITE_AVAILABILITY_TOPIC"])
        snap.topics["site_availability"] = _once_each(
            ((r["site_id"], r["window_s"], r["window_start"]), r)
            for r in windows
            if _iso_ms(r["window_end"]) <= data.end_ms
        )
        changes: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for r in _topic(data.bootstrap, env["CHARGESTREAM_ALERTS_TOPIC"]):
            if r["type"] in COMPARED_ALERTS and _iso_ms(r["starts_at"]) < data.end_ms:
                change = (r["status"], r["starts_at"], r.get("ends_at"))
                if change not in changes[r["fingerprint"]]:  # an identical re-send is allowed
                    changes[r["fingerprint"]].append(change)
        # An episode that ended as it began is a blip of cross-partition ordering (README,
        # known limits): left out of both runs, like zero-length rows of alert_history.
        blips = {(fp, start) for fp, c in changes.items() for _, start, end in c if end == start}
        episodes = {fp: [ch for ch in c if (fp, ch[1]) not in blips] for fp, c in changes.items()}
        snap.topics["alerts"] = {fp: c for fp, c in episodes.items() if c}
        return snap


def _row(row: Any, leave: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """A Cassandra row as a hashable tuple (sets become sorted tuples), without ``leave``.

    A site bucket's ``revision`` only orders its versions (it is the write timestamp, so an
    older version never overwrites a newer one); how many versions there were depends on how
    contributions from different partitions interleave, in any two runs alike.
    """
    return tuple(
        tuple(sorted(v)) if isinstance(v, set | frozenset) or type(v).__name__ == "SortedSet" else v
        for k, v in row._asdict().items()
        if k not in leave
    )


def _once_each(items: Iterator[tuple[Any, dict[str, Any]]] | Any) -> dict[Any, dict[str, Any]]:
    """Records by key; a key seen twice must carry the same record (a re-send, not a recount)."""
    out: dict[Any, dict[str, Any]] = {}
    for key, record in items:
        assert out.setdefault(key, record) == record, f"{key}: {out[key]} then {record}"
    return out


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _topic(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"{topic}.check", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    out: list[dict[str, Any]] = []
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 4:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        quiet_since = time.monotonic()
        out.append(orjson.loads(msg.value() or b"{}"))
    consumer.close()
    return out


@pytest.fixture(scope="module")
def reference(
    shared_input: Input, cassandra_session: Any, tmp_path_factory: pytest.TempPathFactory
) -> Snapshot:
    tmp = tmp_path_factory.mktemp("ref")

    def sigterm_keeps_everything(worker: Worker, env: dict[str, str]) -> None:
        """SIGTERM: the worker exits 0 within the bound, every input offset committed and
        its table state sent, so a new worker on a fresh state directory has nothing to redo."""
        ready = orjson.loads(worker.metrics("readyz"))  # before: ready, and the body says why
        assert ready["assigned_partitions"] > 0, ready
        assert {k: ready[k] for k in ("ready", "recovered", "rebalancing", "in_recovery")} == {
            "ready": True,
            "recovered": True,
            "rebalancing": False,
            "in_recovery": False,
        }, ready
        assert ready["changelog_records_to_recover"] == 0, ready
        # The diagnosis page reads Faust's and aiokafka's private state: all of it readable.
        state = orjson.loads(worker.metrics("debug/consumer"))
        assert not [k for k, v in state.items() if str(v).startswith("unavailable")], state
        assert state["recovery_completed"] and not state["recovery_remaining"], state
        assert set(state["fetch"]) == set(state["assigned"]), state
        started = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(SHUTDOWN_BOUND_S + 10) == 0, worker.log()
        assert time.monotonic() - started < SHUTDOWN_BOUND_S, "the graceful stop overran its bound"
        lag = _input_lag(shared_input, env)
        assert not lag, f"offsets not committed on SIGTERM: {lag}"
        outputs_before = len(_topic(shared_input.bootstrap, env["CHARGESTREAM_SITE_POWER_TOPIC"]))
        again = Worker(env, tmp / "after-sigterm")
        try:
            _started(again)
            time.sleep(8)  # tables recovered, ticks and watermarks running
            events = metric_sum(again.metrics(), "chargestream_events_total")
            assert events == 0, f"the restarted worker processed {events} input events again"
        finally:
            again.stop()
        outputs_after = len(_topic(shared_input.bootstrap, env["CHARGESTREAM_SITE_POWER_TOPIC"]))
        assert outputs_after == outputs_before, "the restarted worker re-published site power"

    snap = _run(shared_input, "ref", cassandra_session, tmp, after=sigterm_keeps_everything)
    assert len(snap.tables["evse_samples"]) > 1000 and snap.topics["site_power_final"]
    assert snap.topics["alerts"], "the input should raise some fault alerts"
    return snap


def _assert_same(got: Snapshot, want: Snapshot) -> None:
    problems = []
    for name, rows in want.tables.items():
        problems += _differences(f"table {name}", set(got.tables[name]), set(rows))
        if len(got.tables[name]) != len(rows):
            problems.append(f"table {name}: {len(got.tables[name])} rows, undisturbed {len(rows)}")
    for name, records in want.topics.items():
        mine = got.topics[name]
        changed = {k for k in records.keys() & mine.keys() if records[k] != mine[k]}
        problems += _differences(f"topic {name}", set(mine), set(records))
        problems += [f"topic {name} {k}: {mine[k]} != undisturbed {records[k]}" for k in sorted(changed)[:3]]
    if problems:
        # Chargers found offline once the input ends may reach stage 2 after its last fold
        # (0-96 late changes in runs that agree): a figure to compare, not an error.
        problems += ["late input (a diagnosis), this run:", *got.late, "undisturbed:", *want.late]
    assert not problems, "differs from the undisturbed run:\n" + "\n".join(problems)


def _differences(what: str, got: set[Any], want: set[Any]) -> list[str]:
    extra, missing = sorted(got - want, key=repr), sorted(want - got, key=repr)
    out = [f"{what}: extra {x}" for x in extra[:3]] + [f"{what}: missing {x}" for x in missing[:3]]
    if extra or missing:
        out.append(f"{what}: {len(extra)} extra, {len(missing)} missing")
    return out


def test_two_undisturbed_runs_agree(
    shared_input: Input, reference: Snapshot, cassandra_session: Any, tmp_path: Path
) -> None:
    """The baseline of every comparison here: without faults, a second run is identical."""
    _assert_same(_run(shared_input, "again", cassandra_session, tmp_path), reference)


def _started(worker: Worker) -> None:
    _wait_metrics(worker, lambda page: "chargestream_events_total" in page, "serve its metrics")


def _processing(worker: Worker) -> None:
    _wait_metrics(worker, lambda page: metric_sum(page, "chargestream_events_total") > 0, "process input")


def _took_over(worker: Worker) -> None:
    """The worker holds input partitions and has processed events of both stages: input
    records, if the first worker left any in the partitions that moved (it reads a
    partition's backlog in a batch or two, and may have drained them in the ~3 s a join
    takes), else the partitions' clock ticks (charger state: liveness) and stage-2
    contributions. Waiting for input records alone timed out in 1 of 6 runs (2026-12-07)."""

    def ok(page: str) -> bool:
        if metric_sum(page, "chargestream_events_total") > 0:
            return True
        ticks = metric_sum(page, "chargestream_records_out_total", ".ticks.")
        return ticks > 0 and metric_sum(page, "chargestream_processing_seconds_count", 'stage="site"') > 0

    _wait_metrics(worker, ok, "take over partitions")


def _wait_metrics(worker: Worker, ok: Callable[[str], bool], what: str) -> None:
    def probe() -> bool:
        worker.check_alive()
        try:
            return ok(worker.metrics())
        except OSError:
            return False

    wait_for(probe, 120, f"the worker to {what}", interval=0.3)


def test_sigkill_five_times_at_random_moments(
    shared_input: Input, reference: Snapshot, cassandra_session: Any, tmp_path: Path
) -> None:
    rng = random.Random(11)

    def kill_and_restart(worker: Worker, env: dict[str, str], tmp: Path) -> Worker:
        for _ in range(5):
            _started(worker)
            time.sleep(rng.uniform(0.5, 3.0))
            worker.proc.send_signal(signal.SIGKILL)
            worker.proc.wait(30)
            worker.stop()
            worker = Worker(env, tmp / "w0")  # same state directory, as a restarted process
        return worker

    # As deployed (infra/k8s): a static member, so a restart takes its partitions back at
    # once. Without one, the dead member holds them until its session times out and the
    # restart is a rebalance (README, "Restarts"); CI saw this test fail that way.
    instance = {"CHARGESTREAM_GROUP_INSTANCE_ID": "w0"}
    got = _run(shared_input, "kill", cassandra_session, tmp_path, kill_and_restart, extra_env=instance)
    _assert_same(got, reference)


def test_cassandra_down_for_60_s(
    shared_input: Input, reference: Snapshot, cassandra_session: Any, tmp_path: Path
) -> None:
    local = LocalSettings()

    def cassandra_outage(worker: Worker, env: dict[str, str], tmp: Path) -> Worker:
        # A second, independent run, stopped during the outage: its graceful stop waits on
        # writes that cannot land, and the shutdown bound must end it.
        stuck_env = shared_input.env("stuck")
        run_cli(stuck_env, "agents", "migrate")
        stuck = Worker(stuck_env, tmp / "stuck")
        _processing(worker)
        _processing(stuck)  # connected to Cassandra and writing
        rss_before = _rss_kib(worker)
        down(local, ["cassandra"], report=False)
        try:
            time.sleep(5)  # both workers' writes now wait on Cassandra
            _stop_within_bound(stuck)
            peak = rss_before
            deadline = time.monotonic() + 55
            while time.monotonic() < deadline:
                worker.check_alive()
                peak = max(peak, _rss_kib(worker))
                time.sleep(1)
            errors = [
                line
                for line in worker.metrics().splitlines()
                if line.startswith("chargestream_cassandra_write_errors_total")
            ]
            assert errors, "the worker should have seen its writes fail"
            # Waiting, not queueing: consumption stops while writes cannot land.
            assert peak - rss_before < 150 * 1024, (rss_before, peak)
        finally:
            up(local, ["cassandra"], report=False)
        return worker

    got = _run(shared_input, "cassandra", cassandra_session, tmp_path, cassandra_outage)
    _assert_same(got, reference)


def test_kafka_broker_restart(
    shared_input: Input, reference: Snapshot, cassandra_session: Any, tmp_path: Path
) -> None:
    local = LocalSettings()

    def broker_restart(worker: Worker, env: dict[str, str], tmp: Path) -> Worker:
        _started(worker)
        time.sleep(2)
        down(local, ["kafka"], report=False)
        time.sleep(5)
        up(local, ["kafka"], report=False)
        return worker

    got = _run(shared_input, "kafka", cassandra_session, tmp_path, broker_restart)
    _assert_same(got, reference)


def test_kafka_stopped_while_a_worker_starts(
    shared_input: Input, reference: Snapshot, cassandra_session: Any, tmp_path: Path
) -> None:
    """The broker stopped (SIGSTOP) for 8 s, 0.5 s after a new worker serves its metrics:
    around when it declares its topics and joins the group. With its changelog topics
    created by its own declarations, such a worker once exited at a declaration, and once
    dead-lettered every event after an assignment that left them out (README, "Starting
    while the broker is away"). `migrate` creates them now, so Faust declares nothing here:
    the retries of a declaration are tested in test_worker_start.py. In 1 of 13 runs the
    broker's metadata just after the stop lacked every topic, and the worker sat idle after
    an assignment of nothing (the assignment is redone now: agents/assignment_watch.py)."""

    def stopped_at_start(worker: Worker, env: dict[str, str], tmp: Path) -> Worker:
        _started(worker)
        time.sleep(0.5)
        with kafka_stopped():
            time.sleep(8)
        return worker

    got = _run(shared_input, "kafka_at_start", cassandra_session, tmp_path, stopped_at_start)
    _assert_same(got, reference)


def test_a_second_worker_joins_and_leaves(
    shared_input: Input, reference: Snapshot, cassandra_session: Any, tmp_path: Path
) -> None:
    """Two rebalances mid-stream: partitions move to the second worker, and back when it
    stops (SIGTERM); the second has processed events of the partitions it took over."""

    def rebalance(worker: Worker, env: dict[str, str], tmp: Path) -> Worker:
        _started(worker)
        second = Worker(env, tmp / "w1", loglevel="info")
        try:
            _took_over(second)
            time.sleep(2)
            late_before.extend(_late(second, "the second worker before it left"))
        finally:
            second.stop()
        return worker

    # The workers log which offsets each event settled: a failure then says which records
    # no worker processed (the flaky failures of 2026-12-07 were such).
    trace = {"CHARGESTREAM_TRACE_PROCESSING": "true"}
    got = _run(
        shared_input, "rebalance", cassandra_session, tmp_path, rebalance, extra_env=trace, loglevel="info"
    )
    try:
        _assert_same(got, reference)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{offsets_report(tmp_path)}") from None


def _input_lag(data: Input, env: dict[str, str]) -> dict[str, int]:
    """Input topic-partitions whose committed offset (of the run's group) is short of the end."""
    group = env["CHARGESTREAM_APP_ID"]
    consumer = Consumer({"bootstrap.servers": data.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        topics = [t for name in ("METER", "STATUS") for t in env[f"CHARGESTREAM_{name}_TOPICS"].split(",")]
        parts = [TopicPartition(t, p) for t in topics for p in range(4)]
        lag = {}
        for tp in consumer.committed(parts, timeout=20):
            low, high = consumer.get_watermark_offsets(tp, timeout=20)
            if high > low and tp.offset < high:
                lag[f"{tp.topic}[{tp.partition}]"] = high - max(tp.offset, low)
        return lag
    finally:
        consumer.close()


def _stop_within_bound(worker: Worker) -> None:
    started = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    try:
        code = worker.proc.wait(SHUTDOWN_BOUND_S + 20)
    finally:
        worker.stop()
    took = time.monotonic() - started
    assert code == 1 and "graceful shutdown took longer" in worker.log(), (code, worker.log())
    assert SHUTDOWN_BOUND_S - 1 < took < SHUTDOWN_BOUND_S + 5, f"stopped after {took:.1f} s"


def _rss_kib(worker: Worker) -> int:
    for line in Path(f"/proc/{worker.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
