"""Deployment artefacts, checked offline: Kubernetes manifests against the API's JSON schemas
(bundled by kubernetes-validate), the compose file against the Compose Specification schema
(vendored in tests/fixtures/compose-spec), the Dockerfile's shape, and that all of them
agree with the settings and topics the code defines."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from agents.config import Settings
from agents.migrate import topic_specs

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
EXAMPLES = K8S / "examples"
COMPOSE = ROOT / "infra" / "compose" / "compose.yaml"
COMPOSE_SCHEMA = ROOT / "tests" / "fixtures" / "compose-spec" / "compose-spec.json"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S_VERSION = "1.30.0"

WORKER_LABELS = {"app.kubernetes.io/name": "chargestream", "app.kubernetes.io/component": "worker"}
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
INPUT_TOPICS = {
    "ocpp.MeterValues",
    "ocpp.StartTransaction",
    "ocpp.StopTransaction",
    "ocpp.TransactionEvent",
    "ocpp.StatusNotification",
    "ocpp.NotifyEvent",
    "ocpp.Heartbeat",
    "ocpp.BootNotification",
}
COMPACTED_TOPICS = {
    "chargestream.alerts.v1",
    "chargestream.chargers.v1",
    "chargestream.connector.state.v1",
    "chargestream.site.status.v1",
    "chargestream.port.uptime.v1",
}
PLAIN_TOPICS = {
    "chargestream.site.power.v1",
    "chargestream.site.availability.v1",
    "chargestream.connector.status.v1",
}

Doc = dict[str, Any]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The manifests are compared with the code's defaults, not this machine's overrides.
    for name in os.environ:
        if name.startswith("CHARGESTREAM_"):
            monkeypatch.delenv(name)


def load_all(path: Path) -> list[Doc]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert all(isinstance(d, dict) for d in docs), f"{path}: every document must be a mapping"
    return docs


def base_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def base_docs() -> list[tuple[str, Doc]]:
    return [(p.name, d) for p in base_files() for d in load_all(p)]


def one(kind: str, docs: list[tuple[str, Doc]] | None = None) -> Doc:
    found = [d for _, d in (docs if docs is not None else base_docs()) if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def default(field: str) -> Any:
    return Settings.model_fields[field].default


# --- Kubernetes base ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc",
    [d for _, d in base_docs()],
    ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in base_docs()],
)
def test_base_manifests_match_the_kubernetes_schemas(doc: Doc) -> None:
    # strict: the schemas forbid unknown fields, so a misspelt or misplaced key fails here.
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} at {where or '(root)'}: {exc.message}")


def test_the_schema_check_catches_a_misplaced_field() -> None:
    # Guards the test above against passing vacuously (wrong version, lax mode, no schema).
    broken = copy.deepcopy(one("StatefulSet"))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = load_all(K8S / "kustomization.yaml")[0]
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    assert set(listed) == {p.name for p in base_files()} - {"secret.example.yaml"}
    assert kustomization["namespace"] == one("Namespace")["metadata"]["name"]
    images = {i["name"] for i in kustomization["images"]}
    used = {
        c["image"].split(":")[0]
        for _, d in base_docs()
        if "template" in d.get("spec", {})
        for c in pod_spec(d)["containers"]
    }
    assert used <= images, "kustomize would not set the tag of every image"


def test_secret_example_holds_placeholders_only() -> None:
    secret = one("Secret")
    assert "data" not in secret, "base64 data could hide a real value"
    assert secret["stringData"], "the example should name the keys it expects"
    assert set(secret["stringData"].values()) == {"REPLACE_ME"}


@pytest.mark.parametrize("kind", ["StatefulSet", "Job"])
def test_workloads_run_non_root_on_a_read_only_root(kind: str) -> None:
    spec = pod_spec(one(kind))
    ctx = spec["securityContext"]
    assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] != 0
    assert ctx["seccompProfile"]["type"] == "RuntimeDefault"
    volumes = {v["name"]: v for v in spec["volumes"]}
    for container in spec["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound])


def test_worker_statefulset_probes_state_and_scale() -> None:
    sts = one("StatefulSet")
    spec = pod_spec(sts)
    (worker,) = spec["containers"]
    assert worker["args"] == ["worker"]
    # Each pod its own static member, stable across its restarts: its name.
    (instance,) = [e for e in worker["env"] if e["name"] == "CHARGESTREAM_GROUP_INSTANCE_ID"]
    assert instance["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert ports == {"http": default("web_port")}
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert worker[probe]["httpGet"] == {"path": path, "port": "http"}, probe

    config = one("ConfigMap")["data"]
    partitions = int(config.get("CHARGESTREAM_TOPIC_PARTITIONS", default("topic_partitions")))
    assert sts["spec"]["replicas"] <= partitions, "workers beyond the partition count sit idle"
    assert "replicas must be <=" in (K8S / "statefulset.yaml").read_text()

    (claim,) = sts["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in worker["volumeMounts"]}
    # Faust creates the data directory but not its parent; replays use siblings of it.
    assert Path(config["CHARGESTREAM_DATA_DIR"]).parent == Path(mounts[claim["metadata"]["name"]])
    assert sts["spec"]["template"]["metadata"]["labels"].items() >= WORKER_LABELS.items()
    assert sts["spec"]["selector"]["matchLabels"] == WORKER_LABELS
    anti = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == WORKER_LABELS
    assert spec["terminationGracePeriodSeconds"] >= 30
    assert sts["spec"]["updateStrategy"]["type"] == "RollingUpdate"


def test_service_and_pdb_select_the_worker() -> None:
    sts, service, pdb = one("StatefulSet"), one("Service"), one("PodDisruptionBudget")
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == WORKER_LABELS
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == default("web_port")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": WORKER_LABELS}}
    assert pod_spec(one("Job"))["containers"][0]["args"] == ["migrate"]


# --- Settings: every CHARGESTREAM_* variable we set is one the code reads ------------------


def settings_env() -> Iterator[tuple[str, str, str]]:
    """(where, name, value) of every CHARGESTREAM_* variable the artefacts set."""
    for name, value in one("ConfigMap")["data"].items():
        yield "configmap.yaml", name, value
    for service_name, service in compose()["services"].items():
        for name, value in service.get("environment", {}).items():
            if name.startswith("CHARGESTREAM_"):
                yield f"compose {service_name}", name, str(value)
    for name, value in dockerfile_env().items():
        if name.startswith("CHARGESTREAM_"):
            yield "Dockerfile", name, value


def test_every_setting_is_a_field_and_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    by_place: dict[str, dict[str, str]] = {}
    for where, name, value in settings_env():
        field = name.removeprefix("CHARGESTREAM_").lower()
        assert name.startswith("CHARGESTREAM_") and field in Settings.model_fields, f"{where}: unknown {name}"
        by_place.setdefault(where, {})[name] = value
    for env in by_place.values():
        # Read from the environment, as the container does: raises on a value it would reject.
        with monkeypatch.context() as scoped:
            for name, value in env.items():
                scoped.setenv(name, value)
            Settings()


# --- CRD examples (Strimzi, K8ssandra): no schemas offline, so structure and agreement ------


@pytest.mark.parametrize(
    ("path", "kinds"),
    [
        (EXAMPLES / "strimzi-kafka.yaml", {"Kafka", "KafkaNodePool", "KafkaTopic"}),
        (EXAMPLES / "k8ssandra-cluster.yaml", {"K8ssandraCluster"}),
    ],
    ids=["strimzi", "k8ssandra"],
)
def test_crd_examples_parse_with_the_expected_kinds(path: Path, kinds: set[str]) -> None:
    docs = load_all(path)
    for doc in docs:
        assert isinstance(doc.get("apiVersion"), str) and "/" in doc["apiVersion"]
        assert DNS_SUBDOMAIN.fullmatch(doc["metadata"]["name"]), doc["metadata"]["name"]
    assert {d["kind"] for d in docs} == kinds


def test_strimzi_topics_match_what_migrate_creates() -> None:
    docs = [("strimzi-kafka.yaml", d) for d in load_all(EXAMPLES / "strimzi-kafka.yaml")]
    kafka = one("Kafka", docs)
    cluster, namespace = kafka["metadata"]["name"], kafka["metadata"]["namespace"]
    assert one("KafkaNodePool", docs)["metadata"]["labels"]["strimzi.io/cluster"] == cluster
    bootstrap = one("ConfigMap")["data"]["CHARGESTREAM_KAFKA_BOOTSTRAP"]
    assert bootstrap.startswith(f"{cluster}-kafka-bootstrap.{namespace}.svc:")

    topics = {d["spec"]["topicName"]: d for _, d in docs if d["kind"] == "KafkaTopic"}
    assert len(topics) == sum(d["kind"] == "KafkaTopic" for _, d in docs), "a topic is declared twice"
    for doc in topics.values():
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == cluster
    assert topics.keys() >= INPUT_TOPICS | COMPACTED_TOPICS | PLAIN_TOPICS
    for name in INPUT_TOPICS:
        assert topics[name]["spec"]["partitions"] == 8
    for name in COMPACTED_TOPICS:
        assert topics[name]["spec"]["config"]["cleanup.policy"] == "compact"
    for name in PLAIN_TOPICS:
        assert "cleanup.policy" not in topics[name]["spec"].get("config", {})

    # migrate skips existing topics, so the example must already be what it would create.
    for name, (partitions, config) in topic_specs(Settings()).items():
        assert name in topics, f"{name}: created by migrate, missing from the example"
        spec = topics[name]["spec"]
        assert spec["partitions"] == partitions, name
        assert {k: str(v) for k, v in spec.get("config", {}).items()}.items() >= config.items(), name


def test_k8ssandra_cluster_matches_the_configmap() -> None:
    (cluster,) = load_all(EXAMPLES / "k8ssandra-cluster.yaml")
    cassandra = cluster["spec"]["cassandra"]
    assert cassandra["superuserSecretRef"]["name"]
    (dc,) = cassandra["datacenters"]
    assert dc["size"] == 3
    assert dc["storageConfig"]["cassandraDataVolumeClaimSpec"]["resources"]["requests"]["storage"]
    config = one("ConfigMap")["data"]
    assert config["CHARGESTREAM_CASSANDRA_LOCAL_DC"] == dc["metadata"]["name"]
    name, namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
    # cass-operator's service for a datacenter: <cluster>-<dc>-service
    service = f"{name}-{dc['metadata']['name']}-service.{namespace}.svc"
    assert config["CHARGESTREAM_CASSANDRA_CONTACT_POINTS"] == service


# --- Compose -------------------------------------------------------------------------------


@cache
def compose_schema() -> Doc:
    schema: Doc = json.loads(COMPOSE_SCHEMA.read_text())
    return schema


def compose() -> Doc:
    doc: Doc = yaml.safe_load(COMPOSE.read_text())
    return doc


def compose_errors(doc: Doc) -> list[str]:
    cls = jsonschema.validators.validator_for(compose_schema())
    cls.check_schema(compose_schema())
    errors = cls(compose_schema()).iter_errors(doc)
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def test_compose_file_matches_the_compose_spec() -> None:
    assert compose_errors(compose()) == []


def test_the_compose_check_catches_a_bad_field() -> None:
    broken = compose()
    broken["services"]["worker"]["depends_on"]["migrate"]["condition"] = "service_done"
    broken["services"]["worker"]["restart_policy"] = "always"
    assert len(compose_errors(broken)) >= 2


def test_compose_publishes_ports_on_loopback_only() -> None:
    published = 0
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            published += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                # Short syntax: only IP:HOST:CONTAINER names the interface; anything else is 0.0.0.0.
                assert str(port).startswith("127.0.0.1:") and str(port).count(":") == 2, f"{name}: {port}"
    assert published > 0


def test_compose_services_start_in_order() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for target, dep in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if dep["condition"] == "service_healthy":
                # A check of its own, or our image's HEALTHCHECK; a disabled one never turns healthy.
                check = services[target].get("healthcheck", {})
                assert check or "build" in services[target], f"{name} waits on {target}, which has no check"
                assert not check.get("disable"), f"{name} waits on {target}, whose check is disabled"
            if dep["condition"] == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", target

    worker, migrate = services["worker"], services["migrate"]
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert (COMPOSE.parent / worker["build"]["context"]).resolve() == ROOT
    assert worker["environment"]["CHARGESTREAM_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert worker["environment"]["CHARGESTREAM_CASSANDRA_CONTACT_POINTS"] == "cassandra"
    assert worker["environment"]["CHARGESTREAM_ALERTMANAGER_URL"] == "http://alertmanager:9093"
    assert migrate["command"] == ["migrate"]
    # The image's HEALTHCHECK probes the worker's HTTP server, which other subcommands lack.
    for name in ("migrate", "simulator"):
        assert services[name]["healthcheck"] == {"disable": True}, name
    assert services["simulator"]["profiles"] == ["simulator"]
    assert "hadesarchitect-cassandra-datasource" in services["grafana"]["environment"]["GF_INSTALL_PLUGINS"]


def test_compose_bind_mounts_stay_inside_the_repository() -> None:
    volumes = set(compose().get("volumes", {}))
    for name, service in compose()["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0] if isinstance(mount, str) else mount.get("source", "")
            if source in volumes:
                continue
            assert source.startswith("."), f"{name}: {source} is machine-specific"
            assert (COMPOSE.parent / source).resolve().is_relative_to(ROOT / "infra"), f"{name}: {source}"


# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            joined.append(pending.strip())
            pending = ""
    return [(i.split(None, 1)[0].upper(), i.split(None, 1)[1]) for i in joined]


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in dockerfile_instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in dockerfile_stages()[-1]:
        if keyword == "ENV":
            for item in shlex.split(args):
                name, value = item.split("=", 1)
                env[name] = value
    return env


def test_dockerfile_is_multi_stage_with_a_slim_runtime() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    args: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            break  # only ARGs before the first FROM apply to FROM lines
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            args[name] = value
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], stages[-1][0][1].split()[0])
    assert base == "python:3.11-slim"
    builder = " ".join(rest for keyword, rest in stages[0] if keyword == "RUN")
    assert "pip install -c constraints.txt ." in builder


def test_dockerfile_runtime_stage_runs_the_cli_as_non_root() -> None:
    runtime = dockerfile_stages()[-1]

    def last(keyword: str) -> str:
        values = [rest for k, rest in runtime if k == keyword]
        assert values, f"no {keyword} in the runtime stage"
        return values[-1]

    user = last("USER").split(":")[0]
    assert user not in {"root", "0"}
    assert last("WORKDIR") == "/app"
    assert str(default("web_port")) in last("EXPOSE").split()
    assert json.loads(last("ENTRYPOINT")) == ["chargestream"]
    assert json.loads(last("CMD")) == ["worker"]
    healthcheck = last("HEALTHCHECK")
    assert "/healthz" in healthcheck and "urllib" in healthcheck and "curl" not in healthcheck
    env = dockerfile_env()
    assert Path(env["CHARGESTREAM_DATA_DIR"]).parent == Path("/var/lib/chargestream")
    assert "/var/lib/chargestream" in last("RUN"), "the state dir must exist, owned by the user"
    assert env["CHARGESTREAM_WEB_HOST"] == "0.0.0.0"


def test_dockerignore_lets_in_what_the_build_copies() -> None:
    patterns = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines() if ln.strip() and ln[0] != "#"]
    assert patterns[0] == "*", "an allow-list keeps .git, .venv and local state out of the context"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = {
        src
        for keyword, rest in dockerfile_instructions()
        if keyword == "COPY" and not rest.startswith("--from")
        for src in rest.split()[:-1]
    }
    assert copied <= allowed
