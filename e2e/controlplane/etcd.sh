#!/usr/bin/env bash
# Talks to the etcd of the control plane up.sh started, through etcd's JSON gateway on its client port: the e2e
# suite's watch-expiry scenario uses it while the apiserver is stopped.
#
#   bash e2e/controlplane/etcd.sh revision      # prints etcd's current revision
#   bash e2e/controlplane/etcd.sh delete KEY    # deletes KEY (e.g. /registry/networkpolicies/NS/NAME); prints how
#                                               # many keys were deleted
#   bash e2e/controlplane/etcd.sh compact       # writes /soc2-e2e/compaction-marker, so that the revision moves past
#                                               # everything any watcher has seen, then compacts the history up to it
#                                               # (physically); prints the revision. A watch resuming from an older
#                                               # resourceVersion then gets 410 Gone and must list again.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/controlplane/lib.sh
. "$here/lib.sh"

[ -f "$run/ports" ] || die "no control plane in $run (start one with: bash $here/up.sh)"
# shellcheck source=/dev/null
. "$run/ports"
pid_of etcd >/dev/null || die "etcd is not running; start the control plane with: bash $here/up.sh"

# call PATH JSON: POSTs JSON to etcd's gateway, prints the response; fails on an HTTP or etcd error.
call() {
  curl -sS --fail-with-body --max-time 10 "http://127.0.0.1:$etcd_port$1" -d "$2"
}
b64() { printf '%s' "$1" | base64 -w0; }
# field PATH...: prints a field of the JSON on stdin (missing numbers are 0, as etcd omits zero values).
field() {
  python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v.get(k, 0) if isinstance(v, dict) else 0
print(v)' "$@"
}

case ${1:-} in
  revision)
    call /v3/kv/range "{\"key\":\"$(b64 /)\",\"limit\":1,\"keys_only\":true}" | field header revision
    ;;
  delete)
    [ -n "${2:-}" ] || die "usage: etcd.sh delete KEY"
    call /v3/kv/deleterange "{\"key\":\"$(b64 "$2")\"}" | field deleted
    ;;
  compact)
    revision=$(call /v3/kv/put "{\"key\":\"$(b64 /soc2-e2e/compaction-marker)\",\"value\":\"$(b64 "$(date -u +%FT%TZ)")\"}" |
      field header revision)
    call /v3/kv/compaction "{\"revision\":\"$revision\",\"physical\":true}" >/dev/null
    say "etcd compacted up to revision $revision"
    echo "$revision"
    ;;
  *)
    echo "usage: etcd.sh revision | delete KEY | compact" >&2
    exit 2
    ;;
esac
