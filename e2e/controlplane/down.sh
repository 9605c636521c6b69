#!/usr/bin/env bash
# Stops the control plane that up.sh started, and only that: the processes named by its PID files, each only while
# /proc/PID/exe is still the binary up.sh started (a recycled PID is left alone). Keeps etcd's data and the
# certificates; `up.sh --fresh` wipes etcd.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${SOC2_CP_BIN:-$here/.bin}
run=${SOC2_CP_RUN:-$here/.run}

say() { printf 'controlplane: %s\n' "$*" >&2; }

# Our process for component $1, if it still runs.
pid_of() {
  local f=$run/pids/$1.pid pid exe
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [ "${exe% (deleted)}" = "$(readlink -f "$bin/$1")" ] || return 1
  echo "$pid"
}

stopped=0
# Reverse start order: the controller-manager, then the apiserver, then etcd.
for name in kube-controller-manager kube-apiserver etcd; do
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) still running 15 s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
    stopped=$((stopped + 1))
  fi
  rm -f "$run/pids/$name.pid"
done
[ "$stopped" -gt 0 ] || say "nothing to stop (no running process from $run/pids)"
