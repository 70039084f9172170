"""`slow`: a thousand slow-loris connections while normal requests must still be served quickly."""

import errno
import json
import random
import selectors
import socket
import threading
import time

from common import (Client, Server, TransportError, log, open_fds, raise_nofile, rand_bytes, rss_kib, sha256, percentile,
                    default_root, parse_url)

GROUPS = ["idle", "partial-request-line", "trickled-headers", "trickled-body", "idle-keepalive"]


class Slow:
    def __init__(self, group, sock, opened):
        self.group = group
        self.sock = sock
        self.opened = opened
        self.closed_at = None
        self.received = b""
        self.pending = b""     # bytes still to trickle
        self.next_send = 0.0


def prefix_for(group, blob_digest, i):
    if group == "idle":
        return b"", b""
    if group == "partial-request-line":
        return b"GE", b""
    if group == "trickled-headers":
        # A request whose header block never ends: one more header byte every interval.
        endless = b"".join(b"X-Slow-%d: %s\r\n" % (k, b"v" * 20) for k in range(100000 // 30))
        return b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n", endless
    if group == "trickled-body":
        head = (b"POST /v2/slow/loris/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n" % blob_digest.encode())
        return head, b"x" * 1048576
    if group == "idle-keepalive":
        return b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b""
    raise ValueError(group)


def run(args):
    host, port = parse_url(args.url)
    limits = raise_nofile(args.sockets * 2 + 512)
    server = None
    pid = args.pid
    if args.server_cmd:
        root = args.root or default_root("robust-slow-")
        server = Server(args.server_cmd, args.url, root, args.log or (root.rstrip("/") + ".log"))
        server.start()
        pid = server.pid
        log("slow: started server PID %d, root %s, log %s" % (pid, root, server.log_path))
    rng = random.Random(args.seed if args.seed is not None else 7)
    c = Client(args.url)
    probe_blob = rand_bytes(rng, 1 << 20)
    probe_digest = sha256(probe_blob)
    r = c.push_blob_monolithic("slow/probe", probe_blob)
    assert r.status == 201, r
    c.close()
    never_digest = sha256(b"x" * 1048576)

    rss = {"baseline": rss_kib(pid), "peak": rss_kib(pid), "samples": []}
    fds = {"baseline": open_fds(pid), "peak": open_fds(pid)}
    probes = []  # (t, kind, ok, latency, detail)
    stop = threading.Event()

    def prober():
        i = 0
        while not stop.is_set():
            i += 1
            for kind in ("GET /v2/", "GET 1 MiB blob", "push 4 KiB blob"):
                t0 = time.time()
                ok, detail = True, ""
                cl = Client(args.url, timeout=args.probe_timeout)
                try:
                    if kind == "GET /v2/":
                        r = cl.req("GET", "/v2/", retry_idempotent=False)
                        ok = r.status == 200
                    elif kind == "GET 1 MiB blob":
                        r = cl.req("GET", "/v2/slow/probe/blobs/%s" % probe_digest, retry_idempotent=False)
                        ok = r.status == 200 and sha256(r.body) == probe_digest
                    else:
                        data = b"probe-%d-" % i + bytes(4096)
                        r = cl.push_blob_monolithic("slow/probe", data)
                        ok = r.status == 201
                    detail = "%d" % r.status
                except (TransportError, OSError) as e:
                    ok, detail = False, str(e)[:120]
                finally:
                    cl.close()
                probes.append((t0, kind, ok, time.time() - t0, detail))
            stop.wait(args.probe_interval)

    def sampler():
        while not stop.is_set():
            v = rss_kib(pid)
            f = open_fds(pid)
            if v:
                rss["samples"].append((time.time(), v))
                rss["peak"] = max(rss["peak"] or 0, v)
            if f:
                fds["peak"] = max(fds["peak"] or 0, f)
            stop.wait(1.0)

    threading.Thread(target=sampler, daemon=True).start()
    threading.Thread(target=prober, daemon=True).start()
    time.sleep(2)  # a few probes before the attack: the baseline latency

    sel = selectors.DefaultSelector()
    slows = []
    t_start = time.time()
    connect_failures = 0
    for i in range(args.sockets):
        group = GROUPS[i % len(GROUPS)]
        try:
            s = socket.create_connection((host, port), timeout=5)
        except OSError as e:
            connect_failures += 1
            continue
        s.setblocking(False)
        sl = Slow(group, s, time.time())
        head, sl.pending = prefix_for(group, never_digest, i)
        if head:
            try:
                s.send(head)
            except OSError:
                pass
        sl.next_send = time.time() + rng.uniform(0, args.interval)
        slows.append(sl)
        sel.register(s, selectors.EVENT_READ, sl)
        if i % 100 == 99:
            time.sleep(0.05)
    log("slow: %d slow connections open (%d connect failures); trickling 1 byte per %ss for %ss" % (
        len(slows), connect_failures, args.interval, args.duration))

    end = t_start + args.duration
    last_report = time.time()
    while time.time() < end:
        for key, _ in sel.select(timeout=0.2):
            sl = key.data
            try:
                data = sl.sock.recv(65536)
            except (ConnectionResetError, OSError):
                data = b""
            if data:
                sl.received += data[:512]
                # the keep-alive group reads its answer and stays; everything else is a server's refusal
                continue
            sl.closed_at = time.time()
            sel.unregister(sl.sock)
            sl.sock.close()
        now = time.time()
        for sl in slows:
            if sl.closed_at is None and sl.pending and now >= sl.next_send:
                try:
                    n = sl.sock.send(sl.pending[:1])
                    sl.pending = sl.pending[n:]
                except BlockingIOError:
                    pass
                except OSError:
                    pass
                sl.next_send = now + args.interval
        if now - last_report > 30:
            last_report = now
            open_n = sum(1 for s in slows if s.closed_at is None)
            recent = [p for p in probes if p[0] > now - 30]
            log("slow: t=%3.0fs open %d/%d, RSS %s KiB, fds %s, probes last 30s: %d, failed %d, max %.2fs" % (
                now - t_start, open_n, len(slows), rss_kib(pid), open_fds(pid), len(recent),
                sum(1 for p in recent if not p[2]), max([p[3] for p in recent] or [0])))
        if server is not None and not server.alive():
            log("slow: SERVER DIED: %s" % server.exit_status())
            break
    attack_end = time.time()
    alive = server.alive() if server else (rss_kib(pid) is not None)
    still_open = [s for s in slows if s.closed_at is None]
    for s in still_open:
        s.sock.close()
    time.sleep(5)
    rss_after = rss_kib(pid)
    fds_after = open_fds(pid)
    stop.set()
    time.sleep(0.5)

    during = [p for p in probes if t_start <= p[0] <= attack_end]
    before = [p for p in probes if p[0] < t_start]
    by_group = {}
    for g in GROUPS:
        members = [s for s in slows if s.group == g]
        closed = [s.closed_at - s.opened for s in members if s.closed_at]
        answers = {}
        for s in members:
            if s.received:
                first = s.received.split(b"\r\n", 1)[0].decode("latin-1", "replace")[:40]
                answers[first] = answers.get(first, 0) + 1
        by_group[g] = {"opened": len(members), "closed_by_server": len(closed), "still_open_at_end": len(members) - len(closed),
                       "closed_after_s_min": round(min(closed), 1) if closed else None,
                       "closed_after_s_median": round(percentile(closed, 50), 1) if closed else None,
                       "closed_after_s_max": round(max(closed), 1) if closed else None,
                       "answers": answers}
    lat = [p[3] for p in during]
    result = {
        "sockets": args.sockets, "opened": len(slows), "connect_failures": connect_failures,
        "duration_s": round(attack_end - t_start, 1), "trickle_interval_s": args.interval,
        "server_alive": alive, "server_exit": server.exit_status() if server else None,
        "client_nofile": limits[0],
        "rss_kib": {"baseline": rss["baseline"], "peak": rss["peak"], "after_close_5s": rss_after},
        "fds": {"baseline": fds["baseline"], "peak": fds["peak"], "after_close_5s": fds_after},
        "probes_before": {"n": len(before), "max_s": round(max([p[3] for p in before] or [0]), 3)},
        "probes_during": {"n": len(during), "failed": sum(1 for p in during if not p[2]),
                          "slow_over_1s": sum(1 for p in during if p[3] > 1.0),
                          "p50_s": round(percentile(lat, 50) or 0, 3), "p99_s": round(percentile(lat, 99) or 0, 3),
                          "max_s": round(max(lat or [0]), 3)},
        "probe_failures": sorted(set("%s: %s" % (p[1], p[4]) for p in during if not p[2]))[:20],
        "groups": by_group,
    }
    if server:
        server.stop()
    report(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    problems = []
    if not alive:
        problems.append("the server died")
    if result["probes_during"]["failed"]:
        problems.append("%d normal requests failed during the attack" % result["probes_during"]["failed"])
    if args.max_rss_mib and (rss["peak"] or 0) > args.max_rss_mib * 1024:
        problems.append("peak RSS %d KiB over the limit of %s MiB" % (rss["peak"], args.max_rss_mib))
    for spec in args.expect_closed or ():
        group, _, seconds = spec.partition("=")
        members = [s for s in slows if s.group == group]
        late = [s for s in members if s.closed_at is None or s.closed_at - s.opened > float(seconds)]
        if not members or late:
            problems.append("%s: %d of %d connections not closed by the server within %s s" % (group, len(late), len(members), seconds))
    for p in problems:
        print("FAILED: " + p)
    return 1 if problems else 0


def report(r):
    print("\n== slow: %d slow connections for %ss (1 byte per %ss), server alive at the end: %s%s" % (
        r["opened"], r["duration_s"], r["trickle_interval_s"], r["server_alive"],
        "" if not r["server_exit"] else " (%s)" % r["server_exit"]))
    print("RSS KiB: baseline %s, peak %s, 5 s after closing all: %s;  open fds: baseline %s, peak %s, after %s" % (
        r["rss_kib"]["baseline"], r["rss_kib"]["peak"], r["rss_kib"]["after_close_5s"],
        r["fds"]["baseline"], r["fds"]["peak"], r["fds"]["after_close_5s"]))
    p = r["probes_during"]
    print("normal requests during the attack: %d, failed %d, slower than 1 s %d; latency p50 %.3fs p99 %.3fs max %.3fs "
          "(before the attack: max %.3fs)" % (p["n"], p["failed"], p["slow_over_1s"], p["p50_s"], p["p99_s"], p["max_s"],
                                              r["probes_before"]["max_s"]))
    for f in r["probe_failures"]:
        print("   probe failure: " + f)
    print("%-22s %7s %9s %11s %24s  %s" % ("group", "opened", "closed", "still open", "closed after s min/med/max", "answers"))
    for g, v in r["groups"].items():
        mm = "%s/%s/%s" % (v["closed_after_s_min"], v["closed_after_s_median"], v["closed_after_s_max"]) if v["closed_by_server"] else "-"
        print("%-22s %7d %9d %11d %24s  %s" % (g, v["opened"], v["closed_by_server"], v["still_open_at_end"], mm, v["answers"] or ""))
