#!/usr/bin/env bash
# Runs the README's "A five-minute tour" as a newcomer would, against the cluster KUBECONFIG names (CI: a fresh
# control plane, so that no other workload fails change approval): every ```sh block of that section, in order, as
# written, with two substitutions a script needs and a human does not:
#   - `cargo run --release --bin soc2-operator -- ARGS` starts the operator built in target/debug in the background
#     (admin port on a free loopback port), instead of in the foreground of a second terminal;
#   - `cargo run --bin soc2ctl --` is target/debug/soc2ctl.
# After each block it waits for what the tour says the reader sees (the comments after the commands): the control
# failing with the Deployment named, then passing, the EvidenceStore ready with a chain head, verify exit 0 and an
# HTML report. The blocks run in a scratch directory (the tour writes seed, evidence.pub and report.html) that sees
# the checkout's crds/ and config/.
#
#   KUBECONFIG=... bash e2e/tour.sh        # needs kubectl, xxd, and `cargo build --bins` done
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
[ -n "${KUBECONFIG:-}" ] || { echo "tour: KUBECONFIG must name a disposable cluster" >&2; exit 2; }
for tool in kubectl xxd; do
  command -v "$tool" >/dev/null || { echo "tour: $tool is not installed" >&2; exit 2; }
done
operator=$repo/target/debug/soc2-operator
soc2ctl=$repo/target/debug/soc2ctl
[ -x "$operator" ] && [ -x "$soc2ctl" ] || { echo "tour: build first: cargo build --locked --bins" >&2; exit 2; }

work=$(mktemp -d)
ln -s "$repo/crds" "$repo/config" "$work/"
rm -rf /tmp/soc2-evidence
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The ```sh blocks between "## A five-minute tour" and the next "## " heading, one array element each.
mapfile -d '' -t tour < <(python3 - "$repo/README.md" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text.split("\n## A five-minute tour\n", 1)[1].split("\n## ", 1)[0]
sys.stdout.write("".join(b + "\0" for b in re.findall(r"```sh\n(.*?)```", section, re.S)))
PY
)
echo "tour: ${#tour[@]} blocks in README.md's tour"
[ "${#tour[@]}" -ge 4 ] || { echo "tour: expected at least 4 shell blocks" >&2; exit 1; }

# wait_for DESCRIPTION COMMAND...: runs COMMAND every second for up to 90 s until it succeeds.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 90); do
    if "$@" >/dev/null 2>&1; then
      echo "tour: ok: $what"
      return 0
    fi
    sleep 1
  done
  echo "tour: FAILED: $what (90 s); the operator's log:" >&2
  cat "$work/operator.log" >&2 || true
  return 1
}
compliant() {
  [ "$(kubectl get control "$1" -o jsonpath='{.status.conditions[?(@.type=="Compliant")].status}')" = "$2" ]
}
describe_names() {
  kubectl describe control change-approval | grep -q "$1"
}
store_ready() {
  [ "$(kubectl get evidencestore tour -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] &&
    [ -n "$(kubectl get evidencestore tour -o jsonpath='{.status.chainHead}')" ]
}

cd "$work"
checked=0
for i in "${!tour[@]}"; do
  block=${tour[$i]}
  if grep -q "cargo run --release --bin soc2-operator" <<< "$block"; then
    # The operator's line runs in the background; the block's other lines as written.
    line=$(grep "cargo run --release --bin soc2-operator" <<< "$block")
    args=${line#*soc2-operator --}
    args=${args%%#*}
    rest=$(grep -v "cargo run --release --bin soc2-operator" <<< "$block")
    echo "tour: block $((i + 1)): $rest"
    bash -euo pipefail -c "$rest"
    # shellcheck disable=SC2086 # the tour's arguments, split as a shell would
    "$operator" $args --admin-addr 127.0.0.1:0 > "$work/operator.log" 2>&1 &
    pid=$!
    echo "tour: operator started (pid $pid) with:$args"
    continue
  fi
  block=${block//cargo run --bin soc2ctl --/$soc2ctl}
  echo "tour: block $((i + 1)):"
  echo "$block" | sed 's/^/  | /'
  bash -euo pipefail -c "$block"
  case $block in
    *"kubectl create deployment web"*)
      wait_for "change-approval fails" compliant change-approval False
      wait_for "describe names Deployment team-a/web" describe_names "team-a/web"
      wait_for "describe names the rule no-approval-evidence" describe_names "no-approval-evidence"
      checked=$((checked + 1)) ;;
    *"kubectl annotate deployment web"*)
      wait_for "change-approval passes" compliant change-approval True
      checked=$((checked + 1)) ;;
    *"kind: EvidenceStore"*)
      wait_for "EvidenceStore tour is Ready with a chain head" store_ready
      checked=$((checked + 1)) ;;
    *" verify "*)
      [ -s report.html ] && grep -q "<html" report.html || { echo "tour: FAILED: report.html" >&2; exit 1; }
      echo "tour: ok: verify exited 0 and report.html was written ($(wc -c < report.html) bytes)"
      checked=$((checked + 1)) ;;
  esac
done
# A tour rewritten so that a step above no longer matches must update this script, not skip its check.
[ "$checked" -eq 4 ] || { echo "tour: only $checked of the 4 steps were recognised and checked" >&2; exit 1; }
echo "tour: the README's five-minute tour ran as written"
