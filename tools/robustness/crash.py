"""`crash`: kill -9 at random moments during concurrent pushes; every acknowledged write must survive."""

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from common import (Client, Server, TransportError, log, make_config, make_manifest, rand_bytes, range_end, sha256,
                    default_root, OCI_MANIFEST)


class Ledger:
    """Everything the server acknowledged, and what was in flight when it died."""

    def __init__(self):
        self.lock = threading.Lock()
        self.blobs = {}        # (repo, digest) -> (size, round)
        self.manifests = []    # dicts: repo, tag, digest, body, round
        self.latest = {}       # repo -> {"acked": (digest, body) or None, "pending": (digest, body) or None}
        self.sessions = []     # in-flight upload sessions: repo, location, data, acked, pending, round, kind
        self.push_5xx = []     # (request, status, body) seen while pushing (server alive)
        self.push_unexpected = []
        self.transport_errors_before_kill = 0
        self.ops = {"blob_monolithic": 0, "blob_chunked": 0, "manifest": 0, "patch": 0}

    def note_status(self, what, r):
        if r.status >= 500:
            with self.lock:
                self.push_5xx.append((what, r.status, r.body[:300]))
        else:
            with self.lock:
                self.push_unexpected.append((what, r.status, r.body[:300]))


def choose_size(rng):
    x = rng.random()
    if x < 0.70:
        return rng.randint(0, 16 * 1024)
    if x < 0.95:
        return rng.randint(16 * 1024, 256 * 1024)
    return rng.randint(256 * 1024, 2 * 1024 * 1024)


def pusher(url, index, rnd, seed, stop, ledger):
    rng = random.Random(seed * 7919 + rnd * 1009 + index)
    c = Client(url, timeout=60)
    own_repo = "crash/p%02d" % index
    n = 0
    while not stop.is_set():
        repo = own_repo if rng.random() < 0.8 else "crash/shared"
        session = None
        try:
            layers = []
            for _ in range(rng.randint(1, 3)):
                data = rand_bytes(rng, choose_size(rng))
                if rng.random() < 0.5:
                    d = sha256(data)
                    r = c.push_blob_monolithic(repo, data, d)
                    ledger.ops["blob_monolithic"] += 1
                    if r.status == 201 and r.h("docker-content-digest") in (None, d):
                        with ledger.lock:
                            ledger.blobs[(repo, d)] = (len(data), rnd)
                        layers.append(data)
                    else:
                        ledger.note_status("monolithic blob push %s" % repo, r)
                else:
                    session = push_chunked(c, rng, repo, data, rnd, ledger)
                    if session is None:
                        continue
                    layers.append(data)
                    session = None
            if stop.is_set():
                break
            config = make_config(rng, "%d-%d-%d" % (rnd, index, n))
            d = sha256(config)
            r = c.push_blob_monolithic(repo, config, d)
            if r.status != 201:
                ledger.note_status("config push", r)
                continue
            with ledger.lock:
                ledger.blobs[(repo, d)] = (len(config), rnd)
            body = make_manifest(config, layers)
            digest = sha256(body)
            tag = "r%02d-p%02d-%04d" % (rnd, index, n)
            n += 1
            by_digest = rng.random() < 0.25
            r = c.put_manifest(repo, digest if by_digest else tag, body)
            ledger.ops["manifest"] += 1
            if r.status == 201 and r.h("docker-content-digest") in (None, digest):
                with ledger.lock:
                    ledger.manifests.append({"repo": repo, "tag": None if by_digest else tag, "digest": digest,
                                             "body": body, "round": rnd})
            else:
                ledger.note_status("manifest put %s:%s" % (repo, tag), r)
                continue
            if repo == own_repo and rng.random() < 0.3:
                # A mutable tag: after a crash it must name the last acknowledged manifest or the one in flight.
                with ledger.lock:
                    st = ledger.latest.setdefault(repo, {"acked": None, "pending": None})
                    st["pending"] = (digest, body)
                r = c.put_manifest(repo, "latest", body)
                with ledger.lock:
                    if r.status == 201:
                        st["acked"] = (digest, body)
                    st["pending"] = None
                if r.status != 201:
                    ledger.note_status("manifest put %s:latest" % repo, r)
            if rng.random() < 0.15:
                # Leave an upload session open on purpose, with some bytes acknowledged.
                data = rand_bytes(rng, rng.randint(1, 300 * 1024))
                r = c.start_upload(repo)
                if r.status == 202 and r.h("location"):
                    part = data[:rng.randint(1, len(data))]
                    s = {"repo": repo, "location": r.h("location"), "data": data, "acked": 0, "pending": len(part),
                         "round": rnd, "kind": "left open"}
                    with ledger.lock:
                        ledger.sessions.append(s)
                    r = c.patch(s["location"], part, 0)
                    if r.status == 202:
                        s["acked"], s["pending"] = len(part), 0
                        if r.h("location"):
                            s["location"] = r.h("location")
                    else:
                        ledger.note_status("patch (left open)", r)
                        with ledger.lock:
                            ledger.sessions.remove(s)
        except TransportError:
            if stop.is_set():
                break
            ledger.transport_errors_before_kill += 1
            time.sleep(0.05)
    c.close()


def push_chunked(c, rng, repo, data, rnd, ledger):
    """POST, PATCH chunks, PUT; the session is in the ledger while it is open. Returns True when acknowledged."""
    r = c.start_upload(repo)
    if r.status != 202 or not r.h("location"):
        ledger.note_status("start upload", r)
        return None
    ledger.ops["blob_chunked"] += 1
    s = {"repo": repo, "location": r.h("location"), "data": data, "acked": 0, "pending": 0, "round": rnd,
         "kind": "chunked push"}
    with ledger.lock:
        ledger.sessions.append(s)
    pieces = rng.randint(1, 4)
    step = max(1, len(data) // pieces)
    offset = 0
    while offset < len(data):
        chunk = data[offset:offset + step]
        s["pending"] = len(chunk)
        r = c.patch(s["location"], chunk, offset)
        ledger.ops["patch"] += 1
        if r.status != 202:
            ledger.note_status("patch chunk", r)
            with ledger.lock:
                ledger.sessions.remove(s)
            return None
        offset += len(chunk)
        s["acked"], s["pending"] = offset, 0
        if r.h("location"):
            s["location"] = r.h("location")
    d = sha256(data)
    s["pending"] = -1  # the PUT may or may not have completed
    r = c.put_upload(s["location"], d)
    if r.status == 201:
        with ledger.lock:
            ledger.blobs[(repo, d)] = (len(data), rnd)
            ledger.sessions.remove(s)
        return True
    ledger.note_status("put upload", r)
    with ledger.lock:
        ledger.sessions.remove(s)
    return None


class Verdict:
    def __init__(self):
        self.lock = threading.Lock()
        self.lost = []
        self.corrupt = []
        self.fivexx = []
        self.checked = {"blobs": 0, "manifests": 0, "latest": 0, "sessions": 0}
        self.sessions = {"resumed": 0, "unknown": 0, "bad": [], "late_unknown": []}

    def add(self, kind, what):
        with self.lock:
            getattr(self, kind).append(what)


def verify_blob(c, repo, digest, size, full, v):
    path = "/v2/%s/blobs/%s" % (repo, digest)
    try:
        r = c.req("HEAD", path)
        if r.status >= 500:
            v.add("fivexx", "HEAD %s -> %d" % (path, r.status))
            v.add("corrupt", "blob %s@%s: HEAD %d" % (repo, digest, r.status))
            return
        if r.status == 404:
            v.add("lost", "blob %s@%s: HEAD 404" % (repo, digest))
            return
        if r.status != 200 or r.h("content-length") != str(size):
            v.add("corrupt", "blob %s@%s: HEAD %d size %s != %d" % (repo, digest, r.status, r.h("content-length"), size))
            return
        if full:
            r = c.req("GET", path)
            if r.status >= 500:
                v.add("fivexx", "GET %s -> %d" % (path, r.status))
                v.add("corrupt", "blob %s@%s: GET %d" % (repo, digest, r.status))
            elif r.status == 404:
                v.add("lost", "blob %s@%s: GET 404" % (repo, digest))
            elif r.status != 200 or sha256(r.body) != digest or len(r.body) != size:
                v.add("corrupt", "blob %s@%s: GET %d, %d bytes, hash %s" % (repo, digest, r.status, len(r.body), sha256(r.body)))
    except TransportError as e:
        v.add("corrupt", "blob %s@%s: transport error %s" % (repo, digest, e))
    finally:
        with v.lock:
            v.checked["blobs"] += 1


def check_manifest_response(r, what, body, digest, v, allowed=None):
    """True if the response carries exactly `body` (or one of `allowed` (digest, body))."""
    if r.status >= 500:
        v.add("fivexx", "%s -> %d %s" % (what, r.status, r.body[:120]))
        v.add("corrupt", "%s: %d" % (what, r.status))
        return False
    if r.status == 404:
        v.add("lost", "%s: 404 %s" % (what, r.body[:120]))
        return False
    options = allowed or [(digest, body)]
    if r.status == 200 and any(r.body == b and r.h("docker-content-digest") in (None, d) for d, b in options):
        return True
    v.add("corrupt", "%s: %d, %d bytes, digest header %s, body hash %s" % (
        what, r.status, len(r.body), r.h("docker-content-digest"), sha256(r.body)))
    return False


def verify_manifest(c, m, v):
    try:
        refs = [m["digest"]] + ([m["tag"]] if m["tag"] else [])
        for ref in refs:
            path = "/v2/%s/manifests/%s" % (m["repo"], ref)
            r = c.req("GET", path, headers={"Accept": OCI_MANIFEST})
            check_manifest_response(r, "manifest GET %s:%s" % (m["repo"], ref), m["body"], m["digest"], v)
        if m["tag"]:
            r = c.req("HEAD", "/v2/%s/manifests/%s" % (m["repo"], m["tag"]), headers={"Accept": OCI_MANIFEST})
            if r.status == 200 and r.h("content-length") not in (None, str(len(m["body"]))):
                v.add("corrupt", "manifest HEAD %s:%s: Content-Length %s != %d" % (m["repo"], m["tag"], r.h("content-length"), len(m["body"])))
            elif r.status >= 500:
                v.add("fivexx", "manifest HEAD %s:%s -> %d" % (m["repo"], m["tag"], r.status))
    except TransportError as e:
        v.add("corrupt", "manifest %s@%s: transport error %s" % (m["repo"], m["digest"], e))
    finally:
        with v.lock:
            v.checked["manifests"] += 1


def verify_latest(c, repo, st, v):
    allowed = [x for x in (st["acked"], st["pending"]) if x]
    if not st["acked"]:
        return
    try:
        r = c.req("GET", "/v2/%s/manifests/latest" % repo, headers={"Accept": OCI_MANIFEST})
        check_manifest_response(r, "manifest GET %s:latest" % repo, None, None, v, allowed=allowed)
    except TransportError as e:
        v.add("corrupt", "%s:latest: transport error %s" % (repo, e))
    with v.lock:
        v.checked["latest"] += 1


def verify_session(c, s, v, ledger, rnd):
    """After a restart an upload in flight must resume where the server says (at an acknowledged offset, or
    past a chunk whose answer was lost) and complete, or be 404 BLOB_UPLOAD_UNKNOWN."""
    what = "upload %s (%s, acked %d, pending %d)" % (c.path_of(s["location"])[:120], s["kind"], s["acked"], s["pending"])
    try:
        r = c.req("GET", c.path_of(s["location"]))
        if r.status == 404:
            if r.error_codes() and "BLOB_UPLOAD_UNKNOWN" in r.error_codes():
                v.sessions["unknown"] += 1
            else:
                v.sessions["bad"].append("%s: GET 404 without BLOB_UPLOAD_UNKNOWN: %s" % (what, r.body[:150]))
            return
        if r.status >= 500:
            v.add("fivexx", "%s: GET status -> %d %s" % (what, r.status, r.body[:150]))
        if r.status != 204:
            v.sessions["bad"].append("%s: GET status %d %s" % (what, r.status, r.body[:150]))
            return
        end = range_end(r.h("range"))
        if end is None:
            v.sessions["bad"].append("%s: GET 204 without a usable Range (%r)" % (what, r.h("range")))
            return
        if end == 1 and s["acked"] == 0 and r.h("range") in ("0-0", "bytes=0-0"):
            end = 0  # "0-0" is what both servers answer for an empty upload
        allowed = {s["acked"]}
        if s["pending"] > 0:
            allowed.add(s["acked"] + s["pending"])
        if s["pending"] == -1:
            allowed.add(len(s["data"]))
        if end not in allowed:
            v.sessions["bad"].append("%s: server says offset %d, expected one of %s" % (what, end, sorted(allowed)))
            return
        location = r.h("location") or s["location"]
        data = s["data"]
        d = sha256(data)
        if end < len(data):
            r = c.patch(location, data[end:], end)
            if r.status != 202:
                if r.status >= 500:
                    v.add("fivexx", "%s: resume PATCH -> %d %s" % (what, r.status, r.body[:150]))
                v.sessions["bad"].append("%s: resume PATCH at %d -> %d %s" % (what, end, r.status, r.body[:150]))
                return
            location = r.h("location") or location
        r = c.put_upload(location, d)
        if r.status == 404 and r.error_codes() and "BLOB_UPLOAD_UNKNOWN" in r.error_codes():
            # The status said "resume at N", the completion says "unknown": a client must start over. Does that work?
            r2 = c.push_blob_monolithic(s["repo"], data, d)
            r3 = c.req("GET", "/v2/%s/blobs/%s" % (s["repo"], d))
            healed = r2.status == 201 and r3.status == 200 and sha256(r3.body) == d
            v.sessions["late_unknown"].append("%s: GET status 204 (offset %d) but the completing PUT -> 404 %s; "
                                              "a fresh push of the same blob then %s" % (
                                                  what, end, r.body[:100], "works" if healed else "FAILS (%d/%d)" % (r2.status, r3.status)))
            if healed:
                with ledger.lock:
                    ledger.blobs[(s["repo"], d)] = (len(data), rnd)
            return
        if r.status != 201:
            if r.status >= 500:
                v.add("fivexx", "%s: resume PUT -> %d %s" % (what, r.status, r.body[:150]))
            v.sessions["bad"].append("%s: resume PUT -> %d %s" % (what, r.status, r.body[:150]))
            return
        r = c.req("GET", "/v2/%s/blobs/%s" % (s["repo"], d))
        if r.status != 200 or sha256(r.body) != d:
            v.sessions["bad"].append("%s: resumed blob reads back %d with hash %s" % (what, r.status, sha256(r.body)))
            return
        v.sessions["resumed"] += 1
        with ledger.lock:
            ledger.blobs[(s["repo"], d)] = (len(data), rnd)
    except TransportError as e:
        v.sessions["bad"].append("%s: transport error %s" % (what, e))
    finally:
        with v.lock:
            v.checked["sessions"] += 1


def verify_all(url, ledger, rnd, sessions, workers=8, full_everything=False, sample=150, seed=0):
    v = Verdict()
    rng = random.Random(seed + rnd)
    clients = threading.local()

    def client():
        if not hasattr(clients, "c"):
            clients.c = Client(url, timeout=60)
        return clients.c

    with ledger.lock:
        blobs = list(ledger.blobs.items())
        manifests = list(ledger.manifests)
        latest = [(k, dict(st)) for k, st in ledger.latest.items()]
    old = [b for b in blobs if b[1][1] != rnd]
    full_old = set(k for k, _ in rng.sample(old, min(sample, len(old)))) if not full_everything else set(k for k, _ in old)
    with ThreadPoolExecutor(workers) as pool:
        futures = []
        for (repo, digest), (size, r) in blobs:
            full = r == rnd or (repo, digest) in full_old
            futures.append(pool.submit(lambda a=(repo, digest, size, full): verify_blob(client(), *a, v)))
        for m in manifests:
            futures.append(pool.submit(lambda m=m: verify_manifest(client(), m, v)))
        for repo, st in latest:
            futures.append(pool.submit(lambda a=(repo, st): verify_latest(client(), *a, v)))
        for f in futures:
            f.result()
    # Sessions one by one (each one's resume writes).
    c = Client(url, timeout=60)
    for s in sessions:
        verify_session(c, s, v, ledger, rnd)
    c.close()
    return v


def run(args):
    root = args.root or default_root("robust-crash-")
    server = Server(args.server_cmd, args.url, root, args.log or (root.rstrip("/") + ".log"))
    ledger = Ledger()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    log("crash: root %s, log %s, seed %d, %d rounds x %d pushers" % (root, server.log_path, seed, args.rounds, args.pushers))
    totals = {"lost": [], "corrupt": [], "fivexx": [], "sessions_resumed": 0, "sessions_unknown": 0, "sessions_bad": [],
              "sessions_late_unknown": [],
              "restart_failures": [], "rounds": []}
    server.start()
    try:
        for rnd in range(1, args.rounds + 1):
            stop = threading.Event()
            threads = [threading.Thread(target=pusher, args=(args.url, i, rnd, seed, stop, ledger), daemon=True)
                       for i in range(args.pushers)]
            before = (len(ledger.blobs), len(ledger.manifests))
            for t in threads:
                t.start()
            delay = rng.uniform(args.min_delay, args.max_delay)
            time.sleep(delay)
            alive_before_kill = server.alive()
            stop.set()  # pushers finish what they have in flight (it dies with the server) and start nothing new
            server.kill()
            for t in threads:
                t.join(90)
            with ledger.lock:
                inflight = [s for s in ledger.sessions]
                ledger.sessions = []
            try:
                server.start()
            except RuntimeError as e:
                totals["restart_failures"].append("round %d: %s" % (rnd, e))
                log("round %d: RESTART FAILED: %s" % (rnd, e))
                for line in server.log_tail(20):
                    log("  log: " + line)
                break
            last = rnd == args.rounds
            t0 = time.time()
            v = verify_all(args.url, ledger, rnd, inflight, full_everything=last and args.final_full, seed=seed)
            after = (len(ledger.blobs), len(ledger.manifests))
            summary = {"round": rnd, "kill_after_s": round(delay, 2), "server_alive_at_kill": alive_before_kill,
                       "acked_blobs_new": after[0] - before[0], "acked_manifests_new": after[1] - before[1],
                       "acked_blobs_total": after[0], "acked_manifests_total": after[1],
                       "inflight_sessions": len(inflight), "resumed": v.sessions["resumed"], "unknown": v.sessions["unknown"],
                       "sessions_bad": len(v.sessions["bad"]), "lost": len(v.lost), "corrupt": len(v.corrupt),
                       "5xx": len(v.fivexx), "verify_s": round(time.time() - t0, 1)}
            totals["rounds"].append(summary)
            for k in ("lost", "corrupt", "fivexx"):
                totals[k].extend("round %d: %s" % (rnd, x) for x in getattr(v, k))
            totals["sessions_resumed"] += v.sessions["resumed"]
            totals["sessions_unknown"] += v.sessions["unknown"]
            totals["sessions_bad"].extend("round %d: %s" % (rnd, x) for x in v.sessions["bad"])
            totals["sessions_late_unknown"].extend("round %d: %s" % (rnd, x) for x in v.sessions["late_unknown"])
            log("round %2d: kill at %.2fs; acked +%d blobs +%d manifests (total %d/%d); in-flight uploads %d: "
                "%d resumed, %d unknown, %d unknown only at completion, %d bad; lost %d corrupt %d 5xx %d" % (
                    rnd, delay, summary["acked_blobs_new"], summary["acked_manifests_new"], after[0], after[1],
                    len(inflight), v.sessions["resumed"], v.sessions["unknown"], len(v.sessions["late_unknown"]), len(v.sessions["bad"]),
                    len(v.lost), len(v.corrupt), len(v.fivexx)))
    finally:
        server.stop()
    totals["push_5xx"] = ["%s -> %d %s" % (w, s, b) for w, s, b in ledger.push_5xx]
    totals["push_unexpected"] = ["%s -> %d %s" % (w, s, b) for w, s, b in ledger.push_unexpected]
    totals["transport_errors_before_kill"] = ledger.transport_errors_before_kill
    totals["ops"] = ledger.ops
    totals["acked"] = {"blobs": len(ledger.blobs), "manifests": len(ledger.manifests)}
    report(totals, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(totals, f, indent=1, default=str)
    failed = (totals["lost"] or totals["corrupt"] or totals["fivexx"] or totals["sessions_bad"] or totals["restart_failures"]
              or totals["push_5xx"] or totals["sessions_late_unknown"])
    return 1 if failed else 0


def report(t, args):
    print("\n== crash: %d rounds x %d pushers, SIGKILL at a random moment each round" % (len(t["rounds"]), args.pushers))
    print("acknowledged and verified: %d blobs, %d manifests (ops: %s)" % (t["acked"]["blobs"], t["acked"]["manifests"], t["ops"]))
    def distinct(k):
        # the same broken item is seen again in every later round: count it once
        return len(set(x.split(": ", 1)[1] if x.startswith("round ") else x for x in t[k]))
    t["distinct"] = {k: distinct(k) for k in ("lost", "corrupt", "fivexx")}
    rows = [("lost (acknowledged, then 404): distinct items", distinct("lost")),
            ("corrupt (wrong bytes/digest/size, or 5xx on an acknowledged item): distinct", distinct("corrupt")),
            ("  the same, summed over the rounds that saw them", len(t["corrupt"])),
            ("5xx responses while verifying/resuming (summed over rounds)", len(t["fivexx"])),
            ("5xx responses while pushing (server alive)", len(t["push_5xx"])),
            ("unexpected non-5xx refusals while pushing", len(t["push_unexpected"])),
            ("in-flight uploads resumed and completed", t["sessions_resumed"]),
            ("in-flight uploads answering 404 BLOB_UPLOAD_UNKNOWN", t["sessions_unknown"]),
            ("in-flight uploads: status 204, then completion 404 BLOB_UPLOAD_UNKNOWN", len(t["sessions_late_unknown"])),
            ("in-flight uploads neither (failure)", len(t["sessions_bad"])),
            ("restarts that failed", len(t["restart_failures"])),
            ("transport errors before the kill", t["transport_errors_before_kill"])]
    for name, n in rows:
        print("  %-70s %6d" % (name, n))
    for k in ("lost", "corrupt", "fivexx", "push_5xx", "push_unexpected", "sessions_late_unknown", "sessions_bad", "restart_failures"):
        if t[k]:
            print("-- %s (first 15 of %d):" % (k, len(t[k])))
            for x in t[k][:15]:
                print("   " + str(x)[:400])
