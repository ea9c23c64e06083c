"""The build's one step beyond pyproject.toml: the pure, hot modules listed under
``[tool.chargestream] compiled`` are compiled with mypyc into C extensions beside their
sources (the worker's domain ran ~2.3x faster so: bench/RESULTS.md, session 17).

They are the same source files, type-checked as always: mypyc reads their annotations and
checks them at run time at the boundaries (a float where an int is declared raises
TypeError; an int where a float is declared becomes a float). A C compiler and the Python
headers are needed; ``CHARGESTREAM_PURE_PYTHON=1`` builds without compiling (the sources
then run as they are).

An extension loads before its .py file, so a source edited after a build would be ignored:
``agents/build_check.py`` refuses to start in a source tree whose build is stale, and
``make install`` rebuilds. Every build first removes the extensions of the last one, so a
module taken off the list does not keep running compiled.
"""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
EXTENSIONS = "agents/**/*.so"  # where the build puts its extensions (and `make pure` removes them)


def compiled_sources() -> list[str]:
    patterns = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["chargestream"]["compiled"]
    return sorted(str(p.relative_to(HERE)) for pattern in patterns for p in HERE.glob(pattern))


def remove_old_extensions() -> None:
    for old in [*HERE.glob(EXTENSIONS), *HERE.glob("chargestream__mypyc*.so")]:
        old.unlink()


def extensions() -> list[object]:
    if os.environ.get("CHARGESTREAM_PURE_PYTHON") == "1":
        return []
    from mypyc.build import mypycify

    # No config file: pyproject's [tool.mypy] loads the pydantic plugin, which the isolated
    # build does not have. The lint (`make lint`) type-checks these modules strictly; here
    # mypy only gives mypyc their types. orjson and fastjsonschema are not in the build
    # environment either: their values are Python objects to the compiled code.
    options = ["--config-file=", "--ignore-missing-imports"]
    return mypycify([*options, *compiled_sources()], group_name="chargestream", opt_level="3")


started = time.time()
remove_old_extensions()
setup(ext_modules=extensions())
# Dated at the build's start: a source saved while it ran is newer than its extension.
for built in HERE.glob(EXTENSIONS):
    os.utime(built, (started, started))
