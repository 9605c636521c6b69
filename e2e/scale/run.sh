#!/usr/bin/env bash
# The scale harness: loads N namespaces of synthetic objects (about 13 objects each, a third of them violating
# controls) into a fresh e2e control plane, runs a release build of the operator with the whole control library,
# and prints a Markdown table: objects cached, initial sync time, RSS, status writes per second and the
# change-to-status latency over 200 single-object changes.
#
#   bash e2e/scale/run.sh N            # e.g. 770 for about 10k objects, 7700 for about 100k
#   KUBECONFIG=... bash e2e/scale/run.sh N --loaded   # measure again on a cluster an earlier run loaded
#
# With KUBECONFIG set, that cluster is used as it is (it must be disposable: N namespaces soc2-scale-* are created
# and left there); without it, `e2e/controlplane/up.sh --fresh` starts the project's control plane with an empty
# etcd, which is stopped at the end. Output and the operator's log: target/scale/.
set -euo pipefail
cd "$(dirname "$0")/../.."

n=${1:-}
shift || true
case $n in
  '' | *[!0-9]*) echo "usage: e2e/scale/run.sh N   (N namespaces of about 13 objects each)" >&2; exit 2 ;;
esac

cargo build --release --locked --bin soc2-operator --example scale
if [ -z "${KUBECONFIG:-}" ]; then
  KUBECONFIG=$(bash e2e/controlplane/up.sh --fresh | tail -n 1)
  export KUBECONFIG
  trap 'bash e2e/controlplane/down.sh || true' EXIT
fi
mkdir -p target/scale
target/release/examples/scale "$n" "$@" --operator target/release/soc2-operator --out target/scale | tee "target/scale/result-$n.md"
