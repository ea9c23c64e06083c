"""The Prometheus configuration, rules and rule unit tests in infra/prometheus, checked by
promtool (from the Debian prometheus package that infra.local installs). promtool missing
is a failure: these files would otherwise ship untested."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "infra" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
TIMEOUT_SECONDS = 60


def promtool() -> str:
    found = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if found is None:
        pytest.fail(
            "promtool not found (on PATH or at /usr/bin/promtool); `python -m infra.local up prometheus` "
            "installs it with the Debian prometheus package"
        )
    return found


def run_promtool(*args: str) -> str:
    result = subprocess.run(
        [promtool(), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    output = f"{result.stdout}\n{result.stderr}".strip()
    assert result.returncode == 0, f"promtool {' '.join(args)} failed ({result.returncode}):\n{output}"
    return output


def test_the_files_exist() -> None:
    assert RULES, "no rule files in infra/prometheus/rules"
    assert RULE_TESTS, "no promtool tests in infra/prometheus/tests"


def test_rules_are_valid() -> None:
    out = run_promtool("check", "rules", *map(str, RULES))
    assert "SUCCESS" in out, out


def test_compose_prometheus_config_is_valid_and_loads_the_rules() -> None:
    out = run_promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert f"SUCCESS: {len(RULES)} rule files found" in out, out


def test_rule_unit_tests_pass() -> None:
    out = run_promtool("test", "rules", *map(str, RULE_TESTS))
    assert "SUCCESS" in out, out


def test_every_rule_is_covered_by_the_unit_tests() -> None:
    """Each alert fires in some test and is expected quiet in another; each recorded series
    has its value checked in a promql_expr_test."""
    import yaml

    alerts: set[str] = set()
    records: set[str] = set()
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    alerts.add(rule["alert"])
                else:
                    records.add(rule["record"])
    fires: set[str] = set()
    quiet: set[str] = set()
    checked: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for t in case.get("alert_rule_test", []):
                (fires if t.get("exp_alerts") else quiet).add(t["alertname"])
            checked.update(t["expr"] for t in case.get("promql_expr_test", []) if t.get("exp_samples"))
    assert alerts - fires == set(), f"alerts never expected to fire: {sorted(alerts - fires)}"
    assert alerts - quiet == set(), f"alerts never expected quiet: {sorted(alerts - quiet)}"
    assert records - checked == set(), f"recording rules not checked: {sorted(records - checked)}"
