#!/usr/bin/env bash
# Runs the shell blocks of docs/scan.md and docs/exceptions.md (and one command of docs/install.md, and the first
# block of docs/access-reviews.md) as written, with
# `soc2ctl` standing for target/debug/soc2ctl, in a scratch directory that sees the checkout's config/ and examples/:
#   - docs/scan.md's dump of a live cluster (KUBECONFIG; CI: the control plane the README's tour just ran on) and its
#     scan; then the scan's verdict on each sample Control the cluster holds must be the operator's (its Compliant
#     condition): offline and live evaluation must not drift;
#   - docs/install.md's listing of the Events about Controls, which must name the tour's control;
#   - the offline examples (docs/scan.md, docs/exceptions.md), each exiting 1 as the docs say (controls fail).
# A command synopsis (`soc2ctl scan PATH...`, arguments in capitals) is fenced as ```text in the docs: it names the
# arguments, it is not a command to run.
# tests/shipped/doc_commands.rs checks that every other command of README.md and docs/ is run somewhere.
#
#   KUBECONFIG=... bash e2e/docs.sh        # needs kubectl, python3 and `cargo build --locked --bins` done
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
[ -n "${KUBECONFIG:-}" ] || { echo "docs: KUBECONFIG must name a cluster to dump" >&2; exit 2; }
command -v kubectl >/dev/null || { echo "docs: kubectl is not installed" >&2; exit 2; }
soc2ctl=$repo/target/debug/soc2ctl
[ -x "$soc2ctl" ] || { echo "docs: build first: cargo build --locked --bins" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$repo/config" "$repo/examples" "$work/"

# blocks FILE: the ```sh blocks of FILE, one per NUL-terminated record, soc2ctl replaced by the built binary.
blocks() {
  python3 - "$repo/$1" "$soc2ctl" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for block in re.findall(r"```sh\n(.*?)```", text, re.S):
    sys.stdout.write(re.sub(r"(?m)^soc2ctl ", sys.argv[2] + " ", block) + "\0")
PY
}

# run NAME "CODES" BLOCK: runs BLOCK in the scratch directory; it must exit with one of CODES.
run() {
  local name=$1 codes=$2 block=$3 code=0
  echo "docs: $name:"
  echo "$block" | sed 's/^/  | /'
  (cd "$work" && bash -eo pipefail -c "$block") > "$work/out" 2>&1 || code=$?
  if ! grep -qw "$code" <<< "$codes"; then
    echo "docs: FAILED: $name exited $code, expected $codes:" >&2
    cat "$work/out" >&2
    exit 1
  fi
  echo "docs: ok: $name exited $code"
}

mapfile -d '' -t scan < <(blocks docs/scan.md)
mapfile -d '' -t exceptions < <(blocks docs/exceptions.md)
[ "${#scan[@]}" -eq 2 ] && [ "${#exceptions[@]}" -eq 1 ] ||
  { echo "docs: expected 2 shell blocks in docs/scan.md and 1 in docs/exceptions.md; update e2e/docs.sh" >&2; exit 1; }

# The dump's scan exits 0 or 1 depending on the cluster; what it must do is agree with the operator.
dump=${scan[0]}
grep -q -- "--show-managed-fields" <<< "$dump" || { echo "docs: the dump block changed; update e2e/docs.sh" >&2; exit 1; }
run "docs/scan.md, dump of the cluster and its scan" "0 1" "$dump"
scan_line=$(grep "^$soc2ctl scan " <<< "$dump")
(cd "$work" && bash -c "$scan_line -o json" > scan.json) || [ $? -eq 1 ]
python3 - "$work/scan.json" <<'PY'
import json, subprocess, sys
scan = {c["name"]: c["verdict"] for c in json.load(open(sys.argv[1]))["controls"]}
live = json.loads(subprocess.run(["kubectl", "get", "controls", "-o", "json"], check=True,
                                 capture_output=True, text=True).stdout)["items"]
compared = 0
for control in live:
    name = control["metadata"]["name"]
    if name not in scan:
        continue
    status = {c["type"]: c["status"] for c in control.get("status", {}).get("conditions", [])}.get("Compliant")
    want = {"True": "Compliant", "False": "NonCompliant", "Unknown": "Unknown"}.get(status)
    if scan[name] != want:
        sys.exit(f"docs: FAILED: {name}: the scan of the dump says {scan[name]}, the operator said {want}")
    compared += 1
if compared == 0:
    sys.exit("docs: FAILED: the cluster holds none of the sample Controls the dump was scanned with")
print(f"docs: ok: the scan of the dump agrees with the operator on {compared} Control(s)")
PY
# docs/install.md's look at the Events of Controls: the tour's control failed and then passed.
events=$(grep "^kubectl get events" docs/install.md)
run "docs/install.md, the Events of Controls" 0 "$events"
grep -q "change-approval" "$work/out" || { echo "docs: FAILED: no Event names change-approval:" >&2; cat "$work/out" >&2; exit 1; }
run "docs/scan.md, the generic examples" 1 "${scan[1]}"
run "docs/exceptions.md, the exceptions example" 1 "${exceptions[0]}"
# docs/access-reviews.md's first block: the example review and the reviewers' binding apply to the CRDs as written
# and list (the tour's operator has stopped, so no cycle opens here: e2e/access_reviews.rs runs a cycle end to end).
mapfile -d '' -t reviews < <(blocks docs/access-reviews.md)
[ "${#reviews[@]}" -eq 2 ] || { echo "docs: expected 2 shell blocks in docs/access-reviews.md; update e2e/docs.sh" >&2; exit 1; }
run "docs/access-reviews.md, the example review" 0 "${reviews[0]}"
grep -q "privileged-access" "$work/out" || { echo "docs: FAILED: kubectl get accessreviews does not list the example:" >&2; cat "$work/out" >&2; exit 1; }
kubectl delete --ignore-not-found -f examples/access-review/access-review.yaml -f examples/access-review/reviewers.yaml >/dev/null
echo "docs: the shell blocks of docs/scan.md, docs/exceptions.md and docs/access-reviews.md ran as written"
