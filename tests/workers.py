"""Real chargestream workers as subprocesses, configured through CHARGESTREAM_* env."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def delete_topics(bootstrap: str, prefix: str) -> None:
    """Remove the topics a test created (all named with its unique prefix)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    ours = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if ours:
        for f in admin.delete_topics(ours, operation_timeout=30).values():
            f.result(timeout=30)


@contextmanager
def kafka_stopped() -> Iterator[None]:
    """The local Kafka's process stopped (SIGSTOP) for the block: connections stay open, no
    request is answered."""
    from infra.local.config import LocalSettings
    from infra.local.manager import status

    pid = status(LocalSettings(), ["kafka"])[0].pid
    assert pid is not None, "the local Kafka is not running (make services)"
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def metric_sum(text: str, name: str, label: str = "") -> float:
    """The sum of a metric's samples in a Prometheus exposition (those whose line holds
    ``label``, e.g. `k="v"`)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.split("{", 1)[0].split(" ", 1)[0] == name and label in line
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 120, ok: bool = True) -> str:
    """Run ``python -m <args>`` with the settings env; its output (stdout, then stderr).
    Fails, with that output, unless it exits 0 (or, with ``ok=False``, unless it does not)."""
    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == ok, f"{args} exited {result.returncode}:\n{output}"
    return output


class Worker:
    def __init__(
        self, env: Mapping[str, str], data_dir: Path, web_host: str = "127.0.0.1", loglevel: str = "warn"
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "worker.log"
        self.web_host, self.web_port = web_host, free_port()
        full_env = {
            **os.environ,
            **env,
            "CHARGESTREAM_DATA_DIR": str(data_dir),
            "CHARGESTREAM_WEB_HOST": web_host,
            "CHARGESTREAM_WEB_PORT": str(self.web_port),
            "PYTHONPATH": str(REPO),
        }
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agents", "worker", "--loglevel", loglevel],
            cwd=REPO,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def metrics(self, page: str = "metrics") -> str:
        """The worker's Prometheus exposition text (or another page of its web server)."""
        url = f"http://{self.web_host}:{self.web_port}/{page}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    def check_alive(self) -> None:
        assert self.proc.poll() is None, f"worker exited {self.proc.returncode}:\n{self.log()}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
