#!/usr/bin/env python3
"""Manifest GET latency under load: p50/p99 of `GET /v2/<name>/manifests/<tag>` (wrk --latency) alone, while
`pier gc` runs over 10,000 repositories, and while 30 clients push — the three side by side, one server.

Starts the given pier binary on a fresh data directory, fills it with N repositories (each a tagged image and an
untagged one with a blob of its own, which gc then deletes), and runs wrk against one tag in each condition.

  tools/bench/latency.py --pier .build-release/release/pier [--repos 10000] [--duration 10] [--pushers 30]
"""
import argparse, concurrent.futures, hashlib, http.client, json, os, re, shutil, subprocess, sys, tempfile, threading, time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Client:
    """One keep-alive HTTP/1.1 connection to the registry."""

    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method, path, body=None, headers=None, expect=(200, 201, 202)):
        headers = dict(headers or {})
        if body is not None:
            headers.setdefault("Content-Length", str(len(body)))
        for attempt in range(3):
            try:
                self.c.request(method, path, body=body, headers=headers)
                r = self.c.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt == 2:
                    raise
        if r.status not in expect:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")
        return r, data

    def push_blob(self, repo, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", body=data,
                     headers={"Content-Type": "application/octet-stream"}, expect=(201,))
        return digest, len(data)

    def mount(self, repo, digest, source):
        r, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from={source}", body=b"", expect=(201, 202))
        return r.status == 201

    def put_manifest(self, repo, reference, config, layers, note):
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config[0], "size": config[1]},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s} for d, s in layers],
            "annotations": {"note": note},
        }, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        self.request("PUT", f"/v2/{repo}/manifests/{reference or digest}", body=manifest,
                     headers={"Content-Type": OCI_MANIFEST}, expect=(201,))
        return digest


def fill(port, repos, workers=4):
    """N repositories: a tagged image over shared blobs, and an untagged image over a blob of its own."""
    base = Client(port)
    config = base.push_blob("bench/base", b'{"architecture":"amd64","os":"linux"}')
    layer = base.push_blob("bench/base", os.urandom(4096))

    def one(i):
        client = clients.c
        repo = f"bench/r{i:05d}"
        for digest, _ in (config, layer):
            if not client.mount(repo, digest, "bench/base"):
                raise RuntimeError("mount refused")
        client.put_manifest(repo, "latest", config, [layer], f"tagged {i}")
        own = client.push_blob(repo, os.urandom(512))
        client.put_manifest(repo, None, config, [own], f"untagged {i}")

    clients = threading.local()

    def init():
        clients.c = Client(port)

    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(workers, initializer=init) as pool:
        list(pool.map(one, range(repos)))
    return time.time() - started


def wrk(port, duration, connections=16):
    url = f"http://127.0.0.1:{port}/v2/bench/r00042/manifests/latest"
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-H", f"Accept: {OCI_MANIFEST}", url],
                         capture_output=True, text=True, check=True).stdout
    def ms(label):
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    maximum = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    top = float(maximum.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[maximum.group(2)]
    return {"p50": ms("50%"), "p90": ms("90%"), "p99": ms("99%"), "max": top, "rate": rate,
            "errors": int(errors.group(1)) if errors else 0}


def pushers(port, count, stop, counts):
    def push(n):
        client = Client(port)
        config = client.push_blob(f"push/p{n}", f'{{"pusher":{n}}}'.encode())
        i = 0
        while not stop.is_set():
            layer = client.push_blob(f"push/p{n}", os.urandom(256 * 1024))
            client.put_manifest(f"push/p{n}", f"t{i}", config, [layer], f"{n}/{i}")
            i += 1
        counts[n] = i
    threads = [threading.Thread(target=push, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    return threads


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pier", required=True)
    parser.add_argument("--port", type=int, default=25990)
    parser.add_argument("--repos", type=int, default=10000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--pushers", type=int, default=30)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("missing wrk: apt-get install -y wrk")
    root = tempfile.mkdtemp(prefix="pier-latency-")
    env = dict(os.environ, REGISTRY_LOG_ACCESSLOG_DISABLED="true")
    server = subprocess.Popen([args.pier, "serve", "--root", root, "--addr", f"127.0.0.1:{args.port}", "--log-level", "warn"],
                              env=env, stdout=subprocess.DEVNULL, stderr=open(root + ".log", "w"))
    try:
        for _ in range(100):
            try:
                Client(args.port).request("GET", "/v2/")
                break
            except OSError:
                time.sleep(0.1)
        took = fill(args.port, args.repos)
        print(f"filled {args.repos} repositories in {took:.0f} s", file=sys.stderr)
        results = {}
        results["alone"] = wrk(args.port, args.duration)

        # pier gc over every repository, again and again for the whole measurement (the first run deletes the untagged
        # images and their blobs; later ones walk everything and find nothing).
        stop = threading.Event()
        gc_runs = []
        def collect():
            while not stop.is_set():
                started = time.time()
                subprocess.run([args.pier, "gc", "--root", root, "--grace", "0s"], env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                gc_runs.append(time.time() - started)
        collector = threading.Thread(target=collect)
        collector.start()
        time.sleep(0.5)
        results["during gc"] = wrk(args.port, args.duration)
        stop.set()
        collector.join()

        stop = threading.Event()
        counts = {}
        threads = pushers(args.port, args.pushers, stop, counts)
        time.sleep(1)
        results[f"during {args.pushers} pushers"] = wrk(args.port, args.duration)
        stop.set()
        for t in threads:
            t.join()
        pushed = sum(counts.values())

        print(f"| condition | p50 ms | p90 ms | p99 ms | max ms | req/s | non-2xx |")
        print(f"| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, r in results.items():
            print(f"| {name} | {r['p50']:.2f} | {r['p90']:.2f} | {r['p99']:.2f} | {r['max']:.1f} | {r['rate']:,.0f} | {r['errors']} |")
        print(f"\ngc runs during the measurement: {len(gc_runs)}, {', '.join(f'{t:.1f} s' for t in gc_runs)}")
        print(f"images pushed by {args.pushers} pushers in {args.duration + 1} s: {pushed}")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
