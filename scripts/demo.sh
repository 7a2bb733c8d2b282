#!/usr/bin/env bash
# The main job on the local control plane: a 30-student class through the vwclass CLI on simulated
# nodes, plus REAL_STUDENTS students whose nodes really run on the real node (kubelet and containerd),
# with a live round trip: a measurement published from a runner and read back through the data API.
# Left running. REAL_STUDENTS=0 skips the real node (and its need for root, containerd and runc).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
CLUSTER=${CLUSTER:-demo}
STUDENTS=${STUDENTS:-30}
REAL_STUDENTS=${REAL_STUDENTS:-2}
state="${XDG_CACHE_HOME:-$HOME/.cache}/vwclass/clusters/$CLUSTER"

real_node=()
[ "$REAL_STUDENTS" -gt 0 ] && real_node=(--real-node)
eval "$($BIN/python -m vwclass.testenv up --name "$CLUSTER" "${real_node[@]}")"
export KUBECONFIG
KUBECTL="$($BIN/python -c 'from vwclass.testenv import build; print(build.bin_dir())')/kubectl"

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
  "$KUBECTL" wait --for=condition=Ready vwc/physics101 --timeout=300s
else
  $BIN/vwclass create physics101 --students "$STUDENTS" --wait --timeout 5m
fi
echo "class physics101 Ready in $(( $(date +%s) - started ))s"

if [ "$REAL_STUDENTS" -gt 0 ]; then
  # The lab bench: the same class spec placed on the real node, where every container really starts.
  started=$(date +%s)
  if ! $BIN/vwclass list -o json | grep -q '"physics101-lab"'; then
    $BIN/vwclass create physics101-lab --students "$REAL_STUDENTS" \
      --node-selector vwclass.testenv/real-node=true --toleration vwclass.testenv/real-node=true:NoSchedule
  fi
  "$KUBECTL" wait --for=condition=Ready vwc/physics101-lab --timeout=600s
  echo "class physics101-lab Ready on the real node in $(( $(date +%s) - started ))s"
  echo
  echo "Round trip on physics101-lab student-001: pywaggle publishes from the runner, sage-data-client reads it back"
  "$KUBECTL" exec -i -n physics101-lab-student-001 statefulset/node -c plugin-runner -- python3 - \
    < scripts/demo_round_trip.py
fi
$BIN/vwclass list
$BIN/vwclass status physics101
echo
echo "The cluster keeps running. Use it:  export KUBECONFIG=$KUBECONFIG"
echo "Stop it all:                        make demo-down DEMO_CLUSTER=$CLUSTER"
