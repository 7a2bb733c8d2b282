# Every target installs what it needs: a fresh clone needs only Python >= 3.11 and Go >= 1.26.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CLUSTER ?= default
PYTEST_ARGS ?=

.PHONY: venv testenv test test-reliability unit lint cluster-up cluster-down cluster-status demo demo-down clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

testenv: venv  ## build (or reuse) the control-plane binaries
	$(BIN)/python -m vwclass.testenv build

lint: venv  ## types and the layering contracts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

unit: venv
	$(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)

test: lint testenv  ## the whole suite but the minutes-long reliability tests, on a fresh local control plane
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

demo: testenv  ## the main job: a 30-student class on the local control plane, left running
	CLUSTER=$(DEMO_CLUSTER) scripts/demo.sh

demo-down: venv
	-kill $$(cat $${XDG_CACHE_HOME:-$$HOME/.cache}/vwclass/clusters/$(DEMO_CLUSTER)/operator.pid) 2>/dev/null
	$(BIN)/python -m vwclass.testenv down --name $(DEMO_CLUSTER)

clean: cluster-down
	rm -rf $(VENV) .mypy_cache .pytest_cache
