# Shared by up.sh, down.sh and apiserver.sh (sourced, never run): where things are, and how a component is found,
# started and awaited. The caller sets `here` (this directory) and may set SOC2_CP_BIN, SOC2_CP_RUN and
# SOC2_CP_READY_TIMEOUT.
# shellcheck shell=bash

bin=${SOC2_CP_BIN:-$here/.bin}
run=${SOC2_CP_RUN:-$here/.run}
pki=$run/pki
ready_timeout=${SOC2_CP_READY_TIMEOUT:-90}

say() { printf 'controlplane: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------------------------
# Processes: one PID file per component; a PID counts only while /proc/PID/exe is still our binary.
pid_of() {
  local f=$run/pids/$1.pid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  local exe
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  # A binary rebuilt while it runs shows as "PATH (deleted)".
  [ "${exe% (deleted)}" = "$(readlink -f "$bin/$1")" ] || return 1
  echo "$pid"
}

# stop_component NAME [GRACE]: SIGTERM to component NAME if it runs, SIGKILL if it still runs GRACE seconds (default
# 15) later; removes its PID file. True when it was running.
stop_component() {
  local name=$1 grace=${2:-15} pid
  if ! pid=$(pid_of "$name"); then
    rm -f "$run/pids/$name.pid"
    return 1
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) still running $grace s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  say "stopped $name (pid $pid)"
  rm -f "$run/pids/$name.pid"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts component $1 with arguments $2..., its stdout and stderr prefixed with "[$1] " into controlplane.log.
# (klog has no component name of its own, so the prefix is added here, where it also covers Go panics.)
start() {
  local name=$1; shift
  (
    # The prefixing awk exits when the component closes its output. Neither may hold up.sh's stdout or stderr:
    # a caller reading them through a pipe would wait for the control plane to stop.
    exec "$bin/$name" "$@" </dev/null \
      > >(exec awk -v p="[$name] " '{ print p $0; fflush() }' >>"$run/controlplane.log" 2>&1) 2>&1
  ) &
  echo $! >"$run/pids/$name.pid"
}

fail_start() {
  say "error: $*"
  say "last lines of $run/controlplane.log:"
  tail -n 40 "$run/controlplane.log" >&2 || true
  bash "$here/down.sh" >&2 || true
  exit 1
}

# Polls until command "$2..." succeeds, for at most $ready_timeout s; fails early when component $1 exits.
wait_for() {
  local name=$1; shift
  local deadline=$((SECONDS + ready_timeout))
  until "$@" >/dev/null 2>&1; do
    pid_of "$name" >/dev/null || fail_start "$name exited while starting"
    [ "$SECONDS" -lt "$deadline" ] || fail_start "$name not ready after $ready_timeout s"
    sleep 0.2
  done
}

api_ready() {
  curl -sf --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$api_port/readyz" >/dev/null
}

# ---------------------------------------------------------------------------------------------------------------------
# --allow-privileged=true as every cluster installer sets it (the flag's default refuses privileged containers, which
# the workload-security scenario creates to be judged by the operator, not refused by the apiserver).
# --endpoint-reconciler-type=none: 127.0.0.1 is refused as an Endpoints address, so the default reconciler would only
# log that error every 10 s. The default admission plugins (ValidatingAdmissionWebhook among them) stay on.
start_apiserver() {
  start kube-apiserver \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=Node,RBAC \
    --allow-privileged=true \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
    --endpoint-reconciler-type=none \
    --profiling=false
}
