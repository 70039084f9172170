#!/usr/bin/env python3
"""Black-box robustness harness for an OCI Distribution registry (Pier, or the reference for comparison).

  crash    kill -9 at random moments during concurrent pushers; acknowledged writes must survive
  hostile  malformed / hostile requests mixed with good ones; no 5xx for client errors, no hang, no crash
  slow     slow-loris connections; normal requests must still be served, memory bounded
  diskfull the data directory runs out of space; clean 507 refusals and full recovery
  refconfig  print a CNCF Distribution config.yml for a root and address

--server-cmd placeholders: {root} {port} {addr} {config} (config: a Distribution config generated for root/addr).
Examples:
  robustness.py crash http://127.0.0.1:5601 --server-cmd '.build/release/pier serve --root {root} --addr {addr} --log-level warn'
  robustness.py crash http://127.0.0.1:5602 --server-cmd 'docker-registry serve {config}'
Standard library only. Exit status 1 when a failure was found.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, need_server):
        sp.add_argument("url", nargs="?", default="http://127.0.0.1:5600", help="registry base URL (loopback)")
        sp.add_argument("--server-cmd", required=need_server, help="command that runs the server (placeholders {root} {port} {addr} {config})")
        sp.add_argument("--root", help="data directory for the server (default: a fresh temp dir)")
        sp.add_argument("--log", help="server log file (default: <root>.log)")
        sp.add_argument("--seed", type=int)
        sp.add_argument("--json", help="write the full result as JSON here")
        sp.add_argument("--auth", metavar="USER:PASSWORD", help="the server requires HTTP Basic authentication: the generated "
                        "{config} names an htpasswd file with this user (htpasswd -B), and good requests send it")

    c = sub.add_parser("crash", help="kill -9 during concurrent pushes")
    common(c, True)
    c.add_argument("--rounds", type=int, default=20)
    c.add_argument("--pushers", type=int, default=30)
    c.add_argument("--min-delay", type=float, default=0.5, help="earliest kill, seconds after the pushers start")
    c.add_argument("--max-delay", type=float, default=6.0, help="latest kill")
    c.add_argument("--final-full", action="store_true", help="after the last round GET every blob ever acknowledged "
                   "(otherwise: every blob of the round in full, older ones by HEAD plus a random sample by GET)")

    h = sub.add_parser("hostile", help="malformed requests mixed with good ones")
    common(h, False)
    h.add_argument("--count", type=int, default=50000)
    h.add_argument("--concurrency", type=int, default=16)
    h.add_argument("--timeout", type=float, default=10.0, help="seconds without an answer that count as a hang")
    h.add_argument("--skip", action="append", help="skip cases whose name contains this (repeatable), e.g. a known crasher")
    h.add_argument("--max-crashes", type=int, default=10, help="stop the run after this many server deaths")
    h.add_argument("--max-seconds", type=float, default=1800, help="stop sending after this long")
    h.add_argument("--max-rss-mib", type=float, default=300, help="fail when the server's RSS exceeds this (sampled every 0.5 s)")

    s = sub.add_parser("slow", help="slow-loris connections")
    common(s, False)
    s.add_argument("--pid", type=int, help="PID of an already running server (for RSS); or use --server-cmd")
    s.add_argument("--sockets", type=int, default=1000)
    s.add_argument("--duration", type=float, default=330, help="seconds to hold the slow connections")
    s.add_argument("--interval", type=float, default=5.0, help="seconds between trickled bytes on each connection")
    s.add_argument("--probe-interval", type=float, default=0.5)
    s.add_argument("--probe-timeout", type=float, default=10.0)
    s.add_argument("--max-rss-mib", type=float, help="fail when the server's RSS exceeds this")
    s.add_argument("--expect-closed", action="append", metavar="GROUP=SECONDS",
                   help="fail unless the server closes every connection of GROUP within SECONDS of its opening (repeatable); "
                   "groups: idle, partial-request-line, trickled-headers, trickled-body, idle-keepalive")

    d = sub.add_parser("diskfull", help="the data directory runs out of space")
    common(d, True)
    d.add_argument("--mount", help="mount point to create (default: a fresh dir under /tmp)")
    d.add_argument("--size-mb", type=int, default=64)
    d.add_argument("--fs", choices=["auto", "tmpfs", "ext4"], default="auto")
    d.add_argument("--headroom-mb", type=int, default=12, help="free space the filler file leaves for the blob pushes")

    r = sub.add_parser("refconfig", help="print a Distribution config.yml for --root and --addr")
    r.add_argument("--root", required=True)
    r.add_argument("--addr", required=True)

    args = p.parse_args(argv)
    if getattr(args, "auth", None):
        from common import set_auth
        set_auth(args.auth)
    if args.cmd == "crash":
        import crash
        return crash.run(args)
    if args.cmd == "hostile":
        import hostile
        return hostile.run(args)
    if args.cmd == "slow":
        import slow
        if not args.server_cmd and not args.pid:
            p.error("slow needs --server-cmd or --pid (to watch the server's memory)")
        return slow.run(args)
    if args.cmd == "diskfull":
        import diskfull
        return diskfull.run(args)
    if args.cmd == "refconfig":
        from common import REFERENCE_CONFIG
        sys.stdout.write(REFERENCE_CONFIG.format(root=args.root, addr=args.addr))
        return 0


if __name__ == "__main__":
    sys.exit(main())
