#!/usr/bin/env bash
# Stops or starts the kube-apiserver of the control plane up.sh started, leaving etcd and the controller-manager
# running: the e2e suite's restart and watch-expiry scenarios call it.
#
#   bash e2e/controlplane/apiserver.sh stop     # SIGTERM, SIGKILL 3 s later (it stops listening at once, then can
#                                               # take 15 s to exit); returns once it has exited
#   bash e2e/controlplane/apiserver.sh start    # same flags and port as before; waits until /readyz is ok
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/controlplane/lib.sh
. "$here/lib.sh"

[ -f "$run/ports" ] || die "no control plane in $run (start one with: bash $here/up.sh)"
# shellcheck source=/dev/null
. "$run/ports"

case ${1:-} in
  stop)
    stop_component kube-apiserver 3 || say "kube-apiserver was not running"
    ;;
  start)
    pid_of etcd >/dev/null || die "etcd is not running; start the whole control plane with: bash $here/up.sh"
    if pid_of kube-apiserver >/dev/null; then
      say "kube-apiserver is already running"
    else
      printf '\n===== apiserver.sh start %s =====\n' "$(date -u +%FT%TZ)" >>"$run/controlplane.log"
      t=$SECONDS
      start_apiserver
      wait_for kube-apiserver api_ready
      say "kube-apiserver ready in $((SECONDS - t)) s (https://127.0.0.1:$api_port)"
    fi
    ;;
  *)
    echo "usage: apiserver.sh stop|start" >&2
    exit 2
    ;;
esac
