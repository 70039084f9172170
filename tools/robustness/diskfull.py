"""`diskfull`: the data directory runs out of space. Refusals must be clean (507 + JSON error), nothing half-written
may be visible, and everything must work again once space returns."""

import errno
import json
import os
import random
import subprocess
import tempfile
import time

from common import (Client, Server, TransportError, log, make_config, make_manifest, rand_bytes, sha256, OCI_MANIFEST)


class Mount:
    """A small file system of our own: tmpfs if we may mount it, else a loop-mounted ext4 image."""

    def __init__(self, path, size_mb, kind):
        self.path = path
        self.size_mb = size_mb
        self.kind = kind
        self.image = None
        self.mounted = False

    def mount(self):
        os.makedirs(self.path, exist_ok=True)
        if self.kind in ("tmpfs", "auto"):
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % self.size_mb, "tmpfs", self.path],
                               capture_output=True, text=True)
            if r.returncode == 0:
                self.kind, self.mounted = "tmpfs", True
                return
            log("tmpfs mount refused (%s); trying a loop-mounted ext4 image" % r.stderr.strip())
        self.image = self.path.rstrip("/") + ".img"
        with open(self.image, "wb") as f:
            f.truncate(self.size_mb << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", self.image], check=True)
        subprocess.run(["mount", "-o", "loop", self.image, self.path], check=True)
        self.kind, self.mounted = "ext4-loop", True

    def free(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", self.path], check=False)
            self.mounted = False
        if self.image and os.path.exists(self.image):
            os.unlink(self.image)
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def fill_file(path, leave_bytes=0):
    """Write zeros to `path` until only `leave_bytes` are free (or ENOSPC). Returns the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for size in (1 << 20, 64 << 10, 4 << 10, 512, 1):
            block = bytes(size)
            while True:
                st = os.statvfs(os.path.dirname(path))
                if leave_bytes and st.f_bavail * st.f_frsize - size < leave_bytes:
                    break
                try:
                    n = os.write(fd, block)
                    written += n
                    if n < size:
                        break
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
        try:
            os.fsync(fd)
        except OSError:
            pass
    finally:
        os.close(fd)
    return written


class Run:
    def __init__(self, url):
        self.c = Client(url, timeout=60)
        self.events = []        # every write while space is short: phase, op, status, verdict, detail
        self.failures = []      # messages
        self.acked_blobs = {}   # (repo, digest) -> size
        self.acked_manifests = {}  # (repo, ref) -> (digest, body)
        self.refused = []       # ops to retry after recovery: dicts
        self.rng = random.Random(11)

    def verdict(self, phase, op, r, what=None):
        """Classify a write answer; returns 'ok', 'refused' or 'failed'."""
        if r is None:
            v, detail = "failed", "no response (transport error)"
        elif r.status in (201, 202, 204):
            v, detail = "ok", ""
        elif r.status in (507, 503) and r.error_codes():
            v, detail = "refused", "%d %s" % (r.status, r.error_codes())
        elif r.status >= 500:
            v, detail = "failed", "%d %s" % (r.status, r.body[:200])
        else:
            v, detail = "refused-4xx", "%d %s" % (r.status, r.body[:200])
        self.events.append({"phase": phase, "op": op, "status": r.status if r else None, "verdict": v, "detail": detail})
        if v == "failed":
            self.failures.append("%s: %s -> %s" % (phase, op, detail))
        return v

    def req(self, *a, **k):
        try:
            return self.c.req(*a, **k)
        except TransportError as e:
            self.failures.append("transport error: %s" % e)
            return None

    # -- operations ---------------------------------------------------------------------------------------------

    def push_blob(self, phase, repo, data, chunked=False):
        d = sha256(data)
        op = {"kind": "blob-chunked" if chunked else "blob", "repo": repo, "data": data, "digest": d}
        label = "%s push %s (%d bytes)" % ("chunked" if chunked else "monolithic", repo, len(data))
        try:
            if not chunked:
                r = self.c.push_blob_monolithic(repo, data, d)
                v = self.verdict(phase, label, r)
            else:
                r = self.c.start_upload(repo)
                v = self.verdict(phase, label + " POST", r)
                if v == "ok":
                    loc = r.h("location")
                    half = max(1, len(data) // 2)
                    r = self.c.patch(loc, data[:half], 0)
                    v = self.verdict(phase, label + " PATCH", r)
                    if v == "ok":
                        loc = r.h("location") or loc
                        r = self.c.put_upload(loc, d, data[half:])
                        v = self.verdict(phase, label + " PUT", r)
        except TransportError as e:
            self.failures.append("%s: %s: transport error %s" % (phase, label, e))
            v = "failed"
        if v == "ok":
            self.acked_blobs[(repo, d)] = len(data)
        else:
            self.refused.append(op)
        return v

    def push_manifest(self, phase, repo, ref, body):
        op = {"kind": "manifest", "repo": repo, "ref": ref, "body": body, "digest": sha256(body)}
        label = "manifest PUT %s:%s (%d bytes)" % (repo, ref[:20], len(body))
        try:
            r = self.c.put_manifest(repo, ref, body)
        except TransportError as e:
            r = None
        v = self.verdict(phase, label, r)
        if v == "ok":
            self.acked_manifests[(repo, ref)] = (op["digest"], body)
            self.acked_manifests[(repo, op["digest"])] = (op["digest"], body)
        else:
            self.refused.append(op)
        return v

    def base_image(self, repo, tag, extra=0, phase="baseline"):
        cfg = make_config(self.rng, tag)
        layer = rand_bytes(self.rng, 2048 + extra)
        for b in (cfg, layer):
            if self.push_blob(phase, repo, b) != "ok":
                return None
        body = make_manifest(cfg, [layer])
        self.push_manifest(phase, repo, tag, body)
        return cfg, layer

    # -- checks ---------------------------------------------------------------------------------------------------

    def verify_acked(self, phase):
        bad = 0
        for (repo, d), size in self.acked_blobs.items():
            r = self.req("GET", "/v2/%s/blobs/%s" % (repo, d))
            if r is None or r.status != 200 or sha256(r.body) != d:
                bad += 1
                self.failures.append("%s: acknowledged blob %s@%s reads back %s" % (phase, repo, d, r and (r.status, len(r.body), r.body[:120])))
        for (repo, ref), (d, body) in self.acked_manifests.items():
            r = self.req("GET", "/v2/%s/manifests/%s" % (repo, ref), headers={"Accept": OCI_MANIFEST})
            if r is None or r.status != 200 or r.body != body:
                bad += 1
                self.failures.append("%s: acknowledged manifest %s:%s reads back %s" % (phase, repo, ref, r and (r.status, r.body[:120])))
        return bad

    def verify_refused_invisible(self, phase):
        """A refused write must not be visible half-done: 404 (or, if it did get stored whole, the exact bytes)."""
        notes = []
        for op in self.refused:
            if op["kind"].startswith("blob"):
                paths = ["/v2/%s/blobs/%s" % (op["repo"], op["digest"])]
                want = None
            else:
                paths = ["/v2/%s/manifests/%s" % (op["repo"], op["ref"])]
                if (op["repo"], op["digest"]) not in self.acked_manifests:  # (a re-tag of an acknowledged manifest)
                    paths.append("/v2/%s/manifests/%s" % (op["repo"], op["digest"]))
                want = op["body"]
            for p in paths:
                for method in ("HEAD", "GET"):
                    r = self.req(method, p, headers={"Accept": OCI_MANIFEST})
                    if r is None:
                        continue
                    if r.status == 404:
                        continue
                    if r.status == 200 and method == "GET":
                        ok = (r.body == want) if want is not None else (sha256(r.body) == op["digest"])
                        if ok:
                            notes.append("%s %s: stored whole despite the refusal" % (method, p))
                            continue
                        self.failures.append("%s: refused write visible with wrong bytes: GET %s -> 200, %d bytes" % (phase, p, len(r.body)))
                    elif r.status == 200:
                        continue
                    else:
                        self.failures.append("%s: refused write answers %s %s -> %d %s" % (phase, method, p, r.status, r.body[:150]))
        return notes

    def retry_refused(self, phase):
        ok = 0
        retry, self.refused = self.refused, []
        for op in retry:
            if op["kind"] == "manifest":
                v = self.push_manifest(phase, op["repo"], op["ref"], op["body"])
            else:
                v = self.push_blob(phase, op["repo"], op["data"], chunked=op["kind"] == "blob-chunked")
            if v == "ok":
                ok += 1
            else:
                self.failures.append("%s: re-push after recovery not accepted: %s %s:%s" % (
                    phase, op["kind"], op["repo"], op.get("ref", op["digest"])))
        return ok, len(retry)


def run(args):
    if os.geteuid() != 0:
        print("diskfull needs root (to mount a small file system)")
        return 2
    base = args.mount or tempfile.mkdtemp(prefix="robust-diskfull-", dir="/tmp")
    mnt = Mount(base, args.size_mb, args.fs)
    mnt.mount()
    root = os.path.join(base, "data")
    logp = args.log or base.rstrip("/") + ".log"
    cfgdir = tempfile.mkdtemp(prefix="robust-diskfull-cfg-", dir="/tmp")
    server = Server(args.server_cmd, args.url, root, logp, config_dir=cfgdir)
    log("diskfull: %s of %d MiB at %s; server log %s" % (mnt.kind, args.size_mb, base, logp))
    run_ = Run(args.url)
    summary = {"fs": mnt.kind, "size_mb": args.size_mb}
    try:
        server.start()
        for i in range(3):
            run_.base_image("full/base", "base%d" % i)
        cfg, layer = run_.base_image("full/meta", "m0") or (None, None)
        summary["baseline_acked"] = {"blobs": len(run_.acked_blobs), "manifests": len(run_.acked_manifests)}

        # Fill: a filler file first (leaving some room), then blob pushes until the server refuses.
        filler1 = os.path.join(base, "filler-1")
        filler2 = os.path.join(base, "filler-2")
        for f in (filler1, filler2):
            open(f, "wb").close()  # created now: on a full file system even an empty file may not be creatable
        fill_file(filler1, leave_bytes=args.headroom_mb << 20)
        log("filler written; %d KiB free; pushing blobs until refused" % (mnt.free() >> 10))
        pushed = refused = 0
        for size in (1 << 20, 64 << 10, 4 << 10):
            streak = 0
            for i in range(400):
                v = run_.push_blob("fill", "full/fill", rand_bytes(run_.rng, size), chunked=(i % 3 == 2))
                if v == "ok":
                    pushed += 1
                    streak = 0
                else:
                    refused += 1
                    streak += 1
                    if streak >= 3:
                        break
        # Manifests with large annotations until refused (these only grow the metadata).
        mrefused = 0
        if cfg is not None:
            for i in range(200):
                body = make_manifest(cfg, [layer], {"pad": "p" * (64 << 10), "i": str(i)})
                v = run_.push_manifest("fill", "full/meta", "m%d" % (i + 1), body)
                if v != "ok":
                    mrefused += 1
                    if mrefused >= 3:
                        break
        summary["fill"] = {"blobs_accepted": pushed, "blob_refusals": refused, "manifest_refusals": mrefused,
                           "free_kib_after": mnt.free() >> 10}
        # Top up to exactly zero free bytes.
        fill_file(filler2)
        log("disk now full: %d bytes free" % mnt.free())

        # Every kind of write on the full disk.
        run_.push_blob("full", "full/probe", rand_bytes(run_.rng, 256 << 10))
        run_.push_blob("full", "full/probe", rand_bytes(run_.rng, 100))
        run_.push_blob("full", "full/probe", rand_bytes(run_.rng, 200 << 10), chunked=True)
        run_.push_blob("full", "full/probe", rand_bytes(run_.rng, 10), chunked=True)
        if cfg is not None:
            body = make_manifest(cfg, [layer], {"probe": "p" * (32 << 10)})
            run_.push_manifest("full", "full/meta", "probe-tag", body)
            run_.push_manifest("full", "full/meta", sha256(make_manifest(cfg, [layer], {"by": "digest"})),
                               make_manifest(cfg, [layer], {"by": "digest"}))
            existing = next((b for (repo, ref), (d, b) in run_.acked_manifests.items() if repo == "full/meta"), None)
            if existing is not None:
                run_.push_manifest("full", "full/meta", "retag-existing", existing)
        full_events = [e for e in run_.events if e["phase"] == "full"]
        summary["writes_while_full"] = {v: sum(1 for e in full_events if e["verdict"] == v) for v in ("ok", "refused", "refused-4xx", "failed")}
        summary["acked_bad_while_full"] = run_.verify_acked("reads while full")
        notes = run_.verify_refused_invisible("while full")

        # A restart on the full disk (graceful, then kill -9): it must come back and serve.
        for how in ("SIGTERM", "SIGKILL"):
            if how == "SIGTERM":
                server.stop()
            else:
                server.kill()
            try:
                server.start(timeout=60)
            except RuntimeError as e:
                run_.failures.append("restart (%s) on the full disk failed: %s" % (how, e))
                summary["restart_on_full_disk_" + how] = "failed"
                with open(filler2, "r+b") as f:
                    f.truncate(0)
                server.start(timeout=60)
                fill_file(filler2)
                continue
            summary["restart_on_full_disk_" + how] = "ok"
        summary["acked_bad_after_restart_full"] = run_.verify_acked("after restart on full disk")
        notes += run_.verify_refused_invisible("after restart on full disk")

        # Space returns.
        for f in (filler1, filler2):
            if os.path.exists(f):
                os.unlink(f)
        log("space freed: %d KiB free; re-pushing the %d refused writes" % (mnt.free() >> 10, len(run_.refused)))
        ok, n = run_.retry_refused("after recovery")
        summary["recovery"] = {"refused_writes_retried": n, "accepted": ok}
        summary["acked_bad_after_recovery"] = run_.verify_acked("after recovery")
        # New work of every kind after recovery.
        run_.base_image("full/after", "t1", extra=300 << 10, phase="after recovery")
        server.stop()
        server.start()
        summary["acked_bad_after_recovery_restart"] = run_.verify_acked("after recovery and restart")
        summary["notes"] = notes
    finally:
        server.stop()
        log_lines = server.log_tail(12, grep=["error", "Error", "panic", "fatal", "critical"])
        mnt.unmount()
    summary["failures"] = run_.failures
    summary["events_refused_by_status"] = {}
    for e in run_.events:
        if e["verdict"] != "ok":
            k = "%s %s" % (e["status"], e["verdict"])
            summary["events_refused_by_status"][k] = summary["events_refused_by_status"].get(k, 0) + 1
    summary["server_log_errors"] = log_lines
    report(summary, run_)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "events": run_.events}, f, indent=1, default=str)
    return 1 if run_.failures else 0


def report(s, run_):
    print("\n== diskfull: %s of %d MiB" % (s["fs"], s["size_mb"]))
    print("fill: %s" % s.get("fill"))
    print("writes on the full disk: %s" % s.get("writes_while_full"))
    print("refusals/failures by status (all phases): %s" % s["events_refused_by_status"])
    for k in ("restart_on_full_disk_SIGTERM", "restart_on_full_disk_SIGKILL"):
        print("%s: %s" % (k, s.get(k)))
    print("acknowledged items reading back wrong: while full %s, after restart on full disk %s, after recovery %s, "
          "after recovery+restart %s" % (s.get("acked_bad_while_full"), s.get("acked_bad_after_restart_full"),
                                        s.get("acked_bad_after_recovery"), s.get("acked_bad_after_recovery_restart")))
    print("recovery: %s" % s.get("recovery"))
    for n in s.get("notes", [])[:10]:
        print("note: " + n)
    print("FAILURES: %d" % len(s["failures"]))
    for f in s["failures"][:40]:
        print("  " + f[:400])
    for l in s["server_log_errors"]:
        print("  server log: " + l[:300])
