#!/usr/bin/env bash
# Pier's whole test suite, on a fresh Debian 12 machine or a developer's: installs what the tests need
# (SQLite headers, the real registry clients, the reference registry), builds once, and runs every suite.
# The end-to-end suites are required here: a missing tool is a failure, never a skip.
#
#   bash scripts/test.sh            # everything: Swift suites, then a bounded robustness run
#   bash scripts/test.sh --filter X # only Swift tests matching X (passed to swift test)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  libsqlite3-dev                       # GRDB links the system SQLite
  docker-registry                      # the reference registry (CNCF Distribution 2.8.2)
  skopeo podman buildah containerd runc docker.io umoci busybox-static
  python3-venv curl ca-certificates
  apache2-utils openssl                # the mirror suite: htpasswd -B for an upstream's users, a token server's keys
  radosgw ceph-mon ceph-osd uuid-runtime  # a real S3 server (Ceph RGW) for the S3 suites (scripts/rgw.sh)
  postgresql-15                        # the PostgreSQL metadata store's conformance suite (scripts/postgres.sh)
)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "error: need root to install ${missing[*]} (or install them yourself)" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python clients (oras, python-dxf) and the reference SigV4 signer (botocore) in a private venv, pinned.
venv=.build/e2e-venv
if [ ! -x "$venv/bin/dxf" ] || [ ! -f "$venv/.pinned-2" ]; then
  echo "==> creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q oras==0.2.43 python-dxf==12.1.1 botocore==1.43.11
  touch "$venv/.pinned-2"
fi

echo "==> building (debug, with tests)"
swift build --build-tests

# The services the suites need, each stopped (by its PID) however this script ends.
rgw_base=$(mktemp -d /tmp/pier-rgw.XXXXXX)
postgres_dir=$(mktemp -d /tmp/pier-postgres.XXXXXX)
stop_services() {
  bash scripts/rgw.sh stop "$rgw_base" || true
  bash scripts/postgres.sh stop "$postgres_dir" || true
}
trap stop_services EXIT

# A real S3 server for the S3 suites.
echo "==> starting Ceph RGW"
bash scripts/rgw.sh start "$rgw_base" >/dev/null
# shellcheck source=/dev/null
source "$rgw_base/env"                 # PIER_S3_ENDPOINT, PIER_S3_ACCESS_KEY, PIER_S3_SECRET_KEY, PIER_S3_REGION

# PostgreSQL on a temporary directory and a loopback port. Setting the URL makes the PostgreSQL conformance cases
# required: an unreachable server fails them.
echo "==> starting PostgreSQL"
PIER_TEST_POSTGRES_URL=$(bash scripts/postgres.sh start "$postgres_dir" 25950)
export PIER_TEST_POSTGRES_URL

echo "==> running tests"
export PIER_E2E=1
export PIER_BINARY="$PWD/.build/debug/pier"
export PIER_E2E_VENV="$PWD/$venv"
if [ $# -gt 0 ]; then
  swift test --skip-build "$@"
else
  # In two runs: the unit and HTTP suites first, then the end-to-end suites. Together in one process, the daemons and
  # clients the end-to-end suites start took the CPU from the in-process servers of the timing-sensitive HTTP suites.
  swift test --skip-build --skip EndToEndTests
  swift test --skip-build --filter EndToEndTests
fi

if [ $# -eq 0 ]; then
  # A bounded run of the black-box robustness harness against the built binary: hostile and fuzzed requests (no 5xx
  # for client errors, no hang, no crash, RSS bounded), slow-loris clients cut by the timeouts, kill -9 during concurrent pushes (nothing acknowledged lost or
  # corrupt, uploads resume), and a full disk (clean 507s, full recovery). tools/robustness/README.md has
  # the full-size runs and their figures.
  echo "==> robustness (bounded)"
  # Ports below the kernel's ephemeral range (32768-60999), so no client socket of an earlier step holds them.
  pier_cmd="$PIER_BINARY serve --root {root} --addr {addr} --log-level warn"
  robustness=tools/robustness/robustness.py
  python3 "$robustness" hostile http://127.0.0.1:25931 --server-cmd "$pier_cmd" --count 4000 --seed 7 --max-rss-mib 300
  # The same with authentication: the generated htpasswd config plus Pier's own token service (which also takes Basic
  # credentials on /v2/), so garbage Basic and Bearer values and /token requests get 4xx, never 5xx.
  # The failed-login limit is off: the harness sends garbage credentials and good ones from one address.
  token_env="env REGISTRY_AUTH_TOKEN_SERVICE=pier-robustness REGISTRY_AUTH_TOKEN_ISSUER=pier REGISTRY_AUTH_TOKEN_SIGNINGKEY={config}.token-key.pem"
  token_env+=" REGISTRY_AUTH_FAILEDLOGINS_LIMIT=0"
  python3 "$robustness" hostile http://127.0.0.1:25934 --server-cmd "$token_env $PIER_BINARY serve {config} --log-level warn" \
    --auth robust:hostile-secret --count 1500 --seed 8 --max-rss-mib 300
  # 200 slow-loris connections for 35 s with short deadlines: each kind must be cut by its timeout while normal
  # requests keep being served.
  slow_env="env REGISTRY_HTTP_TIMEOUTS_READHEADER=10s REGISTRY_HTTP_TIMEOUTS_BODYIDLE=4s REGISTRY_HTTP_TIMEOUTS_IDLE=20s"
  python3 "$robustness" slow http://127.0.0.1:25935 --server-cmd "$slow_env $pier_cmd" --sockets 200 --duration 35 \
    --max-rss-mib 300 --expect-closed idle=15 --expect-closed partial-request-line=15 --expect-closed trickled-headers=15 \
    --expect-closed trickled-body=15 --expect-closed idle-keepalive=25
  python3 "$robustness" crash http://127.0.0.1:25932 --server-cmd "$pier_cmd" --rounds 3 --pushers 10 --seed 7
  python3 "$robustness" diskfull http://127.0.0.1:25933 --server-cmd "$pier_cmd"
fi
