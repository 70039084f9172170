#!/usr/bin/env bash
# Compare Pier with the reference registry (CNCF Distribution 2.8.2, Debian's docker-registry) side by side
# in one run, with the regbench harness (../shared/bench, or BENCH_DIR). Release build, logging at warn,
# access log off, fresh storage for both.
#
#   bash scripts/bench.sh [regbench compare options, e.g. --rounds 3 or --quick]
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH_DIR:-../shared/bench}
[ -x "$bench/compare.sh" ] || { echo "regbench not found at $bench (set BENCH_DIR)" >&2; exit 1; }
for tool in docker-registry wrk ab; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y docker-registry wrk apache2-utils" >&2; exit 1; }
done
swift build -c release --product pier
data=${BENCH_DATA:-/tmp/regbench-data}
mkdir -p "$data"
root=$(mktemp -d "$data/pier.XXXXXX")
reference_port=5600 pier_port=5700
"$bench/registry.sh" start $reference_port >/dev/null
REGISTRY_LOG_ACCESSLOG_DISABLED=true .build/release/pier serve --root "$root" --addr 127.0.0.1:$pier_port --log-level warn \
  > "$root.log" 2>&1 &
pier_pid=$!
cleanup() {
  kill -TERM $pier_pid 2>/dev/null || true
  wait $pier_pid 2>/dev/null || true
  "$bench/registry.sh" stop $reference_port || true
  rm -rf "$root" "$root.log"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf -o /dev/null http://127.0.0.1:$pier_port/v2/ && break
  sleep 0.1
done
"$bench/compare.sh" http://127.0.0.1:$reference_port http://127.0.0.1:$pier_port --limits "$@"
