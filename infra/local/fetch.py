"""Get what the services run on, only when it is missing: JDK 17, jars, binaries.

Jars come from Maven Central through the poms beside this file, into a cache
directory keyed by the pom's content (a changed pin fetches anew). Prometheus and
Alertmanager come from Debian packages. Nothing fetched is ever placed in the repo.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
JVM_ROOT = Path("/usr/lib/jvm")
MAVEN_TIMEOUT_SECONDS = 900
APT_TIMEOUT_SECONDS = 900

# Debian package that provides each binary we need.
DEBIAN_PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "mvn": "maven",
}


class FetchError(RuntimeError):
    """Something the services need could not be installed; the message says what to do."""


def java_home(configured: Path | None) -> Path:
    """A JDK 17 home: Cassandra 5.0 does not run on the newer JDK also on the machine."""
    if configured is not None:
        if not (configured / "bin" / "java").exists():
            raise FetchError(f"CHARGESTREAM_LOCAL_JAVA_HOME={configured} has no bin/java")
        return configured
    found = _find_jdk17()
    if found is None:
        ensure_debian_packages(["openjdk-17-jdk-headless"])
        found = _find_jdk17()
    if found is None:
        raise FetchError("no JDK 17 under /usr/lib/jvm; install one or set CHARGESTREAM_LOCAL_JAVA_HOME")
    return found


def _find_jdk17() -> Path | None:
    if not JVM_ROOT.is_dir():
        return None
    for home in sorted(JVM_ROOT.iterdir()):
        if "17" in home.name and (home / "bin" / "java").exists() and not home.is_symlink():
            return home
    for home in sorted(JVM_ROOT.iterdir()):  # only symlinks named for 17 (e.g. java-17-openjdk-amd64)
        if "17" in home.name and (home / "bin" / "java").exists():
            return home.resolve()
    return None


def binary(name: str) -> str:
    """Path of a binary from a Debian package, installing the package if missing."""
    path = shutil.which(name)
    if path is None:
        ensure_debian_packages([DEBIAN_PACKAGES[name]])
        path = shutil.which(name)
    if path is None:
        raise FetchError(f"{name} is not on PATH even after installing {DEBIAN_PACKAGES[name]}")
    return path


def ensure_debian_packages(packages: list[str]) -> None:
    if os.geteuid() != 0:
        names = " ".join(packages)
        raise FetchError(f"missing Debian packages: run `sudo apt-get install -y {names}`, then retry")
    _apt_update()
    _run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        env=_APT_ENV,
        timeout=APT_TIMEOUT_SECONDS,
    )


_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


@functools.cache
def _apt_update() -> None:
    """Once per process: a fresh machine's package lists are empty or stale."""
    _run(["apt-get", "update", "-qq"], env=_APT_ENV, timeout=APT_TIMEOUT_SECONDS)


def jars(service: str, cache_dir: Path, jdk: Path) -> Path:
    """Directory holding every runtime jar of ``infra/local/<service>.pom.xml``."""
    pom = HERE / f"{service}.pom.xml"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    target = cache_dir / "jars" / f"{service}-{digest}"
    done = target / ".complete"
    if done.exists():
        return target
    mvn = binary("mvn")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ],
        env={**os.environ, "JAVA_HOME": str(jdk)},
        timeout=MAVEN_TIMEOUT_SECONDS,
    )
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    done.touch()
    return target


def _run(argv: list[str], env: dict[str, str], timeout: float) -> None:
    try:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FetchError(f"`{' '.join(argv)}` did not finish in {timeout:.0f} s") from exc
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-20:]
        raise FetchError(f"`{' '.join(argv)}` failed ({result.returncode}):\n" + "\n".join(tail))
