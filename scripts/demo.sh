#!/usr/bin/env bash
# The main job on the local control plane: a 30-student class, Ready, left running.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
CLUSTER=${CLUSTER:-demo}
STUDENTS=${STUDENTS:-30}
state="${XDG_CACHE_HOME:-$HOME/.cache}/vwclass/clusters/$CLUSTER"

eval "$($BIN/python -m vwclass.testenv up --name "$CLUSTER")"
kubectl_bin="$($BIN/python -c 'from vwclass.testenv import build; print(build.bin_dir())')/kubectl"
"$kubectl_bin" apply --server-side -f crds/virtualwaggleclass.yaml -f manifests/base/student-clusterrole.yaml >/dev/null
"$kubectl_bin" wait --for=condition=Established crd/virtualwaggleclasses.edu.sagecontinuum.org >/dev/null

if [ -f "$state/operator.pid" ] && kill -0 "$(cat "$state/operator.pid")" 2>/dev/null; then
  echo "operator already running (pid $(cat "$state/operator.pid"))"
else
  nohup $BIN/python -m vwclass.operator --liveness http://127.0.0.1:0/healthz > "$state/logs/operator.log" 2>&1 &
  echo $! > "$state/operator.pid"
  echo "operator started (pid $!, log $state/logs/operator.log)"
fi

sed "s/students: 30/students: $STUDENTS/" examples/physics101.yaml | "$kubectl_bin" apply --server-side -f -
started=$(date +%s)
"$kubectl_bin" wait --for=condition=Ready vwc/physics101 --timeout=300s
echo "class physics101 Ready in $(( $(date +%s) - started ))s"
"$kubectl_bin" get vwc
"$kubectl_bin" get ns -l edu.sagecontinuum.org/class=physics101 | head -5
echo "..."
echo
echo "The cluster keeps running. Use it:  export KUBECONFIG=$KUBECONFIG"
echo "Stop it all:                        make demo-down DEMO_CLUSTER=$CLUSTER"
