#!/usr/bin/env bash
# Authenticated request rates, Pier beside the reference registry (CNCF Distribution 2.8.2, Debian's
# docker-registry), in one run on loopback: manifest GETs with wrk, anonymous, with Basic credentials (htpasswd),
# and with Bearer tokens, both from the same external token server (tools/mirror-test/token-server.py, RS256 + x5c)
# and, for Pier, from its own /token. Also the time of a wrong password against an unknown user (user enumeration).
#
#   bash scripts/bench-auth.sh [--duration 10] [--connections 32]
#
# Needs: swift, wrk, apache2-utils (htpasswd), docker-registry, openssl, curl, python3. Prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10
connections=32
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in wrk htpasswd docker-registry openssl curl; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install wrk apache2-utils docker-registry openssl curl)" >&2; exit 1; }
done
swift build -c release --product pier >/dev/null 2>&1
pier=$PWD/.build/release/pier
work=$(mktemp -d /tmp/pier-bench-auth.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "error: $1 never answered" >&2; exit 1; }

htpasswd -Bbc "$work/htpasswd" bench bench-secret 2>/dev/null
mkdir -p "$work/tokens"
python3 tools/mirror-test/token-server.py --dir "$work/tokens" --addr 127.0.0.1:25960 --issuer bench-issuer \
  --service bench-registry --user bench:bench-secret >"$work/token-server.log" 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:25960/health

# name port config-body: Pier and the reference read the same Distribution keys.
start_pier() {
  printf 'version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n%b' \
    "$work/$1" "$2" "$3" >"$work/$1.yml"
  "$pier" serve "$work/$1.yml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:$2/healthz"
}
start_reference() {
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n  secret: bench\n%b' \
    "$work/$1" "$2" "$3" >"$work/$1.yml"
  docker-registry serve "$work/$1.yml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:$2/v2/"
}
basic="auth:\n  htpasswd:\n    realm: bench\n    path: $work/htpasswd\n"
external="auth:\n  token:\n    realm: http://127.0.0.1:25960/token\n    service: bench-registry\n    issuer: bench-issuer\n    rootcertbundle: $work/tokens/cert.pem\n"
own="auth:\n  htpasswd:\n    realm: bench\n    path: $work/htpasswd\n  token:\n    service: bench-registry\n    issuer: pier\n    signingkey: $work/own-key.pem\n"
start_pier pier-anon 25961 ""
start_pier pier-basic 25962 "$basic"
start_pier pier-token 25963 "$external"
start_pier pier-own 25964 "$own"
start_reference ref-anon 25971 ""
start_reference ref-basic 25972 "$basic"
start_reference ref-token 25973 "$external"

# One small image per registry, pushed with whatever credentials it wants.
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/config.json"
config_digest=sha256:$(sha256sum "$work/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[]}' \
  "$config_digest" "$config_size" >"$work/manifest.json"
token_for() { # port scope [user:password] -> token from the registry's realm
  local challenge realm service
  challenge=$(curl -s -D - -o /dev/null "http://127.0.0.1:$1/v2/bench/app/manifests/v1" | tr -d '\r' | grep -i '^www-authenticate:')
  realm=$(sed -E 's/.*realm="([^"]*)".*/\1/' <<<"$challenge")
  service=$(sed -E 's/.*service="([^"]*)".*/\1/' <<<"$challenge")
  curl -s ${3:+-u "$3"} "$realm?service=$service&scope=$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
push() { # port authorization-header
  local header=(-H "Authorization: $2")
  [ -n "$2" ] || header=()
  local location
  location=$(curl -s -D - -o /dev/null -X POST "${header[@]}" "http://127.0.0.1:$1/v2/bench/app/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case "$location" in http*) ;; *) location="http://127.0.0.1:$1$location" ;; esac
  case "$location" in *\?*) location="$location&" ;; *) location="$location?" ;; esac
  curl -sf -X PUT "${header[@]}" -H 'Content-Type: application/octet-stream' --data-binary @"$work/config.json" "${location}digest=$config_digest" >/dev/null
  curl -sf -X PUT "${header[@]}" -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$work/manifest.json" \
    "http://127.0.0.1:$1/v2/bench/app/manifests/v1" >/dev/null
}
basic_header="Basic $(printf bench:bench-secret | base64)"
push 25961 ""; push 25971 ""
push 25962 "$basic_header"; push 25972 "$basic_header"
push 25963 "Bearer $(token_for 25963 repository:bench/app:pull,push bench:bench-secret)"
push 25973 "Bearer $(token_for 25973 repository:bench/app:pull,push bench:bench-secret)"
push 25964 "Bearer $(token_for 25964 repository:bench/app:pull,push bench:bench-secret)"

rate() { # port authorization-header -> requests/s of manifest GETs
  local args=(-t2 -c"$connections" -d"${duration}s" -H 'Accept: application/vnd.oci.image.manifest.v1+json')
  [ -z "$2" ] || args+=(-H "Authorization: $2")
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' ${2:+-H "Authorization: $2"} \
    "http://127.0.0.1:$1/v2/bench/app/manifests/v1")
  [ "$status" = 200 ] || { echo "error: port $1 answered $status to the benchmark's request" >&2; exit 1; }
  wrk "${args[@]}" "http://127.0.0.1:$1/v2/bench/app/manifests/v1" | awk '/Requests\/sec/ {printf "%d", $2}'
}
printf '%-44s %12s %12s\n' "manifest GET, $connections connections, ${duration}s" Pier reference
printf '%-44s %12s %12s\n' "anonymous (no auth configured)" "$(rate 25961 "")" "$(rate 25971 "")"
printf '%-44s %12s %12s\n' "Basic credentials (htpasswd, bcrypt cost 5)" "$(rate 25962 "$basic_header")" "$(rate 25972 "$basic_header")"
printf '%-44s %12s %12s\n' "Bearer token (external service, RS256 x5c)" \
  "$(rate 25963 "Bearer $(token_for 25963 repository:bench/app:pull bench:bench-secret)")" \
  "$(rate 25973 "Bearer $(token_for 25973 repository:bench/app:pull bench:bench-secret)")"
printf '%-44s %12s %12s\n' "Bearer token (Pier's own /token, ES256)" "$(rate 25964 "Bearer $(token_for 25964 repository:bench/app:pull bench:bench-secret)")" "-"

# User enumeration: the mean time of 20 requests with a wrong password against 20 with an unknown user.
mean_ms() { # port user:password
  local total=0
  for _ in $(seq 1 20); do
    total=$(echo "$total + $(curl -s -o /dev/null -w '%{time_total}' -u "$2" "http://127.0.0.1:$1/v2/bench/app/manifests/v1")" | bc -l)
  done
  echo "scale=2; $total * 1000 / 20" | bc -l
}
command -v bc >/dev/null || { echo "error: bc is missing (apt-get install bc)" >&2; exit 1; }
# Fresh instances, so that the failed-login limit (10 per minute per user and address) is not what is measured.
start_pier pier-enum 25965 "${basic}  failedlogins:\n    limit: 0\n"
start_reference ref-enum 25975 "$basic"
printf '%-44s %12s %12s\n' "wrong password, ms (mean of 20)" "$(mean_ms 25965 bench:wrong)" "$(mean_ms 25975 bench:wrong)"
printf '%-44s %12s %12s\n' "unknown user, ms (mean of 20)" "$(mean_ms 25965 nobody:wrong)" "$(mean_ms 25975 nobody:wrong)"
