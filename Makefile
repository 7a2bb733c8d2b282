# Every target installs what it needs: a fresh clone needs only Python >= 3.11 and Go >= 1.26.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CLUSTER ?= default
PYTEST_ARGS ?=
SYSTEM_PACKAGES := system-packages-demo system-packages-demo-kwok system-packages-test

.PHONY: $(SYSTEM_PACKAGES) venv lock testenv realnode-tools test test-reliability unit lint cluster-up cluster-down cluster-status demo demo-down clean

# The Debian packages a target needs, before anything builds: installed as root (apt-get update once),
# otherwise one `sudo apt-get install ...` line and a stop in the first seconds. The machine's python3
# runs it, since .venv/ does not exist yet on a fresh machine.
$(SYSTEM_PACKAGES):
	$(PYTHON) -m vwclass.testenv.syspackages $(@:system-packages-%=%)

# The exact versions (and hashes) of requirements/test.lock, then the project itself on top of them.
$(VENV)/.installed: pyproject.toml requirements/test.lock
	@started=$$(date +%s); set -e; \
	$(PYTHON) -m venv $(VENV); \
	$(BIN)/pip install -q --upgrade pip; \
	$(BIN)/pip install -q --require-hashes -r requirements/test.lock; \
	$(BIN)/pip install -q --no-deps -e .; \
	touch $@; \
	echo "venv: built $(VENV)/ in $$(( $$(date +%s) - started ))s"

venv: $(VENV)/.installed

UV := $(BIN)/uv
LOCK := $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes --upgrade
lock: venv  ## pin every dependency again (requirements/*.lock) at its newest allowed version
	$(BIN)/pip install -q 'uv==0.13.9'
	$(LOCK) pyproject.toml --extra test -o requirements/test.lock
	$(LOCK) pyproject.toml -o requirements/image.lock
	$(LOCK) requirements/build.in -o requirements/build.lock

testenv: venv  ## build (or reuse) the control-plane binaries
	$(BIN)/python -m vwclass.testenv build

realnode-tools: venv  ## build (or reuse) the real node's tools and images (kubelet, kube-router, CoreDNS, a class's images)
	$(BIN)/python -m vwclass.testenv build --real-node

# Lint and format, types, and the layering contracts. `make lint` always runs them; `make test` runs
# them only when a source changed since the last pass (CI runs `make lint`, then `make test`).
LINTED := $(VENV)/.linted
define run_lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	touch $(LINTED)
endef

lint: venv
	$(run_lint)

$(LINTED): $(VENV)/.installed pyproject.toml $(shell find vwclass tests bench scripts -name '*.py' 2>/dev/null)
	$(run_lint)

unit: venv
	$(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)

test: system-packages-test $(LINTED) testenv realnode-tools  ## the whole suite but the minutes-long reliability tests, on a fresh local control plane
	$(BIN)/python -m pytest -q -ra -m "not reliability" $(PYTEST_ARGS)

test-reliability: testenv  ## faults (operator SIGKILLs, API server and etcd outages) and load (10x30, 300)
	$(BIN)/python -m pytest tests/reliability -q -ra -s -m reliability $(PYTEST_ARGS)

cluster-up: testenv
	$(BIN)/python -m vwclass.testenv up --name $(CLUSTER) $(if $(REAL_NODE),--real-node)

cluster-down: venv
	$(BIN)/python -m vwclass.testenv down --name $(CLUSTER)

cluster-status: venv
	$(BIN)/python -m vwclass.testenv status --name $(CLUSTER)

DEMO_CLUSTER ?= demo

demo: $(if $(filter 0,$(REAL_STUDENTS)),system-packages-demo-kwok testenv,system-packages-demo testenv realnode-tools)  ## the main job: a 30-student class on the local control plane, left running
	CLUSTER=$(DEMO_CLUSTER) scripts/demo.sh

demo-down: venv
	-kill $$(cat $${XDG_CACHE_HOME:-$$HOME/.cache}/vwclass/clusters/$(DEMO_CLUSTER)/operator.pid) 2>/dev/null
	$(BIN)/python -m vwclass.testenv down --name $(DEMO_CLUSTER)

clean: cluster-down
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
