#!/usr/bin/env bash
# Starts a real Kubernetes control plane on loopback for the e2e suite: etcd, kube-apiserver and
# kube-controller-manager, built from the published Go modules of this directory (no kubelet: pods stay Pending).
#
#   bash e2e/controlplane/up.sh [--fresh]
#
# Builds the binaries when they are missing or out of date (into $SOC2_CP_BIN, default e2e/controlplane/.bin; the Go
# build cache is reused), generates certificates with openssl, starts the three processes on free 127.0.0.1 ports,
# waits until the apiserver's /readyz is ok and the controller-manager runs its controllers, and writes an admin
# kubeconfig. Its path is the last line printed. State lives in $SOC2_CP_RUN (default e2e/controlplane/.run): pki/,
# etcd/ (data), pids/, controlplane.log (every component's lines, prefixed with its name), kubeconfig.
#
# When the control plane is already up and healthy, up.sh reuses it. --fresh stops it and wipes etcd's data first.
# down.sh stops exactly the processes up.sh started.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/controlplane/lib.sh
. "$here/lib.sh"
components=(etcd kube-apiserver kube-controller-manager)

fresh=0
for arg in "$@"; do
  case $arg in
    --fresh) fresh=1 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "up.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

for tool in go openssl curl python3 awk; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is needed and not on PATH"
done

# ---------------------------------------------------------------------------------------------------------------------
# Build: only when a binary is missing or the sources, go.mod, go.sum or the Go version changed since the last build.
# A rebuild with a warm Go build cache is a relink; a cold one compiles Kubernetes (minutes of CPU).
build() {
  local stamp
  stamp=$(cd "$here" && { go version; cat go.mod go.sum; find cmd -name '*.go' -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -d' ' -f1)
  local missing=0 c
  for c in "${components[@]}"; do [ -x "$bin/$c" ] || missing=1; done
  if [ "$missing" -eq 0 ] && [ "$(cat "$bin/.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  local k8s_version
  k8s_version=$(cd "$here" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
  local major=${k8s_version#v}; major=${major%%.*}
  local minor=${k8s_version#v*.}; minor=${minor%%.*}
  local pkg=k8s.io/component-base/version
  say "building ${components[*]} (Kubernetes $k8s_version) into $bin; a cold Go build cache takes 10+ minutes"
  mkdir -p "$bin"
  local start=$SECONDS
  (cd "$here" && go build -o "$bin/" \
    -ldflags "-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
    ./cmd/...) || die "go build failed (see above)"
  echo "$stamp" >"$bin/.stamp"
  rebuilt=1
  say "built in $((SECONDS - start)) s"
}

# ---------------------------------------------------------------------------------------------------------------------
# Certificates (kept across restarts; removed with the run directory).
pki_files=(ca.crt apiserver.crt apiserver.key admin.crt admin.key controller-manager.crt controller-manager.key
  front-proxy-ca.crt front-proxy-client.crt front-proxy-client.key sa.key sa.pub)
gen_pki() {
  local f missing=0
  for f in "${pki_files[@]}"; do [ -s "$pki/$f" ] || missing=1; done
  [ "$missing" -eq 0 ] && return
  say "generating certificates in $pki"
  rm -rf "$pki"; mkdir -p "$pki"
  (
    cd "$pki"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key
    openssl req -x509 -new -key ca.key -subj "/CN=soc2-e2e-ca" -days 3650 -out ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    # The front proxy's own CA: the apiserver trusts requests it forwards to aggregated APIs with their caller's
    # identity in headers, and publishes it in kube-system/extension-apiserver-authentication, where the
    # controller-manager looks for it.
    openssl ecparam -name prime256v1 -genkey -noout -out front-proxy-ca.key
    openssl req -x509 -new -key front-proxy-ca.key -subj "/CN=soc2-e2e-front-proxy-ca" -days 3650 \
      -out front-proxy-ca.crt -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    # leaf NAME SUBJECT EXTENSIONS [CA]: NAME.key and NAME.crt signed by CA (default ca).
    leaf() {
      local ca=${4:-ca}
      openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 3650 -sha256 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    leaf apiserver "/CN=kube-apiserver" "$(printf '%s\n' \
      'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
      'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local')"
    client_ext=$(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=clientAuth')
    leaf admin "/O=system:masters/CN=soc2-e2e-admin" "$client_ext"
    leaf controller-manager "/CN=system:kube-controller-manager" "$client_ext"
    leaf front-proxy-client "/CN=front-proxy-client" "$client_ext" front-proxy-ca
    # Service-account tokens: the apiserver signs with sa.key and verifies with sa.pub.
    openssl ecparam -name prime256v1 -genkey -noout -out sa.key
    openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
  ) || die "generating certificates with openssl failed"
}

# kubeconfig FILE USER: a kubeconfig for the apiserver with the client certificate pki/USER.{crt,key}.
write_kubeconfig() {
  local file=$1 user=$2 b64='base64 -w0'
  cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: soc2-e2e
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $($b64 <"$pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $($b64 <"$pki/$user.crt")
    client-key-data: $($b64 <"$pki/$user.key")
contexts:
- name: soc2-e2e
  context: { cluster: soc2-e2e, user: $user }
current-context: soc2-e2e
EOF
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}

# The controller-manager's /healthz is ok about 5 s before any controller runs; its verbose form lists each
# controller once it is built. Wait for the ones the suite leans on.
controllers_ready() {
  local out
  out=$(curl -sk --max-time 2 "https://127.0.0.1:$kcm_port/healthz?verbose") || return 1
  grep -q '^healthz check passed' <<<"$out" || return 1
  local c
  for c in deployment-controller replicaset-controller serviceaccount-controller namespace-controller \
    garbage-collector-controller cronjob-controller job-controller daemonset-controller; do
    grep -q "^\[+\]$c ok" <<<"$out" || return 1
  done
}

healthy() {
  local c
  for c in "${components[@]}"; do pid_of "$c" >/dev/null || return 1; done
  [ -f "$run/ports" ] || return 1
  # shellcheck source=/dev/null
  . "$run/ports"
  api_ready && controllers_ready
}

# ---------------------------------------------------------------------------------------------------------------------
mkdir -p "$run/pids"
t0=$SECONDS
rebuilt=0
build

if [ "$fresh" -eq 0 ] && [ "$rebuilt" -eq 0 ] && healthy; then
  say "already running (apiserver https://127.0.0.1:$api_port); reusing it"
  echo "$run/kubeconfig"
  exit 0
fi
for c in "${components[@]}"; do
  if pid_of "$c" >/dev/null; then
    say "stopping the running control plane first"
    bash "$here/down.sh"
    break
  fi
done
if [ "$fresh" -eq 1 ]; then
  say "--fresh: wiping etcd data"
  rm -rf "$run/etcd"
fi

gen_pki
mkdir -p "$run/etcd"
chmod 700 "$run/etcd"
etcd_port=$(free_port)
etcd_peer_port=$(free_port)
api_port=$(free_port)
kcm_port=$(free_port)
printf 'api_port=%s\nkcm_port=%s\netcd_port=%s\n' "$api_port" "$kcm_port" "$etcd_port" >"$run/ports"
printf '\n===== up.sh %s =====\n' "$(date -u +%FT%TZ)" >>"$run/controlplane.log"
t_start=$SECONDS

start etcd --data-dir="$run/etcd" \
  --listen-client-url="http://127.0.0.1:$etcd_port" --listen-peer-url="http://127.0.0.1:$etcd_peer_port"
wait_for etcd curl -sf --max-time 2 "http://127.0.0.1:$etcd_port/health"

start_apiserver
wait_for kube-apiserver api_ready

write_kubeconfig "$run/controller-manager.kubeconfig" controller-manager
start kube-controller-manager \
  --kubeconfig="$run/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$run/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$run/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$kcm_port" --cert-dir="$run/controller-manager-certs" \
  --use-service-account-credentials --controllers='*' \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --leader-elect=false --kube-api-qps=200 --kube-api-burst=400
# --leader-elect=false: one controller-manager; a lease left by the previous run would otherwise delay the start by
# up to its 15 s duration. --kube-api-qps: the scale harness's Deployments each need a ReplicaSet and a Pod; at the
# default 20 requests/s the controllers take longer than the load itself.
wait_for kube-controller-manager controllers_ready

write_kubeconfig "$run/kubeconfig" admin
say "ready in $((SECONDS - t_start)) s after start ($((SECONDS - t0)) s with build); apiserver https://127.0.0.1:$api_port, log $run/controlplane.log"
say "stop with: bash $here/down.sh"
echo "$run/kubeconfig"
