"""Every query of the Grafana dashboards in infra/grafana/dashboards, run for real.

A worker with its own topics, keyspace and app id processes ten minutes of a simulated
fleet (`agents simulate --fast`) and is scraped by the local Prometheus. Then every target
of every panel, every annotation and every query variable of the three dashboards is
executed the way Grafana and the datasources would execute it:

- PromQL: dashboard variables and Grafana's built-ins ($__rate_interval, $__interval,
  $__range) substituted, then /api/v1/query; the result must not be empty.
- CQL (the hadesarchitect-cassandra-datasource plugin, raw query mode): dashboard
  variables substituted as the plugin's frontend does (getTemplateSrv().replace), then its
  backend's macros as pkg/handler/data_query.go replaces them: $__timeFrom / $__timeTo by
  the range's epoch milliseconds, $__unixEpochFrom / $__unixEpochTo by epoch seconds; the
  query must return rows, shaped as the panel needs.

Panels are read from the JSON files, so a new panel is covered without touching this test.
Queries whose data legitimately does not exist on a healthy run (dead letters, Cassandra
write errors, quirks, alert changes) are written in the dashboards with `or on() vector(0)`
and so return 0 rather than nothing; this run still makes most of them real (2 % malformed
messages, frequent faults).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fleet import fast_settings
from tests.workers import REPO, Worker, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DASHBOARDS = REPO / "infra" / "grafana" / "dashboards"
DATASOURCES = REPO / "infra" / "grafana" / "provisioning" / "datasources" / "datasources.yml"
PROMETHEUS_UID, CASSANDRA_UID = "prometheus", "cassandra"
CASSANDRA_PLUGIN = "hadesarchitect-cassandra-datasource"
SITES, CHARGERS, SIM_SECONDS, SEED = 4, 3, 600, 3
DATA_TIMEOUT_SECONDS = 120
ACTIONS_METER = ("MeterValues", "StartTransaction", "StopTransaction", "TransactionEvent")
ACTIONS_STATUS = ("StatusNotification", "NotifyEvent", "Heartbeat", "BootNotification")

# Grafana's variable syntaxes: ${name}, ${name:format}, [[name]], $name.
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?(\w+)\)$")


@dataclass(frozen=True)
class Query:
    dashboard: str
    where: str  # panel / annotation / variable title
    kind: str  # promql | cql
    text: str
    shape: str  # stat, timeseries, table, annotation, variable, ...
    variable: str = ""  # a variable's query: its name (the result must offer the value used)
    label: str = ""  # ... and for label_values(), the label

    @property
    def site_scoped(self) -> bool:
        return "site" in variables_in(self.text)

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.where}"


def variables_in(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in VARIABLE.finditer(text)}


def interpolate(text: str, values: dict[str, str]) -> str:
    """Grafana's template substitution: known variables replaced, the rest left alone
    (the plugin's macros, $__timeFrom and friends, are the datasource's business)."""

    def sub(m: re.Match[str]) -> str:
        name = next(g for g in m.groups() if g)
        return values.get(name, m.group(0))

    return VARIABLE.sub(sub, text)


def cassandra_macros(cql: str, from_ms: int, to_ms: int) -> str:
    """What the plugin's backend does to a raw query (pkg/handler/data_query.go, applyTimeRange)."""
    cql = cql.replace("$__timeFrom", str(from_ms)).replace("$__timeTo", str(to_ms))
    return cql.replace("$__unixEpochFrom", str(from_ms // 1000)).replace("$__unixEpochTo", str(to_ms // 1000))


def datasource_uid(obj: dict[str, Any], fallback: dict[str, Any] | None) -> str:
    ds = obj.get("datasource") or fallback or {}
    return str(ds.get("uid", ""))


def load_dashboards() -> dict[str, dict[str, Any]]:
    files = sorted(DASHBOARDS.glob("*.json"))
    assert {f.name for f in files} >= {"fleet-overview.json", "site-drilldown.json", "pipeline-health.json"}
    return {f.stem: json.loads(f.read_text()) for f in files}


def panels_of(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def queries_of(name: str, dashboard: dict[str, Any]) -> list[Query]:
    """Every query Grafana would run for the dashboard: panel targets, annotations, variables."""
    out: list[Query] = []

    def add(where: str, target: dict[str, Any], uid: str, shape: str) -> None:
        if target.get("hide"):
            return
        if uid == PROMETHEUS_UID:
            assert target.get("expr"), f"{name} / {where}: a Prometheus target without expr"
            out.append(Query(name, where, "promql", target["expr"], shape))
        elif uid == CASSANDRA_UID:
            # Raw CQL is the plugin's query editor mode; the configurator builds its own query.
            assert target.get("rawQuery") is True, f"{name} / {where}: Cassandra targets must be raw CQL"
            assert target.get("queryType", "query") == "query", f"{name} / {where}"
            out.append(Query(name, where, "cql", target["target"], shape))
        else:
            raise AssertionError(f"{name} / {where}: unknown datasource uid {uid!r}")

    for panel in panels_of(dashboard):
        if panel["type"] == "row":
            continue
        targets = panel.get("targets", [])
        assert targets, f"{name} / {panel['title']}: a panel without queries"
        for t in targets:
            uid = datasource_uid(t, panel.get("datasource"))
            add(f"{panel['title']} [{t['refId']}]", t, uid, panel["type"])
    for anno in dashboard.get("annotations", {}).get("list", []):
        if anno.get("builtIn"):
            continue
        add(f"annotation {anno['name']}", anno["target"], datasource_uid(anno, None), "annotation")
    for var in dashboard.get("templating", {}).get("list", []):
        if var["type"] != "query":
            continue
        query = var["query"]
        text = query if isinstance(query, str) else query.get("query") or query.get("expr")
        uid, where = datasource_uid(var, None), f"variable {var['name']}"
        if uid == CASSANDRA_UID:
            out.append(Query(name, where, "cql", text, "variable", var["name"]))
        else:
            match = LABEL_VALUES.match(text.strip())
            assert match, f"{name} / {where}: not label_values(...): {text}"
            selector, label = match.group(1) or "up", match.group(2)
            promql = f"count by ({label}) ({selector})"  # what label_values() lists, as a query
            out.append(Query(name, where, "promql", promql, "variable", var["name"], label))
    return out


def range_seconds(dashboard: dict[str, Any]) -> int:
    """The dashboard's default time range (`now-6h` to `now`) in seconds."""
    assert dashboard["time"]["to"] == "now", dashboard["time"]
    match = re.fullmatch(r"now-(\d+)([smhd])", dashboard["time"]["from"])
    assert match, dashboard["time"]
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def variable_defaults(dashboard: dict[str, Any]) -> dict[str, str]:
    values = {}
    for var in dashboard.get("templating", {}).get("list", []):
        value = var.get("current", {}).get("value", "")
        if isinstance(value, list):
            value = value[0] if value else ""
        if value == "$__all":
            value = var.get("allValue") or ".*"
        values[var["name"]] = str(value)
    return values


# --- static checks (no services needed, but part of this module) ------------------------


def test_dashboards_refer_to_the_provisioned_datasources_and_are_well_formed() -> None:
    provisioned = {ds["uid"]: ds["type"] for ds in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    assert provisioned == {PROMETHEUS_UID: "prometheus", CASSANDRA_UID: CASSANDRA_PLUGIN}
    uids = set()
    for name, dashboard in load_dashboards().items():
        uids.add(dashboard["uid"])
        ids = [p["id"] for p in panels_of(dashboard)]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        queries = queries_of(name, dashboard)
        assert queries, name
        defined = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
        for q in queries:
            unknown = {v for v in variables_in(q.text) if not v.startswith("__")} - defined
            assert not unknown, f"{q}: undefined variables {unknown}"
            if q.kind == "cql":
                assert q.text.lstrip().upper().startswith("SELECT "), f"{q}: the plugin runs SELECTs only"
    assert len(uids) == len(load_dashboards()), "dashboard uids must be unique"
    site = load_dashboards()["site-drilldown"]
    assert {"site", "keyspace"} <= {v["name"] for v in site["templating"]["list"]}


# --- the real thing --------------------------------------------------------------------


@pytest.fixture
def env(
    kafka_bootstrap: str, alertmanager_url: str, unique_name: str, keyspace: str
) -> Iterator[dict[str, str]]:
    """fast_settings (own topics, app id and keyspace; topics deleted afterwards; the
    keyspace fixture drops the keyspace), with every OCPP input the simulator sends and
    windows that close seconds after their end."""
    u = unique_name
    for settings in fast_settings(kafka_bootstrap, alertmanager_url, unique_name):
        settings.update(
            {
                "CHARGESTREAM_METER_TOPICS": ",".join(f"{u}.ocpp.{a}" for a in ACTIONS_METER),
                "CHARGESTREAM_STATUS_TOPICS": ",".join(f"{u}.ocpp.{a}" for a in ACTIONS_STATUS),
                "CHARGESTREAM_CASSANDRA_KEYSPACE": keyspace,
                "CHARGESTREAM_GRACE_SECONDS": "15",
                "CHARGESTREAM_IDLE_PARTITION_SECONDS": "3",
                "CHARGESTREAM_WATERMARK_INTERVAL_SECONDS": "0.5",
                "CHARGESTREAM_AVAILABILITY_WINDOWS_SECONDS": "60,3600,86400",
            }
        )
        yield settings


def prometheus_query(url: str, promql: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # a bad query: no use waiting for data
        raise AssertionError(f"Prometheus rejected {promql}: {exc.read().decode(errors='replace')}") from None
    assert body["status"] == "success", f"{promql}: {body}"
    return list(body["data"]["result"])


def check_cql_rows(q: Query, rows: list[Any]) -> str | None:
    """None when the rows are what the panel needs, else what is wrong."""
    if not rows:
        return "no rows"
    first = rows[0]
    if q.shape == "variable":
        return None
    if not isinstance(first[0], str):  # the plugin splits series by the first column, as text
        return f"first column is {type(first[0]).__name__}, not text"
    if q.shape == "annotation":
        missing = {"time", "text"} - set(first._fields)
        return f"annotation without columns {missing}" if missing else None
    if q.shape == "timeseries":
        values = list(first)
        if not any(isinstance(v, datetime) for v in values):
            return "no timestamp column"
        if not any(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return "no numeric column"
    return None


@dataclass
class Runner:
    """Runs dashboard queries as Grafana would on this test's worker, keyspace and sites."""

    dashboards: dict[str, dict[str, Any]]
    prometheus_url: str
    session: Any
    keyspace: str
    instance: str
    sites: list[str]

    def values(self, q: Query, site: str) -> dict[str, str]:
        span = range_seconds(self.dashboards[q.dashboard])
        return {
            **variable_defaults(self.dashboards[q.dashboard]),
            "job": "chargestream",
            "instance": self.instance,  # a regex, where the dots match themselves too
            "keyspace": self.keyspace,
            "site": site,
            "window": "60",  # minute windows close within seconds here; hours and days may not
            # Grafana: max(4 x scrape interval, $__interval + scrape interval); scrapes every 2 s here.
            "__rate_interval": "20s",
            "__interval": "10s",
            "__range": f"{span}s",
            "__range_s": str(span),
            "__range_ms": str(span * 1000),
        }

    def problem(self, q: Query, site: str) -> str | None:
        """None if the query returned what its panel needs, else the problem and the query."""
        values = self.values(q, site)
        text = interpolate(q.text, values)
        want = set(self.sites) if q.variable == "site" else {values.get(q.variable, "")}
        if q.kind == "promql":
            assert "$" not in text, f"{q}: unsubstituted variable in {text}"
            result = prometheus_query(self.prometheus_url, text)
            if q.variable:
                offered = {r["metric"].get(q.label, "") for r in result}
                return None if want <= offered else f"{want - offered} not among {offered}: {text}"
            return None if result else f"empty result: {text}"
        # The dashboard's own time range, as Grafana passes it to the datasource.
        to_ms = int(time.time() * 1000)
        text = cassandra_macros(text, to_ms - range_seconds(self.dashboards[q.dashboard]) * 1000, to_ms)
        assert "$" not in text, f"{q}: unsubstituted variable or macro in {text}"
        try:
            rows = list(self.session.execute(text))
        except Exception as exc:  # invalid CQL: no use waiting for data
            raise AssertionError(f"{q}: Cassandra rejected {text}: {exc}") from None
        if q.variable:
            offered = {str(r[0]) for r in rows}
            return None if want <= offered else f"{want - offered} not among {offered}: {text}"
        problem = check_cql_rows(q, rows)
        return None if problem is None else f"{problem}: {text}"

    def problems(self, queries: list[Query]) -> tuple[dict[str, str], str]:
        """Every query's problem; per-site queries for the simulated site with the fewest."""
        found = {str(q): p for q in queries if not q.site_scoped and (p := self.problem(q, self.sites[0]))}
        per_site = {
            site: {f"{q} ({site})": p for q in queries if q.site_scoped and (p := self.problem(q, site))}
            for site in self.sites
        }
        site = min(self.sites, key=lambda s: len(per_site[s]))
        return {**found, **per_site[site]}, site


def test_every_dashboard_query_returns_data(
    env: dict[str, str],
    cassandra_session: Any,
    keyspace: str,
    prometheus_url: str,
    prometheus_target: Callable[[str], dict[str, str]],
    tmp_path: Path,
) -> None:
    dashboards = load_dashboards()
    queries = [q for name, d in dashboards.items() for q in queries_of(name, d)]
    assert len(queries) >= 40  # the three dashboards, all of them

    run_cli(env, "agents.migrate")
    started = time.time()
    worker = Worker(env, tmp_path / "worker")
    try:
        instance = f"127.0.0.1:{worker.web_port}"
        prometheus_target(instance)
        run_cli(
            env,
            *("agents", "simulate", "--fast", "--quiet", "--seed", str(SEED)),
            *("--sites", str(SITES), "--chargers", str(CHARGERS), "--duration", str(SIM_SECONDS)),
            *("--malformed-share", "0.02", "--faults-per-hour", "6", "--offline-per-hour", "2"),
        )
        sites = [f"SITE-{i:04d}" for i in range(SITES)]
        runner = Runner(dashboards, prometheus_url, cassandra_session, keyspace, instance, sites)

        # Data arrives in stages (Kafka -> worker -> Cassandra; scrapes every 2 s): poll until
        # every query has data, for one simulated site where the query is per site.
        problems: dict[str, str] = {}
        site = sites[0]
        deadline = time.monotonic() + DATA_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            worker.check_alive()
            problems, site = runner.problems(queries)
            if not problems:
                break
            time.sleep(2)
        assert not problems, (
            f"{len(problems)} of {len(queries)} dashboard queries without data after "
            f"{DATA_TIMEOUT_SECONDS} s (site {site}):\n"
            + "\n".join(f"- {k}: {v}" for k, v in sorted(problems.items()))
            + f"\nworker log:\n{worker.log()}"
        )
        print(f"{len(queries)} dashboard queries with data after {time.time() - started:.0f} s ({site})")
    finally:
        worker.stop()
