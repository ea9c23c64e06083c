# chargestream developer commands. The two that matter:
#   make demo   run the main job on local services
#   make test   everything CI checks: install, lint, types, local services, all tests
# Both install what they need (a venv in .venv, jars, Debian packages) on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall whenever the dependency pins change.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
# ... and whenever a module compiled at install changes (setup.py, pyproject's
# [tool.chargestream] compiled).
COMPILED := $(wildcard $(shell $(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["chargestream"]["compiled"])'))

.PHONY: install demo test lint unit services down status lock clean bench pure

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt setup.py $(COMPILED)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

demo: install
	$(BIN)/chargestream demo

test: install lint services
	$(BIN)/pytest --durations=10

bench: install services
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy setup.py

unit: install
	$(BIN)/pytest tests/unit

services: install
	$(BIN)/python -m infra.local up

down: install
	$(BIN)/python -m infra.local down

status: install
	$(BIN)/python -m infra.local status

lock: install
	{ head -2 constraints.txt; $(BIN)/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# Run the compiled modules from their sources, until the next install (which compiles).
pure:
	find agents -name '*.so' -delete
	rm -f chargestream__mypyc*.so $(VENV)/.installed-*

clean: down pure
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build
