# The two commands: `make demo` and `make test`. Both set themselves up from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_TOOLS := /usr/bin/chromium /usr/bin/gawk /usr/bin/jq /usr/bin/curl

.PHONY: test demo lab lint typecheck pytest setup system-deps clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[simulator,test,dev]"
	touch $(STAMP)

# Debian's Chromium for the browser tests (never `playwright install`: it cannot download here),
# gawk/jq/curl for the seeds' own shell examples. Installed only when missing.
system-deps:
	@missing=""; for f in $(SYSTEM_TOOLS); do [ -x $$f ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages for:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium gawk jq curl >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check kling_nb tests benchmarks
	$(BIN)/ruff format --check kling_nb tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/python -m kling_nb.demo notebooks/quickstart.ipynb --out demo-output

# JupyterLab on the notebooks; with no OXEN_API_KEY the kernel starts the bundled simulator itself.
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

clean:
	rm -rf $(VENV) dist build demo-output screenshots .pytest_cache .mypy_cache .ruff_cache
