# `make lab` and `make test` each do all set-up on a fresh Debian 12 / Ubuntu 22.04 machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS := notebook,test,compose,classroom
# Dependencies: pyproject.toml declares them, requirements.lock pins them (for EXTRAS, on Python
# LOCK_PYTHON on x86_64 Linux: Debian 12 and Binder), `make deps` re-locks (README "Dependencies").
LOCK := requirements.lock
LOCK_PYTHON := 3.11
UV_VERSION := 0.13.9
UV ?= $(BIN)/uv
# The classroom's virtualenv and its interpreter (see classroom-setup below)
CLASS_PYTHON ?= /usr/bin/python3
CLASS_VENV := classroom/.venv
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test setup system venv down lint unit clean deps deps-check

lab: setup
	$(BIN)/labkit up
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --no-browser $(ROOT_FLAG)

test: setup compose-setup classroom-setup
	$(BIN)/ruff check labkit tests scripts classroom
	$(BIN)/pytest --durations=30 tests
	bash scripts/test-rootless

setup: system venv cassandra

system:
	@bash scripts/ensure-system-packages

venv: $(VENV)/.installed

# Exactly the lock's pins, then labkit itself without resolving anything again (pip is enough:
# uv is needed only by `make deps`).
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	touch $@

comma := ,
# Re-lock pyproject.toml with uv (pins that still fit are kept; `make deps UPGRADE=1` takes the
# newest of everything), then write environment.yml and binder/requirements.txt from the lock.
deps: $(UV) $(BIN)/python
	$(UV) pip compile pyproject.toml $(patsubst %,--extra %,$(subst $(comma), ,$(EXTRAS))) \
	  --python-version $(LOCK_PYTHON) --python-platform x86_64-manylinux_2_28 \
	  --custom-compile-command 'make deps' $(if $(UPGRADE),--upgrade,) -q -o $(LOCK)
	$(BIN)/python scripts/gen-deps

# Whether environment.yml, binder/requirements.txt and the lock agree with pyproject.toml.
deps-check: $(BIN)/python
	$(BIN)/python scripts/gen-deps --check

# gen-deps needs `packaging`: any venv's pip carries it.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv at a fixed version (its output format is part of the lock), beside the project's venv.
$(BIN)/uv: $(BIN)/python
	$(BIN)/pip install -q uv==$(UV_VERSION)

.PHONY: cassandra
# Apache Cassandra's jars from Maven Central into the machine's cache (once; labkit/cassandra/jars.py),
# then its class archive, which both ring nodes map instead of loading each class (cds.py).
cassandra: venv
	@$(BIN)/python -m labkit.cassandra.jars
	@$(BIN)/python -m labkit.cassandra.cds

down:
	$(BIN)/labkit down

lint: venv
	$(BIN)/ruff check labkit tests scripts classroom

unit: venv
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) *.egg-info

.PHONY: bench bench-check bench-netns bench-soak
# Local figures, the soak and the gap/timer curve, then the spine on netns (as root) and
# compose (Docker) beside them: as root the engine and images are set up first, so one run on a
# fresh machine measures all three.
bench: setup
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory compose-setup; fi
	$(BIN)/python -m bench.run

# The false-failover soak (BENCH_SOAK_SECONDS, default 600, under a CPU hog, no faults) and the
# VIP gap per advert interval (BENCH_CURVE_RUNS crashes each) alone: bench/results-soak.json.
bench-soak: setup
	$(BIN)/python -m bench.soak

# The spine on a netns lab alone (root): bench/results-netns.json, held to the local figures.
bench-netns: setup
	$(BIN)/python -m bench.netns

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

.PHONY: bench-classroom
# Classroom capacity (as root): N learners' labs at once, N = 1..BENCH_LEARNERS, one local user
# each, as the hub starts them; bench/results-classroom.json (docs/instructor-classroom.md).
BENCH_LEARNERS ?= 3
bench-classroom: setup classroom-setup
	$(BIN)/python -m bench.classroom --max $(BENCH_LEARNERS)

.PHONY: bench-compose
# The compose backend measured on containers: cached image build, start-up, VRRP failover gap.
bench-compose: setup compose-setup
	$(BIN)/python -m bench.compose

.PHONY: classroom classroom-setup
# JupyterHub's proxy (configurable-http-proxy, pinned by classroom/package-lock.json) from npm
# into classroom/node_modules: nothing installed outside the project.
classroom-setup: $(CLASS_VENV)/.installed classroom/node_modules/.installed

# The class's own virtualenv, from the same lock, on an interpreter every learner may run: the
# learners' servers and labs run as their own users, and an interpreter under root's private
# home (pyenv's, say) is out of their reach.
$(CLASS_VENV)/.installed: pyproject.toml $(LOCK)
	$(CLASS_PYTHON) -m venv $(CLASS_VENV)
	$(CLASS_VENV)/bin/pip install -q --upgrade pip
	$(CLASS_VENV)/bin/pip install -q -r $(LOCK)
	$(CLASS_VENV)/bin/pip install -q --no-deps -e .
	touch $@

classroom/node_modules/.installed: classroom/package.json classroom/package-lock.json
	npm ci --prefix classroom --no-audit --no-fund --loglevel=error
	touch $@

# One hub for a class on this server (as root: PAM and one local user per learner), on
# 127.0.0.1:$${LABKIT_CLASS_PORT:-8800}; docs/instructor-classroom.md says how to run a class.
classroom: setup classroom-setup
	$(CLASS_VENV)/bin/jupyterhub -f classroom/jupyterhub_config.py

.PHONY: singleuser-image
# The learner image for Zero to JupyterHub (compose/singleuser.Dockerfile, classroom/z2jh-values.yaml):
# its first steps are the node image's (taken from its cache), so after compose-setup.
singleuser-image: compose-setup
	$(BIN)/python -m labkit.backends.compose.images --singleuser
