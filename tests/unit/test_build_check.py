"""The compiled modules (setup.py) are what the tests run, and a stale build is refused."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import tomllib
from pathlib import Path

import pytest

from agents.build_check import StaleBuild, check, stale_sources

ROOT = Path(__file__).resolve().parents[2]


def compiled_modules() -> list[str]:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["chargestream"]["compiled"]
    paths = sorted(p.relative_to(ROOT) for pattern in patterns for p in ROOT.glob(pattern))
    return [".".join(p.with_suffix("").parts).removesuffix(".__init__") for p in paths]


@pytest.mark.skipif(
    os.environ.get("CHARGESTREAM_PURE_PYTHON") == "1", reason="installed without compiling, as asked"
)
def test_the_listed_modules_run_compiled() -> None:
    modules = compiled_modules()
    assert "agents.domain.charger" in modules and "agents.codec" in modules
    for name in modules:
        found = importlib.import_module(name).__file__ or ""
        assert found.endswith(".so"), f"{name} is not compiled: `make install` compiles it"


@pytest.mark.skipif(
    os.environ.get("CHARGESTREAM_PURE_PYTHON") == "1", reason="installed without compiling, as asked"
)
def test_the_written_out_inits_run_compiled() -> None:
    """The domain's per-message classes write out ``__init__`` so that it compiles (the one
    ``@dataclass`` generates stays interpreted: agents/domain/__init__.py)."""
    written = [
        cls
        for name in compiled_modules()
        if name.startswith("agents.domain")
        for cls in vars(importlib.import_module(name)).values()
        if isinstance(cls, type) and dataclasses.is_dataclass(cls) and not cls.__dataclass_params__.init  # type: ignore[attr-defined]
    ]
    assert {c.__name__ for c in written} >= {"Point", "MeterReading", "Envelope", "ChargerStatus"}
    for cls in written:
        assert not inspect.isfunction(cls.__init__), f"{cls.__qualname__}.__init__ is interpreted"


def _tree(tmp_path: Path) -> Path:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "setup.py").write_text("")
    for name in ("a", "sub/b"):
        (package / f"{name}.py").write_text("")
        (package / f"{name}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    return package


def _age(path: Path, seconds: float) -> None:
    at = path.stat().st_mtime - seconds
    os.utime(path, (at, at))


def test_a_source_newer_than_its_extension_is_stale(tmp_path: Path) -> None:
    package = _tree(tmp_path)
    _age(package / "sub/b.cpython-311-x86_64-linux-gnu.so", 10)
    assert stale_sources(package) == [package / "sub/b.py"]
    with pytest.raises(StaleBuild, match=r"pkg/sub/b\.py changed .* `make install`"):
        check(package)


def test_an_extension_without_its_source_is_stale(tmp_path: Path) -> None:
    package = _tree(tmp_path)
    for source in package.rglob("*.py"):
        _age(source, 10)
    (package / "a.py").unlink()  # a module removed, or an older revision checked out
    assert stale_sources(package) == [package / "a.py"]


def test_a_fresh_build_passes(tmp_path: Path) -> None:
    package = _tree(tmp_path)
    for source in package.rglob("*.py"):
        _age(source, 10)
    assert stale_sources(package) == []
    check(package)


def test_an_installed_package_is_not_checked(tmp_path: Path) -> None:
    package = _tree(tmp_path)
    (tmp_path / "pyproject.toml").unlink()
    _age(package / "a.cpython-311-x86_64-linux-gnu.so", 10)
    check(package)  # a wheel's files: nothing to edit, their times mean nothing
