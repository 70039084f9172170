#!/usr/bin/env bash
# A real S3 server on loopback for Pier's S3 suites: one Ceph RADOS Gateway (monitor, one in-memory OSD, radosgw),
# from Debian's radosgw, ceph-mon and ceph-osd packages, started in ~3 s (recipe: shared/s3-ceph-rgw.md).
#
#   bash scripts/rgw.sh start DIR   # starts the daemons under DIR (short: admin socket paths must stay < 107 bytes),
#                                   # writes DIR/env (export PIER_S3_ENDPOINT=... and the keys) and prints it
#   bash scripts/rgw.sh stop DIR    # stops them by PID (radosgw, OSD, monitor) and removes DIR
#
# PIER_RGW_PORT (default 7480) is the S3 port; the monitor listens on the next two. Everything binds 127.0.0.1.
# A port already taken, a daemon that dies or a wait that times out fails at once with the logs' tails.
set -euo pipefail

command=${1:-}
base=${2:-}
if [ -z "$command" ] || [ -z "$base" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

stop() {
  for name in rgw.a osd.0 mon.a; do                   # this order: a monitor stopped first makes the OSD wait 5 s
    local pidfile="$base/run/$name.fgpid"
    [ -f "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  rm -rf "$base"
}

if [ "$command" = stop ]; then
  stop
  exit 0
fi
if [ "$command" != start ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

port=${PIER_RGW_PORT:-7480}
mon_v2=$((port + 1))
mon_v1=$((port + 2))
access_key=pieraccesskey
secret_key=piersecretkey1234567890
conf=$base/ceph.conf

fail() {
  echo "error: rgw.sh: $*" >&2
  for log in "$base"/log/*; do
    [ -f "$log" ] || continue
    echo "--- $log (last 20 lines) ---" >&2
    tail -n 20 "$log" >&2
  done
  stop
  exit 1
}

for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph uuidgen curl; do
  command -v "$tool" >/dev/null || { echo "error: rgw.sh: $tool is missing (apt-get install radosgw ceph-mon ceph-osd curl)" >&2; exit 1; }
done
for p in "$port" "$mon_v2" "$mon_v1"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "error: rgw.sh: port $p on 127.0.0.1 is taken (set PIER_RGW_PORT)" >&2
    exit 1
  fi
done

rm -rf "$base"
mkdir -p "$base"/{mon/a,osd/0,run,log,rgw}
fsid=$(uuidgen)
: > "$base/keyring"                                    # auth is off; an empty keyring keeps Ceph out of /etc/ceph
cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]
mon initial members = a
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
# Without these, radosgw (a client run as a daemon) insists on cephx's secure mode and never connects.
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
run dir = $base/run
admin socket = $base/run/\$name.asok
pid file = $base/run/\$name.pid
log file = $base/log/\$name.log
log to stderr = false
err to stderr = true
keyring = $base/keyring

[mon]
mon data = $base/mon/\$id
mon data avail warn = 1
mon data avail crit = 0
# The default 1 s makes radosgw's first start (several pools, one paxos round each) take 9 s.
paxos propose interval = 0.1

[osd]
osd data = $base/osd/\$id
osd objectstore = memstore
memstore device bytes = 8589934592
osd memory target = 939524096

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $base/rgw
rgw enable usage log = false
# Deleted objects would stay in the OSD's memory for 2 h otherwise.
rgw gc obj min wait = 10
rgw gc processor period = 10
rgw gc processor max time = 10
rgw dns name = localhost
CONF

# wait_for SECONDS PIDFILE COMMAND...: runs COMMAND until it succeeds; fails when the daemon dies or time runs out.
wait_for() {
  local seconds=$1 pidfile=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$(cat "$pidfile")" 2>/dev/null || fail "$(basename "$pidfile" .fgpid) died"
    [ $SECONDS -lt $deadline ] || fail "timed out after ${seconds}s waiting for: $*"
    sleep 0.2
  done
}

monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]" "$base/monmap" >/dev/null
ceph-mon -c "$conf" -i a --mkfs --monmap "$base/monmap" || fail "ceph-mon --mkfs failed"
ceph-mon -c "$conf" -i a -f >>"$base/log/mon.a.stdout" 2>&1 &
echo $! > "$base/run/mon.a.fgpid"
wait_for 30 "$base/run/mon.a.fgpid" ceph -c "$conf" --connect-timeout 5 mon stat

osd_uuid=$(uuidgen)
osd_id=$(ceph -c "$conf" osd new "$osd_uuid") || fail "ceph osd new failed"
[ "$osd_id" = 0 ] || fail "expected OSD 0, got $osd_id"
ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$base/log/osd.0.stdout" 2>&1 || fail "ceph-osd --mkfs failed"
ceph-osd -c "$conf" -i 0 -f >>"$base/log/osd.0.stdout" 2>&1 &
echo $! > "$base/run/osd.0.fgpid"
osd_up() { ceph -c "$conf" osd dump 2>/dev/null | grep -q "^osd.0 up"; }
wait_for 60 "$base/run/osd.0.fgpid" osd_up

radosgw -c "$conf" -n client.rgw.a -f >>"$base/log/rgw.a.stdout" 2>&1 &
echo $! > "$base/run/rgw.a.fgpid"
rgw_up() { curl -s "http://127.0.0.1:$port/" | grep -q ListAllMyBucketsResult; }
wait_for 60 "$base/run/rgw.a.fgpid" rgw_up

# Not with -n client.rgw.a: radosgw-admin would fight the daemon for its admin socket.
radosgw-admin -c "$conf" user create --uid=pier --display-name=pier \
  --access-key="$access_key" --secret="$secret_key" >/dev/null || fail "radosgw-admin user create failed"

cat > "$base/env" <<ENV
export PIER_S3_ENDPOINT=http://127.0.0.1:$port
export PIER_S3_ACCESS_KEY=$access_key
export PIER_S3_SECRET_KEY=$secret_key
export PIER_S3_REGION=us-east-1
ENV
cat "$base/env"
