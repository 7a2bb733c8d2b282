#!/usr/bin/env bash
# The main job on the local control plane: a 30-student class through the vwclass CLI, left running.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
CLUSTER=${CLUSTER:-demo}
STUDENTS=${STUDENTS:-30}
state="${XDG_CACHE_HOME:-$HOME/.cache}/vwclass/clusters/$CLUSTER"

eval "$($BIN/python -m vwclass.testenv up --name "$CLUSTER")"
export KUBECONFIG

# No container runtime here to run the operator's image: install everything else, run it locally.
$BIN/vwclass install --without-operator
if [ -f "$state/operator.pid" ] && kill -0 "$(cat "$state/operator.pid")" 2>/dev/null; then
  echo "operator already running (pid $(cat "$state/operator.pid"))"
else
  nohup $BIN/vwclass operator > "$state/logs/operator.log" 2>&1 &
  echo $! > "$state/operator.pid"
  echo "operator started (pid $!, log $state/logs/operator.log)"
fi

started=$(date +%s)
if $BIN/vwclass list -o json | grep -q '"physics101"'; then
  # Run again: the class is there already; bring it to the requested size and wait.
  $BIN/vwclass scale physics101 --students "$STUDENTS" --yes
  "$($BIN/python -c 'from vwclass.testenv import build; print(build.bin_dir())')/kubectl" \
    wait --for=condition=Ready vwc/physics101 --timeout=300s
else
  $BIN/vwclass create physics101 --students "$STUDENTS" --wait --timeout 5m
fi
echo "class physics101 Ready in $(( $(date +%s) - started ))s"
$BIN/vwclass list
$BIN/vwclass status physics101
echo
echo "The cluster keeps running. Use it:  export KUBECONFIG=$KUBECONFIG"
echo "Stop it all:                        make demo-down DEMO_CLUSTER=$CLUSTER"
