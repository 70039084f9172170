#!/bin/sh
# Stands in for `pier serve --root DIR --addr HOST:PORT ...` by running the reference registry
# (CNCF Distribution 2.8.2, Debian's docker-registry) instead, so the end-to-end suites can tell a
# client quirk from a Pier bug:
#
#   PIER_E2E=1 PIER_BINARY=$PWD/scripts/reference-as-pier.sh PIER_E2E_VENV=$PWD/.build/e2e-venv \
#     swift test --skip-build --filter EndToEndTests
#
# Expected failures against the reference: the referrers test (Distribution has no referrers API),
# tag pagination (it ignores `n` on tags/list), checks that read pier's access log, and "exited with
# status 15 on SIGTERM" at each suite's end (Distribution does not exit 0 on SIGTERM).
set -eu
root="" addr=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --addr) addr=$2; shift 2 ;;
    *) shift ;;
  esac
done
[ -n "$root" ] && [ -n "$addr" ] || { echo "usage: $0 serve --root DIR --addr HOST:PORT" >&2; exit 2; }
mkdir -p "$root"
cat > "$root/config.yml" <<EOC
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $root
  delete:
    enabled: true
http:
  addr: $addr
EOC
exec docker-registry serve "$root/config.yml"
