"""Refuse to run a source tree whose compiled modules are older than their sources.

setup.py compiles some modules with mypyc into C extensions beside their .py files, and
Python loads an extension before a source of the same name: a module edited after the
build would silently run as it was. Installed from a wheel there is nothing to edit, so
only a source tree (pyproject.toml and setup.py beside the package) is checked.
"""

from __future__ import annotations

from pathlib import Path


class StaleBuild(ImportError):
    pass


def stale_sources(package: Path) -> list[Path]:
    """The .py files under ``package`` changed after their extension was built (setup.py
    dates each extension at the build's start), or gone while it stays (it would still
    load: a module removed, or an older revision checked out)."""
    stale = []
    for extension in package.rglob("*.so"):
        source = extension.with_name(extension.name.split(".", 1)[0] + ".py")
        if not source.exists() or source.stat().st_mtime > extension.stat().st_mtime:
            stale.append(source)
    return sorted(stale)


def check(package: Path) -> None:
    root = package.parent
    if not ((root / "pyproject.toml").exists() and (root / "setup.py").exists()):
        return
    stale = stale_sources(package)
    if stale:
        names = ", ".join(str(p.relative_to(package.parent)) for p in stale)
        raise StaleBuild(
            f"{names} changed or removed after the compiled modules were built (setup.py): `make install`"
            " rebuilds them, `make pure` removes them to run the sources as they are"
        )
