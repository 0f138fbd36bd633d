# `make lab` and `make test` each do all set-up on a fresh Debian 12 / Ubuntu 22.04 machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS := notebook,test,compose
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test setup system venv down lint unit clean

lab: setup
	$(BIN)/labkit up
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --no-browser $(ROOT_FLAG)

test: setup compose-setup
	$(BIN)/ruff check labkit tests
	$(BIN)/pytest tests

setup: system venv cassandra

system:
	@bash scripts/ensure-system-packages

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $@

.PHONY: cassandra
# Apache Cassandra's jars from Maven Central into the machine's cache (once; labkit/cassandra/jars.py).
cassandra: venv
	@$(BIN)/python -m labkit.cassandra.jars

down:
	$(BIN)/labkit down

lint: venv
	$(BIN)/ruff check labkit tests

unit: venv
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) *.egg-info

.PHONY: bench bench-check
bench: setup
	$(BIN)/python -m bench.run

bench-check: venv
	$(BIN)/python -m bench.check

.PHONY: binder-check
# Proof from nothing: the Binder steps in a fresh Debian chroot as a non-root user (needs root).
binder-check:
	bash scripts/binder-check

.PHONY: compose-setup
# The compose backend's engine and images (tests/compose needs them): Debian's docker.io and
# a running dockerd where no engine answers (as root), the base image from debootstrap where
# none can be pulled, then the node image (a cached build: only what changed is redone).
compose-setup: venv
	@bash scripts/compose-setup
	$(BIN)/python -m labkit.backends.compose.images

.PHONY: bench-compose
# The compose backend measured on containers: cached image build, start-up, VRRP failover gap.
bench-compose: setup compose-setup
	$(BIN)/python -m bench.compose
