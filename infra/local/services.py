"""The four local services: how each is configured, started and judged ready.

Each service renders its config from ``templates/`` into the state directory, names
the command that runs it, and answers ``ready()`` with a real client call (an open
port is not enough: Kafka must return a broker in metadata, Cassandra must answer CQL).
"""

from __future__ import annotations

import base64
import logging
import ssl
import urllib.request
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from string import Template

from . import fetch
from .config import LocalSettings
from .process import port_open

TEMPLATES = Path(__file__).resolve().parent / "templates"

# From Cassandra 5.0's conf/jvm17-server.options: module access that jamm, chronicle
# and Cassandra's own internals need on Java 17.
CASSANDRA_JVM17 = [
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:G1RSetUpdatingPauseTimePercent=5",
    "-XX:MaxGCPauseMillis=300",
    "-Djdk.attach.allowAttachSelf=true",
    *[
        f"--add-exports={m}=ALL-UNNAMED"
        for m in (
            "java.base/jdk.internal.misc",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "java.base/java.lang.ref",
            "jdk.unsupported/sun.misc",
            "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach",
        )
    ],
    *[
        f"--add-opens={m}=ALL-UNNAMED"
        for m in (
            "java.base/java.lang.module",
            "java.base/jdk.internal.loader",
            "java.base/jdk.internal.ref",
            "java.base/jdk.internal.reflect",
            "java.base/jdk.internal.math",
            "java.base/jdk.internal.module",
            "java.base/jdk.internal.util.jar",
            "jdk.management/com.sun.management.internal",
            "java.base/sun.nio.ch",
            "java.base/java.io",
            "java.base/java.lang.reflect",
            "jdk.compiler/com.sun.tools.javac",
            "java.base/java.lang",
            "java.base/java.util",
        )
    ],
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
]


def fill(template: str, **values: object) -> str:
    return Template((TEMPLATES / template).read_text()).substitute({k: str(v) for k, v in values.items()})


def render(template: str, target: Path, **values: object) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(fill(template, **values))
    return target


class Service(ABC):
    name: str

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.home = settings.state_dir / self.name

    @property
    def marker(self) -> str:
        """A string only our process of this service has on its command line."""
        return str(self.config_file)

    @property
    @abstractmethod
    def config_file(self) -> Path: ...

    @property
    @abstractmethod
    def ports(self) -> list[int]: ...

    @property
    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def prepare(self) -> list[str]:
        """Fetch what is missing, write config; return the argv that runs the service."""

    @abstractmethod
    def ready(self) -> bool: ...

    def env(self) -> dict[str, str]:
        return {}


class Kafka(Service):
    name = "kafka"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def ports(self) -> list[int]:
        return [self.settings.kafka_port, self.settings.kafka_controller_port]

    @property
    def address(self) -> str:
        return self.settings.kafka_bootstrap

    def prepare(self) -> list[str]:
        s = self.settings
        jdk = fetch.java_home(s.java_home)
        classpath = str(fetch.jars("kafka", s.cache_dir, jdk) / "*")
        data_dir = self.home / "data"
        protocol, secure, scram = "PLAINTEXT", "", []
        if s.secure_dir:  # SASL_SSL only; the SCRAM user is created when the storage is formatted
            protocol = "SASL_SSL"
            secure = fill(
                "kafka-secure.properties", username=s.secure_username, password=s.password, dir=s.secure_dir
            )
            scram = ["--add-scram", f"SCRAM-SHA-512=[name={s.secure_username},password={s.password}]"]
        render(
            "kafka.properties",
            self.config_file,
            port=s.kafka_port,
            controller_port=s.kafka_controller_port,
            data_dir=data_dir,
            protocol=protocol,
            secure=secure,
        )
        log4j = render("log4j2.xml", self.home / "log4j2.xml")
        java = [
            str(jdk / "bin" / "java"),
            f"-Xms{s.kafka_heap}",
            f"-Xmx{s.kafka_heap}",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
        ]
        if not (data_dir / "meta.properties").exists():
            # KRaft storage is formatted once, with a cluster id kept for its lifetime.
            fetch._run(
                [
                    *java,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _kafka_cluster_id(),
                    "-c",
                    str(self.config_file),
                    "--ignore-formatted",
                    *scram,
                ],
                env={},
                timeout=120,
            )
        return [*java, "kafka.Kafka", str(self.config_file)]

    def ready(self) -> bool:
        if not port_open(self.settings.kafka_port):
            return False
        from confluent_kafka.admin import AdminClient

        config: dict[str, str | int | float] = {
            "bootstrap.servers": self.address,
            "log_level": 0,
            "socket.timeout.ms": 2000,
        }
        admin = AdminClient({**config, **self.client_config()})
        try:
            metadata = admin.list_topics(timeout=3)
        except Exception:  # KafkaException while the broker is still starting
            return False
        return bool(metadata.brokers)

    def client_config(self) -> dict[str, str]:
        """What a librdkafka client needs on top of the bootstrap address."""
        s = self.settings
        if not s.secure_dir:
            return {}
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": s.secure_username,
            "sasl.password": s.password,
            "ssl.ca.location": str(s.secure_dir / "ca.pem"),
        }


def _kafka_cluster_id() -> str:
    # Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding,
    # never starting with '-' (the CLI would read it as an option).
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class Cassandra(Service):
    name = "cassandra"

    @property
    def config_file(self) -> Path:
        return self.home / "conf" / "cassandra.yaml"

    @property
    def ports(self) -> list[int]:
        return [self.settings.cassandra_port, self.settings.cassandra_storage_port]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.cassandra_port}"

    def prepare(self) -> list[str]:
        s = self.settings
        jdk = fetch.java_home(s.java_home)
        lib = fetch.jars("cassandra", s.cache_dir, jdk)
        jamm = next(lib.glob("jamm-*.jar"))
        render(
            "cassandra.yaml",
            self.config_file,
            storage_port=s.cassandra_storage_port,
            native_port=s.cassandra_port,
            data_dir=self.home / "data",
            authenticator="PasswordAuthenticator" if s.secure_dir else "AllowAllAuthenticator",
            client_encryption=fill("cassandra-tls.yaml", dir=s.secure_dir) if s.secure_dir else "",
        )
        logback = render("logback.xml", self.home / "conf" / "logback.xml")
        return [
            str(jdk / "bin" / "java"),
            f"-Xms{s.cassandra_heap}",
            f"-Xmx{s.cassandra_heap}",
            "-Xss256k",
            "-XX:+ExitOnOutOfMemoryError",
            *CASSANDRA_JVM17,
            f"-javaagent:{jamm}",
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.config=file://{self.config_file}",
            f"-Dcassandra.storagedir={self.home / 'data'}",
            f"-Dcassandra.logdir={s.state_dir / 'logs'}",
            f"-Dlogback.configurationFile={logback}",
            f"-Djna.tmpdir={self.home / 'tmp'}",
            f"-Dcassandra.triggers_dir={self.home / 'triggers'}",
            "-Djava.net.preferIPv4Stack=true",
            "-Dchronicle.analytics.disable=true",
            # Single node: nothing to gossip with, no reason to wait for it.
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-Dcassandra.superuser_setup_delay_ms=0",
            "-cp",
            f"{self.home / 'conf'}:{lib}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def env(self) -> dict[str, str]:
        for sub in ("tmp", "triggers"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        return {}

    def ready(self) -> bool:
        if not port_open(self.settings.cassandra_port):
            return False
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy

        logging.getLogger("cassandra").setLevel(logging.CRITICAL)
        s = self.settings
        profile = ExecutionProfile(
            load_balancing_policy=DCAwareRoundRobinPolicy(local_dc="datacenter1"), request_timeout=5
        )
        secure: dict[str, object] = {}
        if s.secure_dir:
            from cassandra.auth import PlainTextAuthProvider

            # The superuser Cassandra creates on first start; it then makes ours.
            secure = {
                "auth_provider": PlainTextAuthProvider("cassandra", "cassandra"),
                "ssl_context": ssl.create_default_context(cafile=str(s.secure_dir / "ca.pem")),
            }
        cluster = Cluster(
            ["127.0.0.1"],
            port=s.cassandra_port,
            connect_timeout=3,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            protocol_version=5,
            **secure,
        )
        try:
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local").one()
            if row is not None and s.secure_dir:
                session.execute(
                    f"CREATE ROLE IF NOT EXISTS {s.secure_username} WITH PASSWORD = %s "
                    "AND LOGIN = true AND SUPERUSER = true",
                    (s.password,),
                )
            return row is not None
        except Exception:  # NoHostAvailable, OperationTimedOut, AuthenticationFailed: still booting
            return False
        finally:
            cluster.shutdown()


class _HttpService(Service):
    """Prometheus and Alertmanager: Debian binaries that answer GET /-/ready."""

    binary: str
    template: str

    @property
    def config_file(self) -> Path:
        return self.home / f"{self.name}.yml"

    @property
    def port(self) -> int:
        return int(getattr(self.settings, f"{self.name}_port"))

    @property
    def ports(self) -> list[int]:
        return [self.port]

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.address}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False


class Prometheus(_HttpService):
    name = "prometheus"

    def prepare(self) -> list[str]:
        s = self.settings
        binary = fetch.binary("prometheus")
        s.prometheus_targets_dir.mkdir(parents=True, exist_ok=True)
        render(
            "prometheus.yml",
            self.config_file,
            scrape_interval=s.prometheus_scrape_interval,
            alertmanager_port=s.alertmanager_port,
            targets_dir=s.prometheus_targets_dir,
        )
        return [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.home / 'data'}",
            "--storage.tsdb.retention.time=7d",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]


class Alertmanager(_HttpService):
    name = "alertmanager"

    def prepare(self) -> list[str]:
        binary = fetch.binary("prometheus-alertmanager")
        render("alertmanager.yml", self.config_file)
        return [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.path={self.home / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]  # empty: no gossip, no extra port


SERVICES: dict[str, type[Service]] = {cls.name: cls for cls in (Kafka, Cassandra, Prometheus, Alertmanager)}
