#!/usr/bin/env bash
# The pull-through cache benchmark (tools/bench/mirror.py): an upstream (Distribution 2.8.2), Pier as its mirror,
# and Distribution in proxy mode as its mirror, side by side on loopback. Release build, logging at warn for
# the mirrors; the upstream logs requests (info) so that upstream fetches can be counted.
#
#   bash scripts/bench-mirror.sh [--rounds 3] [--out docs/bench-mirror.json]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v docker-registry >/dev/null || { echo "missing docker-registry: apt-get install -y docker-registry" >&2; exit 1; }
swift build -c release --product pier
work=$(mktemp -d /tmp/pier-bench-mirror.XXXXXX)
upstream_port=5620 reference_port=5621 pier_port=5622
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
registry_config() { # port, root, log level, [proxy url]
  cat <<YAML
version: 0.1
log:
  level: $3
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $2
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$1
YAML
  if [ $# -ge 4 ]; then printf 'proxy:\n  remoteurl: %s\n' "$4"; fi
}
wait_ready() { for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$1/v2/" && return 0; sleep 0.1; done; echo "port $1 did not answer" >&2; exit 1; }
registry_config $upstream_port "$work/upstream" info > "$work/upstream.yml"
docker-registry serve "$work/upstream.yml" > "$work/upstream.log" 2>&1 & pids+=($!)
wait_ready $upstream_port
registry_config $reference_port "$work/reference" warn "http://127.0.0.1:$upstream_port" > "$work/reference.yml"
docker-registry serve "$work/reference.yml" > "$work/reference.log" 2>&1 & pids+=($!)
printf 'proxy:\n  remoteurl: http://127.0.0.1:%s\nlog:\n  accesslog:\n    disabled: true\n' $upstream_port > "$work/pier.yml"
.build/release/pier serve "$work/pier.yml" --root "$work/pier" --addr 127.0.0.1:$pier_port --log-level warn > "$work/pier.log" 2>&1 & pids+=($!)
wait_ready $reference_port
wait_ready $pier_port
python3 tools/bench/mirror.py --upstream http://127.0.0.1:$upstream_port --upstream-log "$work/upstream.log" \
  --pier http://127.0.0.1:$pier_port --reference http://127.0.0.1:$reference_port "$@"
