#!/usr/bin/env bash
# Stops the control plane that up.sh started, and only that: the processes named by its PID files, each only while
# /proc/PID/exe is still the binary up.sh started (a recycled PID is left alone). Keeps etcd's data and the
# certificates; `up.sh --fresh` wipes etcd.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/controlplane/lib.sh
. "$here/lib.sh"

stopped=0
# Reverse start order: the controller-manager, then the apiserver, then etcd.
for name in kube-controller-manager kube-apiserver etcd; do
  if stop_component "$name"; then
    stopped=$((stopped + 1))
  fi
done
[ "$stopped" -gt 0 ] || say "nothing to stop (no running process from $run/pids)"
