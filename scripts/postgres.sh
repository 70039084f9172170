#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the tests, on a temporary directory and a loopback port.
#
#   bash scripts/postgres.sh start DIR PORT   # initdb into DIR, start on 127.0.0.1:PORT, create role and database
#   bash scripts/postgres.sh stop DIR         # stop the server whose data is in DIR (by its PID), remove DIR
#
# After start, the server takes `postgres://pier:pier-test@127.0.0.1:PORT/pier_test` (password over TCP, SCRAM), in
# plain text or TLS: its certificate is self-signed for 127.0.0.1 and localhost, in DIR/server.crt, which the printed
# URL names as `sslrootcert`. It also listens on 127.0.0.2, a name its certificate lacks.
# The test database collates with ICU's English rules, as production databases usually do with en_US: the store must
# not depend on the database's collation for its byte-ordered listings. Durability is off (fsync), this is a test
# server. As root, the server runs as the `postgres` user (initdb refuses root).
set -euo pipefail

bin=/usr/lib/postgresql/15/bin

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    dir=${2:?data directory}
    port=${3:?port}
    if [ ! -x "$bin/initdb" ]; then
      echo "error: $bin/initdb missing: install postgresql-15" >&2
      exit 1
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_server_user "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # 127.0.0.2 too, which the certificate does not name: verify-full must refuse it where verify-ca accepts it.
    echo "host all all 127.0.0.2/32 scram-sha-256" >>"$dir/data/pg_hba.conf"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$dir/server.key" -out "$dir/server.crt" 2>/dev/null
    chmod 600 "$dir/server.key"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir/server.key" "$dir/server.crt"
    # Many test cases run at once, each with a pool of its own.
    as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start -o \
      "-c listen_addresses=127.0.0.1,127.0.0.2 -p $port -c unix_socket_directories=$dir -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" \
      >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_server_user "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q <<'SQL'
CREATE ROLE pier LOGIN PASSWORD 'pier-test';
CREATE DATABASE pier_test OWNER pier TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US';
SQL
    echo "postgres://pier:pier-test@127.0.0.1:$port/pier_test?sslrootcert=$dir/server.crt"
    ;;
  stop)
    dir=${2:?data directory}
    if [ -f "$dir/data/postmaster.pid" ]; then
      pid=$(head -n 1 "$dir/data/postmaster.pid")
      # pg_ctl signals the PID in postmaster.pid; if it cannot, signal that PID ourselves.
      as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
