#!/usr/bin/env python3
"""Pull-through cache benchmark: Pier as a mirror against Distribution 2.8.2 as a mirror (its proxy mode), both
in front of the same upstream (Distribution), on loopback.

Measures, per round (each round uses fresh blobs, so every miss is cold):
  - time to first byte and total time of a cold 64 MiB blob: from the upstream directly, through each mirror;
  - pull rate of a 1 GiB blob: from the upstream directly, through each mirror once cached (a hit);
  - 16 concurrent cold GETs of one 16 MiB blob through each mirror: upstream GETs and HEADs it caused, bytes
    the upstream sent, and whether every client got the right bytes.

  tools/bench/mirror.py --upstream URL --upstream-log FILE --pier URL --reference URL [--rounds 3] [--out FILE]
"""
import argparse, concurrent.futures, hashlib, http.client, json, os, re, statistics, sys, time, urllib.parse

MiB = 1 << 20


def conn(url):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    return c


def push_blob(url, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    c = conn(url)
    c.request("POST", f"/v2/{repo}/blobs/uploads/")
    r = c.getresponse(); r.read()
    assert r.status == 202, r.status
    loc = r.getheader("Location")
    loc = urllib.parse.urlparse(loc)
    target = loc.path + ("?" + loc.query + "&" if loc.query else "?") + "digest=" + digest
    c.request("PUT", target, body=data, headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
    r = c.getresponse(); r.read()
    assert r.status == 201, (r.status)
    c.close()
    return digest


def get_blob(url, repo, digest, size, expect_sha=None):
    """GET a blob; returns (ttfb seconds, total seconds, bytes ok)."""
    c = conn(url)
    t0 = time.perf_counter()
    c.request("GET", f"/v2/{repo}/blobs/{digest}")
    r = c.getresponse()
    if r.status in (301, 302, 307, 308):
        raise RuntimeError("redirect not expected on loopback")
    first = r.read(1)
    ttfb = time.perf_counter() - t0
    h = hashlib.sha256(first)
    n = len(first)
    while True:
        chunk = r.read(4 * MiB)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    total = time.perf_counter() - t0
    c.close()
    ok = r.status == 200 and n == size and "sha256:" + h.hexdigest() == digest
    return ttfb, total, ok


def upstream_requests(log_file, digest):
    """(GETs, HEADs) of a blob in the upstream's log (Distribution logs one line per request)."""
    gets = heads = 0
    with open(log_file, errors="replace") as f:
        for line in f:
            if digest not in line or "response completed" not in line:
                continue
            if 'http.request.method=GET' in line:
                gets += 1
            elif 'http.request.method=HEAD' in line:
                heads += 1
    return gets, heads


def seeded(size, seed):
    # Fast unique content: a repeated random block plus a unique tail (the compressibility does not matter here).
    block = os.urandom(MiB)
    data = bytearray(block * (size // MiB))
    data[-32:] = hashlib.sha256(f"{seed}-{time.time()}".encode()).digest()
    return bytes(data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--upstream-log", required=True)
    p.add_argument("--pier", required=True)
    p.add_argument("--reference", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--big", type=int, default=1024, help="MiB of the cache-hit blob")
    p.add_argument("--out")
    a = p.parse_args()
    mirrors = {"pier": a.pier, "reference": a.reference}
    repo = "bench/mirror"
    results = {"ttfb_cold_64": {k: [] for k in ["upstream", *mirrors]}, "total_cold_64": {k: [] for k in ["upstream", *mirrors]},
               "pull_hit_big_MBps": {k: [] for k in ["upstream", *mirrors]}, "concurrent_16": {k: [] for k in mirrors}}
    for rnd in range(a.rounds):
        print(f"round {rnd + 1}/{a.rounds}", file=sys.stderr)
        # Cold 64 MiB: a blob per mirror, plus one read directly from the upstream.
        blobs = {k: seeded(64 * MiB, f"{rnd}-{k}") for k in ["upstream", *mirrors]}
        digests = {k: push_blob(a.upstream, repo, v) for k, v in blobs.items()}
        # Warm the upstream's own page cache for every blob (as a busy upstream would have it), then measure.
        for k, d in digests.items():
            get_blob(a.upstream, repo, d, len(blobs[k]))
        for k in ["upstream", *mirrors]:
            url = a.upstream if k == "upstream" else mirrors[k]
            ttfb, total, ok = get_blob(url, repo, digests[k], len(blobs[k]))
            if not ok:
                print(f"  {k}: cold 64 MiB pull returned wrong bytes", file=sys.stderr)
            results["ttfb_cold_64"][k].append(ttfb * 1000)
            results["total_cold_64"][k].append(total * 1000)
            print(f"  cold 64 MiB via {k}: first byte {ttfb * 1000:.1f} ms, whole {total * 1000:.0f} ms", file=sys.stderr)
        del blobs
        # Cache hit: the same 1 GiB blob through each mirror twice; the second is measured.
        big = seeded(a.big * MiB, f"{rnd}-big")
        big_digest = push_blob(a.upstream, repo, big)
        size = len(big)
        del big
        get_blob(a.upstream, repo, big_digest, size)
        _, total, ok = get_blob(a.upstream, repo, big_digest, size)
        results["pull_hit_big_MBps"]["upstream"].append(size / 1e6 / total)
        for k, url in mirrors.items():
            get_blob(url, repo, big_digest, size)
            time.sleep(1)  # let a mirror finish storing what it streamed
            _, total, ok = get_blob(url, repo, big_digest, size)
            if not ok:
                print(f"  {k}: cached 1 GiB pull returned wrong bytes", file=sys.stderr)
            results["pull_hit_big_MBps"][k].append(size / 1e6 / total)
            print(f"  cached {a.big} MiB via {k}: {size / 1e6 / total:.0f} MB/s", file=sys.stderr)
        # 16 concurrent cold requests of one 16 MiB blob per mirror.
        for k, url in mirrors.items():
            data = seeded(16 * MiB, f"{rnd}-conc-{k}")
            d = push_blob(a.upstream, repo, data)
            before = upstream_requests(a.upstream_log, d)
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                oks = list(pool.map(lambda _: get_blob(url, repo, d, len(data))[2], range(16)))
            time.sleep(1)
            after = upstream_requests(a.upstream_log, d)
            gets, heads = after[0] - before[0], after[1] - before[1]
            results["concurrent_16"][k].append({"upstream_gets": gets, "upstream_heads": heads, "all_ok": all(oks),
                                                "upstream_mib": gets * 16})
            print(f"  16 concurrent cold GETs via {k}: {gets} upstream GETs, {heads} HEADs, all right: {all(oks)}", file=sys.stderr)
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    print()
    print("metric                                     upstream      pier   reference-mirror")
    for name, unit in [("ttfb_cold_64", "ms"), ("total_cold_64", "ms"), ("pull_hit_big_MBps", "MB/s")]:
        r = results[name]
        print(f"{name + ' (' + unit + ')':40} {med(r['upstream']):10.1f} {med(r['pier']):9.1f} {med(r['reference']):12.1f}")
    for k in mirrors:
        runs = results["concurrent_16"][k]
        print(f"16 concurrent cold GETs via {k:10}: upstream GETs {[x['upstream_gets'] for x in runs]}, HEADs "
              f"{[x['upstream_heads'] for x in runs]}, all bytes right {[x['all_ok'] for x in runs]}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
