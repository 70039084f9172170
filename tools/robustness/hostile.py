"""`hostile`: tens of thousands of malformed requests mixed with good ones; no 5xx for client errors, no hangs,
no crash."""

import collections
import json
import random
import re
import threading
import urllib.parse
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import rawhttp
from common import (Client, Server, TransportError, add_query, auth_header, log, make_config, make_manifest, rand_bytes,
                    rss_kib, sha256, default_root, parse_url, OCI_MANIFEST, OCI_INDEX)
from rawhttp import build

GOOD_REPO = "good/app"
VICTIM_REPO = "hostile/victim"  # holds copies of the good content; destructive cases aim here, never at GOOD_REPO
ZERO = "sha256:" + "0" * 64


class Case:
    def __init__(self, cat, name, data, half_close=False, close_ok=False, allow5xx=(), good=None, must_reject=False,
                 head=False, check=None, timeout=None, ok2xx=(), read_to_close=False):
        self.cat = cat                  # category for the table
        self.name = name                # template name, for deduplication
        self.data = data                # the raw request bytes
        self.half_close = half_close    # shut our write side after sending (a request that ends early)
        self.close_ok = close_ok        # closing without an answer is acceptable (the request never completed)
        self.allow5xx = set(allow5xx)   # 5xx statuses that are right here (501 for an unknown method, 505 ...)
        self.good = good                # for good requests: the set of statuses that count as success
        self.must_reject = must_reject  # a 2xx here means invalid input was accepted
        self.head = head
        self.check = check              # extra check on a response: returns an error string or None
        self.timeout = timeout
        self.ok2xx = set(ok2xx)         # 2xx answers that do not mean acceptance (202: a session was started instead)
        self.read_to_close = read_to_close  # pipelined requests: judge the last answer before the server closes


class Context:
    """Known-good content in GOOD_REPO and a factory for fresh upload sessions."""

    def __init__(self, url):
        self.url = url
        self.host, self.port = parse_url(url)
        rng = random.Random(1)
        c = Client(url)
        self.blob = rand_bytes(rng, 100 * 1024)
        self.blob_digest = sha256(self.blob)
        self.config = make_config(rng, "hostile")
        for data in (self.blob, self.config):
            r = c.push_blob_monolithic(GOOD_REPO, data)
            assert r.status == 201, r
        self.manifest = make_manifest(self.config, [self.blob])
        self.manifest_digest = sha256(self.manifest)
        r = c.put_manifest(GOOD_REPO, "v1", self.manifest)
        assert r.status == 201, r
        for data in (self.blob, self.config):
            c.push_blob_monolithic(VICTIM_REPO, data)
        c.put_manifest(VICTIM_REPO, "v1", self.manifest)
        c.close()
        self.local = threading.local()
        self.sessions = collections.deque()
        self.sessions_lock = threading.Lock()

    def client(self):
        if not hasattr(self.local, "c"):
            self.local.c = Client(self.url, timeout=30)
        return self.local.c

    def new_upload(self, repo=GOOD_REPO):
        """A fresh session; returns its request path (with any query the server put in Location).

        The harness cancels its oldest sessions beyond the last 200, so that it stays under a registry's cap on open
        sessions (Pier: 1000 per repository) however long the run."""
        c = self.client()
        r = c.start_upload(repo)
        if r.status != 202:
            raise TransportError("cannot start an upload: %d %s" % (r.status, r.body[:100]))
        path = c.path_of(r.h("location"))
        with self.sessions_lock:
            self.sessions.append(path)
            old = self.sessions.popleft() if len(self.sessions) > 200 else None
        if old:
            try:
                c.req("DELETE", old)
            except TransportError:
                pass
        return path

    def manifest_variant(self, rng):
        """A valid manifest over the good blobs with a random annotation (new digest)."""
        return make_manifest(self.config, [self.blob], {"n": str(rng.random())})


def J(obj):
    return json.dumps(obj).encode()


def no_passwd(o):
    if b"root:x:0:0" in o.body or b"root:" in o.body[:64]:
        return "response body looks like /etc/passwd"
    return None


# -------------------------------------------------------------------------------------------------------------------
# Case generators. Each takes (rng, ctx) and returns a Case.

BAD_NAMES = [
    "UPPER/Case", "a/../b", "a/%2e%2e/b", "%2e%2e/%2e%2e/etc", "a//b", "a/./b", "-leading", "trailing-", "a..b",
    "a___b", "a" * 300, "a/" * 150 + "a", "\u00fc", "%C3%BC", "a%00b", "a%2fb", "a%2Fb", "%ff%fe", "a%20b", "a\tb",
    "a b", "a%", "a%g0", "a:b", "a@b", "a;b", "%252e%252e", "a/-/b", ".hidden", "a/.", "\u0430pple", "a\\b",
    "a%5cb", "\x7f", "a%7f",
]


def name_case(rng, ctx):
    name = rng.choice(BAD_NAMES)
    kind = rng.randrange(8)
    if kind == 0:
        data = build("GET", "/v2/%s/manifests/latest" % name)
    elif kind == 1:
        data = build("HEAD", "/v2/%s/manifests/latest" % name)
    elif kind == 2:
        data = build("GET", "/v2/%s/tags/list" % name)
    elif kind == 3:
        data = build("POST", "/v2/%s/blobs/uploads/" % name, body=b"")
    elif kind == 4:
        data = build("PUT", "/v2/%s/manifests/t1" % name, [("Content-Type", OCI_MANIFEST)], ctx.manifest)
    elif kind == 5:
        data = build("GET", "/v2/%s/blobs/%s" % (name, ctx.blob_digest))
    elif kind == 6:
        data = build("POST", "/v2/%s/blobs/uploads/?digest=%s" % (name, sha256(b"abc")), body=b"abc")
    else:
        data = build("GET", "/v2/%s/referrers/%s" % (name, ctx.manifest_digest))
    ok2xx = {202} if kind in (3, 6) else set()
    methods = ["GET manifest", "HEAD manifest", "GET tags", "POST upload", "PUT manifest", "GET blob", "POST monolithic",
               "GET referrers"]
    return Case("name", "bad name %r: %s" % (name[:40] + ("...(%d)" % len(name) if len(name) > 40 else ""), methods[kind]),
                data, must_reject=True, head=kind == 1, ok2xx=ok2xx)


def legal_odd_name_case(rng, ctx):
    # Legal names that look like endpoints: a router matching from the left gets these wrong.
    name = rng.choice(["a/blobs/manifests", "x/manifests/y", "tags/list", "blobs/uploads", "a__b/c.d-e", "a" * 255])
    return Case("name", "legal odd name %r GET manifest" % name[:40], build("GET", "/v2/%s/manifests/latest" % name))


def bad_digests(ctx):
    hexd = ctx.blob_digest.split(":")[1]
    return [
        "sha256:" + hexd.upper(), "sha256:" + hexd[:63], "sha256:" + hexd + "0", "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256", "sha256:", ":" + hexd, "sha256:" + "g" * 64, "sha512:" + hexd, "SHA256:" + hexd, "sha256:" + hexd + "%00",
        "sha256:" + "a" * 10000, "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "sha256:" + hexd + "%0a",
        "blake3:" + "a" * 64, "sha384:" + "a" * 96, "sha256::" + hexd, " sha256:" + hexd, "sha256:" + hexd[:32],
        "%73ha256:" + hexd, "sha256:" + "-" * 64, "sha256:%30" + hexd[1:], "sha256:" + "\u00e9" * 32,
    ]


TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$")


def digest_case(rng, ctx):
    d = rng.choice(bad_digests(ctx))
    kind = rng.randrange(9)
    decoded = urllib.parse.unquote(d)
    if DIGEST_RE.match(decoded):
        # percent-encoded but valid once decoded: not a malformed digest, only an unusual spelling
        return Case("digest", "percent-encoded valid digest %r: HEAD blob" % d[:40],
                    build("HEAD", "/v2/%s/blobs/%s" % (GOOD_REPO, d)), head=True)
    if kind in (2, 8) and TAG_RE.match(d):
        kind = 0  # a valid tag (e.g. "sha256"), not a digest, on a manifest URL
    label = d if len(d) < 50 else d[:46] + "...(%d)" % len(d)
    if kind == 0:
        return Case("digest", "bad digest %r: GET blob" % label, build("GET", "/v2/%s/blobs/%s" % (GOOD_REPO, d)), must_reject=True)
    if kind == 1:
        return Case("digest", "bad digest %r: HEAD blob" % label, build("HEAD", "/v2/%s/blobs/%s" % (GOOD_REPO, d)), must_reject=True, head=True)
    if kind == 2:
        return Case("digest", "bad digest %r: GET manifest" % label, build("GET", "/v2/%s/manifests/%s" % (GOOD_REPO, d)), must_reject=True)
    if kind == 3:
        return Case("digest", "bad digest %r: DELETE blob" % label, build("DELETE", "/v2/%s/blobs/%s" % (VICTIM_REPO, d)), must_reject=True)
    if kind == 4:
        return Case("digest", "bad digest %r: POST ?digest= with body" % label,
                    build("POST", "/v2/%s/blobs/uploads/?digest=%s" % (GOOD_REPO, d), body=ctx.blob[:1000]), must_reject=True,
                    ok2xx={202})
    if kind == 5:
        return Case("digest", "bad digest %r: POST ?mount=" % label,
                    build("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % ("hostile/m", d, GOOD_REPO), body=b""))
    if kind == 6:
        path = ctx.new_upload()
        return Case("digest", "bad digest %r: PUT upload ?digest=" % label,
                    build("PUT", add_query(path, "digest=" + d), body=b"xyz"), must_reject=True)
    if kind == 7:
        return Case("digest", "bad digest %r: GET referrers" % label, build("GET", "/v2/%s/referrers/%s" % (GOOD_REPO, d)))
    return Case("digest", "bad digest %r: PUT manifest by digest" % label,
                build("PUT", "/v2/%s/manifests/%s" % (GOOD_REPO, d), [("Content-Type", OCI_MANIFEST)], ctx.manifest),
                must_reject=True)


RANGES = [
    "bytes=abc", "bytes=-", "bytes=5-1", "bytes=99999999999999999999-", "bytes=0-99999999999999999999",
    "bytes=-99999999999999999999", "bytes=-9223372036854775807", "bytes=-9223372036854775808",
    "bytes=9223372036854775807-", "bytes=9223372036854775807-9223372036854775807", "bytes=0-0,1-1",
    "bytes=" + ",".join(["0-1"] * 5000), "bytes=--1", "items=0-1", "bytes=-0", "bytes=1000000000-", "bytes=0--5",
    "bytes= 0 - 5", "bytes=\x01", "bytes=" + "9" * 5000 + "-", "bytes=-1-2", "bytes=18446744073709551615-",
    "bytes=0-18446744073709551615", "bytes=102399-102400", "bytes=102400-", "bytes=-102401", "bytes=1-0",
]


def range_case(rng, ctx):
    value = rng.choice(RANGES)
    label = value if len(value) < 50 else value[:46] + "...(%d)" % len(value)
    method = rng.choice(["GET", "HEAD"])
    target = "/v2/%s/blobs/%s" % (GOOD_REPO, ctx.blob_digest)
    if rng.random() < 0.2:
        target = "/v2/%s/manifests/v1" % GOOD_REPO

    def check(o):
        if o.status == 206:
            cr = o.header("content-range")
            if not cr and not (o.header("content-type") or "").startswith("multipart/byteranges"):
                return "206 without Content-Range"
        return None
    return Case("range", "Range %r on %s %s" % (label, method, "manifest" if "manifests" in target else "blob"),
                build(method, target, [("Range", value)]), head=method == "HEAD", check=check)


CONTENT_RANGES = [
    "bytes 0-99999999999999999999/100", "0-99999999999999999999", "0-9223372036854775807", "0-9223372036854775806",
    "9223372036854775807-9223372036854775807", "-1-5", "5-3", "abc", "0-", "-", "bytes */*", "0-4", "0-19",
    "bytes=0-9", "0-9/99999999999999999999", "1-10", "0-9,10-19", "0" * 44 + "-9", "0-" + "9" * 10000,
    "9223372036854775806-9223372036854775807", "-9223372036854775808-0", "0-18446744073709551615", " 0-9 ",
    "4611686018427387904-9223372036854775807",
]


def content_range_case(rng, ctx):
    value = rng.choice(CONTENT_RANGES)
    label = value if len(value) < 50 else value[:46] + "...(%d)" % len(value)
    path = ctx.new_upload()
    body = b"0123456789"
    if rng.random() < 0.75:
        return Case("content-range", "Content-Range %r on PATCH" % label,
                    build("PATCH", path, [("Content-Range", value), ("Content-Type", "application/octet-stream")], body),
                    must_reject=value not in (" 0-9 ", "bytes=0-9"))
    return Case("content-range", "Content-Range %r on PUT ?digest=" % label,
                build("PUT", add_query(path, "digest=" + sha256(body)), [("Content-Range", value)], body),
                must_reject=value not in (" 0-9 ", "bytes=0-9"))


CONTENT_LENGTHS = ["-1", "99999999999999999999", "1e3", "0x10", " 10 ", "10, 10", "10,11", "+10", "", "18446744073709551616",
                   "010", "1 0", "10\x0b", "\u0661\u0660"]


def content_length_case(rng, ctx):
    kind = rng.randrange(9)
    body = b"0123456789"
    target = rng.choice(["patch", "post", "manifest"])
    if target == "patch":
        method, path, hdrs = "PATCH", ctx.new_upload(), [("Content-Type", "application/octet-stream")]
    elif target == "post":
        method, path, hdrs = "POST", "/v2/%s/blobs/uploads/?digest=%s" % (GOOD_REPO, sha256(body)), []
    else:
        method, path, hdrs = "PUT", "/v2/%s/manifests/cl-%d" % (GOOD_REPO, rng.randrange(1 << 30)), [("Content-Type", OCI_MANIFEST)]
        body = ctx.manifest_variant(rng)
    okx = {202} if target == "post" else set()
    if kind <= 3:
        v = rng.choice(CONTENT_LENGTHS)
        return Case("content-length", "Content-Length %r on %s" % (v, target),
                    build(method, path, hdrs + [("Content-Length", v)], body), half_close=True, close_ok=False,
                    must_reject=v not in (" 10 ", "10, 10", "010") or target == "manifest", ok2xx=okx)
    if kind == 4:
        return Case("content-length", "two different Content-Length headers on %s" % target,
                    build(method, path, hdrs + [("Content-Length", str(len(body))), ("Content-Length", str(len(body) + 1))], body),
                    half_close=True, must_reject=True, ok2xx=okx)
    if kind == 5:
        v = rng.choice(["9223372036854775807", "1000000", "4398046511104", "4398046511105", "1000000000000000"])
        return Case("content-length", "Content-Length %s, body of %d then EOF on %s" % (v, len(body), target),
                    build(method, path, hdrs + [("Content-Length", v)], body), half_close=True, close_ok=True, must_reject=True, ok2xx=okx)
    if kind == 6:
        return Case("content-length", "Content-Length shorter than body (rest pipelined) on %s" % target,
                    build(method, path, hdrs + [("Content-Length", "5")], body + b"GARBAGE\r\n\r\n"), half_close=True,
                    must_reject=target != "patch", ok2xx=okx)
    if kind == 7:
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        return Case("content-length", "Content-Length and Transfer-Encoding: chunked together on %s" % target,
                    build(method, path, hdrs + [("Content-Length", str(len(chunked))), ("Transfer-Encoding", "chunked")], chunked),
                    half_close=True, ok2xx=okx)
    return Case("content-length", "no Content-Length, no Transfer-Encoding, body then EOF on %s" % target,
                build(method, path, hdrs, body, content_length=False), half_close=True, close_ok=True, ok2xx=okx)


def chunked_case(rng, ctx):
    target = rng.choice(["patch", "post", "manifest"])
    payload = b"0123456789"
    if target == "patch":
        method, path, hdrs = "PATCH", ctx.new_upload(), [("Content-Type", "application/octet-stream")]
    elif target == "post":
        method, path, hdrs = "POST", "/v2/%s/blobs/uploads/?digest=%s" % (GOOD_REPO, sha256(payload)), []
    else:
        method, path, hdrs = "PUT", "/v2/%s/manifests/ch-%d" % (GOOD_REPO, rng.randrange(1 << 30)), [("Content-Type", OCI_MANIFEST)]
        payload = ctx.manifest_variant(rng)
    n = len(payload)
    variants = [
        ("bad chunk size 'zz'", b"zz\r\n" + payload + b"\r\n0\r\n\r\n", False, True),
        ("chunk size overflow 2^88", b"ffffffffffffffffffffff\r\n" + payload + b"\r\n0\r\n\r\n", False, True),
        ("chunk size 7fffffffffffffff, short data then EOF", b"7fffffffffffffff\r\n" + payload, True, True),
        ("negative chunk size", b"-1\r\n" + payload + b"\r\n0\r\n\r\n", False, True),
        ("missing CRLF after chunk data", b"%x\r\n%sXX0\r\n\r\n" % (n, payload), False, True),
        ("chunk ends early then EOF", b"%x\r\n%s" % (n + 100, payload), True, True),
        ("no last chunk then EOF", b"%x\r\n%s\r\n" % (n, payload), True, True),
        ("huge chunk extension (100 KiB)", b"%x;%s\r\n%s\r\n0\r\n\r\n" % (n, b"e" * 100000, payload), False, True),
        ("leading spaces in chunk size", b"  %x\r\n%s\r\n0\r\n\r\n" % (n, payload), False, True),
        ("malformed trailer", b"%x\r\n%s\r\n0\r\nX: y\r\nbad trailer\r\n\r\n" % (n, payload), False, True),
        ("bare LF chunk framing", b"%x\n%s\n0\n\n" % (n, payload), True, True),
        ("10000 one-byte chunks (valid)", b"".join(b"1\r\n" + payload[i % n:i % n + 1] + b"\r\n" for i in range(10000)) + b"0\r\n\r\n", False, False),
        ("chunk larger than declared", b"2\r\n" + payload + b"\r\n0\r\n\r\n", False, True),
        ("only CRLFs", b"\r\n\r\n\r\n", True, True),
    ]
    label, body, half, reject = rng.choice(variants)
    te = rng.choice(["chunked"] * 4 + ["gzip, chunked", "chunked, chunked", "xchunked", "Chunked", "chunked;q=1"])
    if te not in ("chunked", "Chunked"):
        label = "%s with Transfer-Encoding %r" % (label, te)
        reject = True
    if "10000 one-byte" in label and target == "manifest" and te in ("chunked", "Chunked"):
        reject = True  # the manifest body is 10000 copies of its own bytes: invalid JSON
    return Case("chunked", "%s on %s" % (label, target),
                build(method, path, hdrs + [("Transfer-Encoding", te)], body, content_length=False),
                half_close=half, close_ok=half, must_reject=reject,
                allow5xx={501} if te not in ("chunked", "Chunked") else (), ok2xx={202} if target == "post" else ())


def deep(n, open_=b"[", close=b"]"):
    return open_ * n + close * n


def manifest_bodies(ctx, rng):
    good = json.loads(ctx.manifest)
    cfg = good["config"]
    layer = good["layers"][0]

    def m(**kw):
        x = dict(good)
        x.update(kw)
        return J(x)
    unknown_layers = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:%064x" % i, "size": i}
                      for i in range(1, 20000)]
    return [
        ("empty body", b"", None),
        ("'{'", b"{", None),
        ("'[]'", b"[]", None),
        ("'null'", b"null", None),
        ("'1'", b"1", None),
        ("string", b'"manifest"', None),
        ("schemaVersion as string", m(schemaVersion="2"), None),
        ("only schemaVersion", b'{"schemaVersion":2}', None),
        ("schema1 signed", J({"schemaVersion": 1, "name": "good/app", "tag": "x", "architecture": "amd64", "fsLayers": [],
                              "history": [], "signatures": [{"header": {}, "signature": "x", "protected": "x"}]}),
         "application/vnd.docker.distribution.manifest.v1+prettyjws"),
        ("schema1 unsigned", J({"schemaVersion": 1, "name": "good/app", "tag": "x", "fsLayers": [], "history": []}),
         "application/vnd.docker.distribution.manifest.v1+json"),
        ("missing config", J({k: v for k, v in good.items() if k != "config"}), None),
        ("config digest invalid", m(config=dict(cfg, digest="sha256:xyz")), None),
        ("config digest upper-case", m(config=dict(cfg, digest=cfg["digest"].upper())), None),
        ("layers is an object", m(layers={"a": layer}), None),
        ("layers is a string", m(layers="abc"), None),
        ("size -1", m(layers=[dict(layer, size=-1)]), None),
        ("size 1e400", m(layers=[dict(layer, size=0)]).replace(b'"size": 0', b'"size": 1e400'), None),
        ("size 2^64", m(layers=[dict(layer, size=0)]).replace(b'"size": 0', b'"size": 18446744073709551616'), None),
        ("size as string", m(layers=[dict(layer, size=str(layer["size"]))]), None),
        ("size 1.5", m(layers=[dict(layer, size=1.5)]), None),
        ("size null", m(layers=[dict(layer, size=None)]), None),
        ("mediaType a number", m(mediaType=7), None),
        ("schemaVersion 2.5", m(schemaVersion=2.5), None),
        ("schemaVersion 1e999", m(schemaVersion=0).replace(b'"schemaVersion": 0', b'"schemaVersion": 1e999'), None),
        ("schemaVersion 99999999999999999999", m(schemaVersion=0).replace(b'"schemaVersion": 0', b'"schemaVersion": 99999999999999999999'), None),
        ("4 MiB + 1 KiB (too large)", m(annotations={"pad": "x" * (4 * 1024 * 1024 + 1024)}), None),
        ("3.5 MiB referencing 20k unknown layers", m(layers=unknown_layers), None),
        ("nesting depth 100000 in an unknown field", b'{"schemaVersion":2,"x":' + deep(100000) + b"}", None),
        ("nesting depth 1000000 in an unknown field", b'{"schemaVersion":2,"x":' + deep(1000000) + b"}", None),
        ("nesting depth 100000 of objects", b'{"schemaVersion":2,"x":' + b'{"a":' * 100000 + b"1" + b"}" * 100000 + b"}", None),
        ("nesting depth 5000 in annotations", b'{"schemaVersion":2,"annotations":' + deep(5000) + b"}", None),
        ("unclosed nesting 100000", b'{"schemaVersion":2,"x":' + b"[" * 100000, None),
        ("invalid UTF-8", m(annotations={"a": "b"}).replace(b'"b"', b'"\xff\xfe\x80"'), None),
        ("UTF-8 BOM prefix", b"\xef\xbb\xbf" + ctx.manifest, None),
        ("duplicate keys", b'{"schemaVersion":2,"schemaVersion":1,' + ctx.manifest.lstrip()[1:], None),
        ("mediaType differs from Content-Type", m(mediaType="application/vnd.oci.image.index.v1+json"), OCI_MANIFEST),
        ("unknown Content-Type", ctx.manifest, "application/x-foo"),
        ("index of unknown manifests", J({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": ZERO, "size": 10}]}), OCI_INDEX),
        ("index whose manifests is null", J({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": None}), OCI_INDEX),
        ("NUL inside strings", m(annotations={"a\u0000b": "c\u0000d"}), None),
        ("lone surrogate escape", m(annotations={"a": "b"}).replace(b'"b"', b'"\\ud800"'), None),
        ("NaN", m(layers=[dict(layer, size=0)]).replace(b'"size": 0', b'"size": NaN'), None),
        ("trailing garbage", ctx.manifest + b"x", None),
        ("100k keys", b'{"schemaVersion":2,' + b",".join(b'"k%d":1' % i for i in range(100000)) + b"}", None),
        ("1 MiB annotation value (valid)", m(annotations={"a": "v" * (1 << 20)}), "ok"),
        ("docker v2 without layers", J({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                        "config": cfg}), "application/vnd.docker.distribution.manifest.v2+json"),
        ("subject with invalid digest", m(subject={"mediaType": OCI_MANIFEST, "digest": "sha256:zz", "size": 1}), None),
        ("annotations not strings", m(annotations={"a": 1}), None),
        ("layers with 1000 copies of one valid layer (valid)", m(layers=[layer] * 1000), "ok"),
        ("descriptor urls not array", m(layers=[dict(layer, urls="http://x")]), None),
        ("empty mediaType on layer", m(layers=[dict(layer, mediaType="")]), None),
    ]


def manifest_case(rng, ctx):
    bodies = manifest_bodies_cached(ctx, rng)
    label, body, ctype = rng.choice(bodies)
    valid = ctype == "ok"
    if ctype in (None, "ok"):
        ctype = OCI_MANIFEST
    ref = "h-%d" % rng.randrange(1 << 30)
    return Case("manifest-json", "manifest PUT: %s" % label,
                build("PUT", "/v2/%s/manifests/%s" % (GOOD_REPO, ref), [("Content-Type", ctype)], body),
                must_reject=not valid, timeout=30)


_bodies = None
_bodies_lock = threading.Lock()


def manifest_bodies_cached(ctx, rng):
    global _bodies
    with _bodies_lock:
        if _bodies is None:
            _bodies = manifest_bodies(ctx, rng)
        return _bodies


def header_case(rng, ctx):
    kind = rng.randrange(16)
    get = "/v2/"
    if kind == 0:
        return Case("headers", "100 KiB header value", build("GET", get, [("X-Big", "a" * 100 * 1024)]))
    if kind == 1:
        return Case("headers", "1.2 MiB header value", build("GET", get, [("X-Big", "a" * int(1.2 * 1024 * 1024))]), timeout=20)
    if kind == 2:
        return Case("headers", "10000 headers", build("GET", get, [("X-H%d" % i, "v") for i in range(10000)]))
    if kind == 3:
        return Case("headers", "header line without colon", build("GET", get, [("NoColonHere", "")]).replace(b"NoColonHere: ", b"NoColonHere"))
    if kind == 4:
        return Case("headers", "space in header name", build("GET", get, [("Bad Name", "x")]))
    if kind == 5:
        return Case("headers", "obs-fold continuation line", build("GET", get, [("X-A", "b\r\n folded")]))
    if kind == 6:
        return Case("headers", "NUL in header value", build("GET", get, [("X-A", "a\x00b")]))
    if kind == 7:
        return Case("headers", "bare CR in header value", build("GET", get, [("X-A", "a\rb")]))
    if kind == 8:
        return Case("headers", "100 KiB request target", build("GET", "/v2/" + "a" * 100 * 1024 + "/tags/list"))
    if kind == 9:
        return Case("headers", "100 KiB query string", build("GET", "/v2/_catalog?x=" + "a" * 100 * 1024))
    if kind == 10:
        return Case("headers", "64 KiB header name", build("GET", get, [("X" * 64 * 1024, "v")]))
    if kind == 11:
        return Case("headers", "100 KiB Content-Type on manifest PUT",
                    build("PUT", "/v2/%s/manifests/hct" % GOOD_REPO, [("Content-Type", "application/" + "x" * 100 * 1024)], ctx.manifest),
                    must_reject=True)
    if kind == 12:
        return Case("headers", "Accept with 20000 entries on manifest GET",
                    build("GET", "/v2/%s/manifests/v1" % GOOD_REPO, [("Accept", ", ".join(["application/x-%d" % i for i in range(20000)]))]))
    if kind == 13:
        return Case("headers", "8 MiB of headers", build("GET", get, [("X-Big%d" % i, "a" * 8192) for i in range(1024)]), timeout=20)
    if kind == 14:
        return Case("headers", "header with UTF-8 and control bytes", build("GET", get, [("X-U", "\u00fc\x01\x7f")]))
    return Case("headers", "100 KiB Host header", build("GET", get, [("Host", "h" * 100 * 1024)], host=False))


def traversal_case(rng, ctx):
    kind = rng.randrange(14)
    ids = ["../x", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e", "..", "a" * 1000, "00000000-0000-0000-0000-000000000000",
           "invalid", "..%00", "%2e%2e%2f%2e%2e%2fdb.sqlite", "ABCDEF01-2345-6789-ABCD-EF0123456789", "-", "~",
           ".%2e/%2e./metadata.db"]
    if kind <= 4:
        uid = rng.choice(ids)
        method = ["GET", "PATCH", "PUT", "DELETE", "GET"][kind]
        path = "/v2/%s/blobs/uploads/%s" % (GOOD_REPO if method != "DELETE" else VICTIM_REPO, uid)
        if method == "PUT":
            path += "?digest=" + sha256(b"x")
        return Case("traversal", "upload id %r: %s" % (uid[:40], method),
                    build(method, path, [("Content-Type", "application/octet-stream")], b"x" if method in ("PATCH", "PUT") else b""),
                    must_reject=True, check=no_passwd)
    if kind == 5:
        # Another repository's live session must not be reachable through this one.
        path = ctx.new_upload("other/repo")
        stolen = path.replace("/v2/other/repo/", "/v2/%s/" % GOOD_REPO)
        return Case("traversal", "upload session of another repository: PATCH", build("PATCH", stolen, [], b"stolen"), must_reject=True)
    paths = [
        "/v2/../../../../etc/passwd", "/v2/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/v2/good/app/blobs/sha256:..%2f..%2fetc%2fpasswd",
        "/v2/%2e%2e/manifests/x", "//etc/passwd", "/v2/good/app/manifests/..%2f..%2fetc%2fpasswd",
        "/v2/good/app/tags/list/../../../../etc/passwd", "/v2/good/app/manifests/%00", "/v2/good/app/manifests/latest%00.json",
        "/../../../../../etc/passwd", "/v2/good/app/blobs/..", "/v2/good/app/manifests/..%5c..%5cwindows",
        "/v2/good/app/blobs/sha256%3a" + ctx.blob_digest[7:] + "%2f..", "/v2/./good/app/manifests/v1/.", "/v2/%2fetc%2fpasswd/manifests/x",
        "/v2/good/app/manifests/" + "..%2f" * 200 + "etc%2fpasswd",
    ]
    if kind == 6:
        return Case("traversal", "absolute-form target http://evil/v2/", build("GET", "http://evil.example/v2/"), check=no_passwd)
    p = paths[(kind - 7 + rng.randrange(len(paths))) % len(paths)]
    method = rng.choice(["GET", "HEAD", "DELETE"])
    if method == "DELETE":
        p = p.replace("good/app", VICTIM_REPO)
    return Case("traversal", "path %r %s" % (p[:60], method), build(method, p), head=method == "HEAD",
                must_reject=p != "/v2/./good/app/manifests/v1/.", check=no_passwd)


def query_case(rng, ctx):
    base_choices = [
        ("/v2/_catalog?n=-1", True), ("/v2/_catalog?n=99999999999999999999", False), ("/v2/_catalog?n=abc", True),
        ("/v2/_catalog?n=0", False), ("/v2/_catalog?n=1e3", True), ("/v2/_catalog?n=%00", True),
        ("/v2/_catalog?last=" + "a" * 10000, False), ("/v2/_catalog?last=%00", False), ("/v2/_catalog?last=%ff", False),
        ("/v2/_catalog?n=1&n=2", False), ("/v2/good/app/tags/list?n=-1", True),
        ("/v2/good/app/tags/list?n=99999999999999999999", False), ("/v2/good/app/tags/list?last=" + "z" * 10000, False),
        ("/v2/good/app/tags/list?n=9223372036854775807", False), ("/v2/_catalog?n=9223372036854775807", False),
        ("/v2/_catalog?n=-9223372036854775808", True), ("/v2/good/app/tags/list?n=2147483648", False),
        ("/v2/_catalog?%", False), ("/v2/_catalog?n=%zz", True), ("/v2/_catalog?&&&&=&=", False), ("/v2/_catalog?" + "x=1&" * 5000, False),
        ("/v2/good/app/referrers/%s?artifactType=%s" % (ctx.manifest_digest, "%00" * 100), False),
    ]
    kind = rng.randrange(10)
    if kind < 5:
        path, reject = rng.choice(base_choices)
        return Case("query", "GET %s" % (path[:60] + ("...(%d)" % len(path) if len(path) > 60 else "")), build("GET", path),
                    must_reject=reject)
    if kind == 5:
        alg = rng.choice(["md5", "sha512", "%00", "", "SHA256", "a" * 1000])
        return Case("query", "POST upload ?digest-algorithm=%s" % alg[:20],
                    build("POST", "/v2/%s/blobs/uploads/?digest-algorithm=%s" % (GOOD_REPO, alg), body=b""))
    if kind == 6:
        frm = rng.choice(["UPPER", "..%2f..%2fetc", "%00", "a" * 300, ""])
        return Case("query", "POST mount from=%r" % frm[:20],
                    build("POST", "/v2/hostile/m/blobs/uploads/?mount=%s&from=%s" % (ctx.blob_digest, frm), body=b""))
    if kind == 7:
        tags = rng.choice([["t%d" % i for i in range(200)], ["%00"], ["BAD TAG"], ["a" * 200], ["-x"], ["ok1", "ok1"]])
        q = "&".join("tag=" + t for t in tags)
        valid = tags in (["ok1", "ok1"],)
        return Case("query", "PUT manifest by digest with tag=%s (%d)" % (tags[0][:10], len(tags)),
                    build("PUT", "/v2/%s/manifests/%s?%s" % (GOOD_REPO, ctx.manifest_digest, q), [("Content-Type", OCI_MANIFEST)],
                          ctx.manifest), must_reject=not valid and len(tags) != 200)
    if kind == 8:
        path = ctx.new_upload()
        q = rng.choice(["digest=", "digest=%s&digest=%s" % (sha256(b"x"), ZERO), "", "digest=%00"])
        return Case("query", "PUT upload ?%s" % q[:40], build("PUT", add_query(path, q) if q else path, body=b"x"), must_reject=True)
    state = rng.choice(["", "garbage", "a" * 5000, "%00"])
    path = ctx.new_upload()
    path = path.split("?")[0] + "?_state=" + state
    return Case("query", "upload PATCH with forged _state=%r" % state[:10], build("PATCH", path, [], b"x"))


def method_case(rng, ctx):
    variants = [
        ("unknown method FOO", b"FOO /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {501, 405}),
        ("TRACE", b"TRACE /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {501, 405}),
        ("CONNECT", b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {501, 405}),
        ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {501, 405}),
        ("PROPFIND", b"PROPFIND /v2/good/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {501, 405}),
        ("lower-case method", b"get /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {501, 405}),
        ("1000-char method", b"X" * 1000 + b" /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {501, 405}),
        ("DELETE /v2/", build("DELETE", "/v2/"), set()),
        ("POST /v2/_catalog", build("POST", "/v2/_catalog", body=b"{}"), set()),
        ("PUT on a blob URL", build("PUT", "/v2/good/app/blobs/%s" % ctx.blob_digest, body=b"x"), set()),
        ("PATCH on a manifest URL", build("PATCH", "/v2/good/app/manifests/v1", body=b"x"), set()),
        ("HTTP/9.9", b"GET /v2/ HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n", {505}),
        ("HTTP/1.1.1", b"GET /v2/ HTTP/1.1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {505}),
        ("FOO/1.1 protocol", b"GET /v2/ FOO/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {505}),
        ("HTTP/2.0 in a 1.1 request line", b"GET /v2/ HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n", {505}),
        ("missing target", b"GET HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", set()),
        ("extra spaces in request line", b"GET  /v2/  HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", set()),
        ("NUL in request line", b"GET /v2/\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", set()),
        ("no Host header", b"GET /v2/ HTTP/1.1\r\nConnection: close\r\n\r\n", set()),
        ("two Host headers", b"GET /v2/ HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n", set()),
        ("Expect: 100-continue then a 10 MiB body", build("PATCH", "/v2/good/app/manifests/v1", [("Expect", "100-continue")],
                                                          b"x" * (10 << 20)), set()),
        ("unknown Expect", build("GET", "/v2/", [("Expect", "200-ok")]), {417}),
        ("GET with a 10 MiB body", build("GET", "/v2/", [], b"x" * (10 << 20)), set()),
    ]
    label, data, allow = rng.choice(variants)
    return Case("method", label, data, allow5xx=allow, must_reject=label not in (
        "no Host header", "two Host headers", "GET with a 10 MiB body", "extra spaces in request line", "unknown Expect"))


def garbage_case(rng, ctx):
    ok = b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"
    variants = [
        ("valid GET then 1 KiB of random bytes", ok + rand_bytes(rng, 1024), True),
        ("valid GET then blank lines", ok + b"\r\n\r\n\r\n", True),
        ("valid GET then half a request", ok + b"GET /v2/ HT", True),
        ("100 pipelined GET /v2/", ok * 99 + b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", True),
        ("1 KiB of random bytes", rand_bytes(rng, 1024), False),
        ("TLS ClientHello", bytes.fromhex("16030100a5010000a10303") + rand_bytes(rng, 160), False),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00", False),
        ("HTTP/0.9 request", b"GET /v2/\r\n\r\n", False),
        ("bare-LF request", b"GET /v2/ HTTP/1.1\nHost: x\nConnection: close\n\n", False),
        ("only CRLFs", b"\r\n" * 1000, False),
        ("a valid push request line then binary headers", b"POST /v2/good/app/blobs/uploads/ HTTP/1.1\r\n" + rand_bytes(rng, 512) + b"\r\n\r\n", False),
        ("64 KiB of NUL", b"\x00" * 65536, False),
    ]
    label, data, first_ok = rng.choice(variants)
    return Case("pipelined-garbage", label, data, half_close=True, good={200} if first_ok else None,
                close_ok=label in ("only CRLFs", "HTTP/0.9 request"))


def upgrade_case(rng, ctx):
    """A request NIO's HTTP/1 parser (llhttp) takes as a switch of protocols (Upgrade with a Connection: upgrade token,
    CONNECT), or one close to it, then a pipelined GET of a known manifest on the same connection. The GET must be
    answered, or the connection closed after a response that said so: Pier once held every byte after such a request
    until the idle timeout."""
    get = "GET /v2/ HTTP/1.1\r\nHost: x\r\n"
    post = "POST /v2/good/push/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n"
    variants = [
        ("h2c upgrade", get + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"),
        ("websocket upgrade", get + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"),
        ("upgrade token among others", get + "Connection: keep-alive, upgrade\r\nUpgrade: foo/2\r\n\r\n"),
        ("HEAD with upgrade", "HEAD /v2/ HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"),
        ("upgrade with a body", post + "Connection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello"),
        ("upgrade with a chunked body", post + "Connection: upgrade\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("HTTP/1.0 upgrade, keep-alive", "GET /v2/ HTTP/1.0\r\nHost: x\r\nConnection: Upgrade, keep-alive\r\nUpgrade: h2c\r\n\r\n"),
        ("upgrade inside a token", get + "Connection: upgrade-insecure\r\nUpgrade: h2c\r\n\r\n"),
        ("CONNECT", "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n"),
        ("CONNECT with a body", "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\nContent-Length: 5\r\n\r\nhello"),
        ("odd Expect", post + "Expect: 100-continue-please\r\nContent-Length: 3\r\n\r\nabc"),
        ("gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    ]
    label, first = rng.choice(variants)
    follow = with_auth(build("GET", "/v2/%s/manifests/v1" % GOOD_REPO, [("Accept", OCI_MANIFEST)]))

    def check(o):
        if o.status == 200 and o.body == ctx.manifest:
            return None
        if "close" in (o.header("connection") or "").lower():
            return None  # closed after a response that said so
        return "the request pipelined behind it was not answered (last: %s)" % o.describe()
    return Case("upgrade", label, first.encode() + follow, check=check, read_to_close=True, timeout=5)


# -------------------------------------------------------------------------------------------------------------------
# Authorization garbage, and a mutation fuzzer over every endpoint.

def auth_values(rng):
    import base64
    b64 = lambda x: base64.b64encode(x).decode("latin-1")
    return [
        ("Basic without credentials", "Basic"),
        ("Basic empty", "Basic "),
        ("Basic not base64", "Basic !!!not*base64***"),
        ("Basic base64 without colon", "Basic " + b64(b"nocolon")),
        ("Basic empty user and password", "Basic " + b64(b":")),
        ("Basic wrong password", "Basic " + b64(b"robust:wrong")),
        ("Basic unknown user", "Basic " + b64(b"nobody:secret")),
        ("Basic 100 KiB", "Basic " + b64(b"u:" + b"p" * 75000)),
        ("Basic 4 KiB password", "Basic " + b64(b"robust:" + b"p" * 4096)),
        ("Basic NUL in user", "Basic " + b64(b"rob\x00ust:x")),
        ("Basic invalid UTF-8", "Basic " + b64(b"\xff\xfe:\xc3\x28")),
        ("Basic random bytes", "Basic " + b64(rand_bytes(rng, rng.randint(1, 300)))),
        ("Basic bad padding", "Basic " + b64(b"robust:x").rstrip("=") + "==="),
        ("lower-case basic", "basic " + b64(b"robust:wrong")),
        ("Basic with extra fields", "Basic " + b64(b"robust:x") + " extra, realm=\"x\""),
        ("Bearer empty", "Bearer "),
        ("Bearer garbage", "Bearer " + "".join(rng.choice("abcXYZ019-_.~+/=") for _ in range(rng.randint(1, 200)))),
        ("Bearer JWT-shaped garbage", "Bearer " + ".".join(b64(rand_bytes(rng, 60)) for _ in range(3))),
        ("Bearer alg none", "Bearer " + b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(b'{"sub":"admin","access":[{"type":"repository","name":"*","actions":["*"]}]}') + "."),
        ("Bearer 64 KiB", "Bearer " + "A" * 65536),
        ("Digest scheme", 'Digest username="robust", realm="x", nonce="1", uri="/v2/", response="0"'),
        ("unknown scheme", "Negotiate " + b64(rand_bytes(rng, 40))),
        ("only spaces", "     "),
        ("control characters", "Basic \x01\x02\x7f"),
    ]


ENDPOINTS = [
    ("GET", "/v2/"), ("GET", "/v2/_catalog?n=3"), ("GET", "/v2/{repo}/tags/list"), ("GET", "/v2/{repo}/manifests/v1"),
    ("HEAD", "/v2/{repo}/manifests/{manifest}"), ("PUT", "/v2/{victim}/manifests/f{n}"), ("DELETE", "/v2/{victim}/manifests/f{n}"),
    ("GET", "/v2/{repo}/blobs/{blob}"), ("HEAD", "/v2/{repo}/blobs/{blob}"), ("DELETE", "/v2/{victim}/blobs/{zero}"),
    ("POST", "/v2/{victim}/blobs/uploads/"), ("POST", "/v2/{victim}/blobs/uploads/?digest={bodydigest}"),
    ("POST", "/v2/{victim}/blobs/uploads/?mount={blob}&from={repo}"), ("GET", "{upload}"), ("PATCH", "{upload}"),
    ("PUT", "{upload}?digest={bodydigest}"), ("DELETE", "{upload}"), ("GET", "/v2/{repo}/referrers/{manifest}"),
    ("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/admin/prefetch"),
    ("GET", "/token?service=pier-robustness&scope=repository:{repo}:pull,push&scope=registry:catalog:*"), ("POST", "/token"),
]
FUZZ_METHODS = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "TRACE", "get", "PROPFIND", "M" * 300, "GET\x00"]
FUZZ_HEADERS = ["Content-Type", "Accept", "Range", "Content-Range", "Content-Length", "Transfer-Encoding", "Authorization",
                "Docker-Content-Digest", "If-None-Match", "Expect", "Connection", "Host", "X-Forwarded-For", "Cookie",
                "OCI-Chunk-Min-Length", "Docker-Upload-UUID", "Accept-Encoding", "Content-Encoding", "Origin"]
FUZZ_VALUES = ["", " ", "0", "-1", "99999999999999999999", "bytes=0-", "0-0", "*/*", "application/json", "chunked",
               "close", "100-continue", "\u00e9\u00e9", "a" * 8192, "%00", "\t", "x,y,z", "bytes=0-1,2-3", OCI_MANIFEST,
               "sha256:" + "0" * 64, "../../etc/passwd"]
PATH_JUNK = ["%00", "%2e%2e", "..", "//", "%2f", "%", "%zz", "\u00e9", "~", ";", "@", "*", "%ff", "/.", "/../", "?", "#", " "]


def fuzz_case(rng, ctx):
    """A request to a random endpoint, then 1 to 4 random mutations of its method, path, query, headers or body."""
    method, template = rng.choice(ENDPOINTS)
    body = b""
    if method in ("PUT", "PATCH", "POST"):
        body = rng.choice([b"", rand_bytes(rng, rng.randint(1, 2048)), ctx.manifest, ctx.manifest_variant(rng),
                           b"{" * rng.randint(1, 5000), J({"schemaVersion": rng.choice([1, 2, "2", None])})])
    values = {"repo": GOOD_REPO, "victim": VICTIM_REPO, "manifest": ctx.manifest_digest, "blob": ctx.blob_digest,
              "zero": ZERO, "n": rng.randrange(1000), "bodydigest": sha256(body), "upload": ""}
    if "{upload}" in template:
        values["upload"] = ctx.new_upload(VICTIM_REPO)
        if "?" in values["upload"]:
            template = template.replace("?", "&")
    target = template.format(**values)
    headers = [("Content-Type", OCI_MANIFEST if "manifests" in target else "application/octet-stream")] if body else []
    names = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(7)
        if kind == 0:
            method = rng.choice(FUZZ_METHODS)
            names.append("method")
        elif kind == 1:
            at = rng.randrange(len(target) + 1)
            target = target[:at] + rng.choice(PATH_JUNK) + target[at:]
            names.append("path junk")
        elif kind == 2:
            target = target[:rng.randrange(1, len(target) + 1)]
            names.append("path cut")
        elif kind == 3:
            query = "&".join("%s=%s" % (rng.choice(["n", "last", "digest", "mount", "from", "tag", "ns", "_state", "x" * 50,
                                                     "artifactType", "digest-algorithm"]),
                                        urllib.parse.quote(rng.choice(FUZZ_VALUES), safe=""))
                             for _ in range(rng.randint(1, 30)))
            target += ("&" if "?" in target else "?") + query
            names.append("query")
        elif kind == 4:
            for _ in range(rng.randint(1, 3)):
                headers.append((rng.choice(FUZZ_HEADERS), rng.choice(FUZZ_VALUES)))
            names.append("headers")
        elif kind == 5:
            name, value = rng.choice(FUZZ_HEADERS), rng.choice(FUZZ_VALUES)
            headers += [(name, value)] * rng.randint(2, 200)
            names.append("duplicated header")
        else:
            body = rand_bytes(rng, rng.choice([0, 1, 100, 65536]))
            names.append("body")
    if method not in ("GET", "HEAD"):
        # Writes and unknown methods aim at the victim, never at the good content the good requests check.
        target = target.replace(GOOD_REPO, VICTIM_REPO)
    # Framing headers the fuzzer chose are kept as written: a Content-Length that lies, chunked without chunks.
    framing = any(h[0] in ("Content-Length", "Transfer-Encoding") for h in headers)
    data = build(method, target, headers, body, content_length=not framing)
    label = "%s %s: %s" % (template.split("?")[0][:40], method if method.isalpha() and len(method) < 12 else "odd method",
                           "+".join(sorted(set(names))))
    return Case("fuzz", label, data, half_close=True, head=method == "HEAD", close_ok=framing or "method" in names or "path junk" in names,
                allow5xx={501, 505} if "method" in names or framing else (), check=no_passwd)


def auth_case(rng, ctx):
    """A garbage Authorization header on a random endpoint: answered 401 when the server wants credentials (or as if
    absent when it does not), never 5xx."""
    label, value = rng.choice(auth_values(rng))
    method, target = rng.choice([("GET", "/v2/"), ("GET", "/v2/%s/manifests/v1" % GOOD_REPO), ("GET", "/v2/_catalog"),
                                 ("HEAD", "/v2/%s/blobs/%s" % (GOOD_REPO, ctx.blob_digest)),
                                 ("POST", "/v2/%s/blobs/uploads/" % VICTIM_REPO),
                                 ("PUT", "/v2/%s/manifests/a1" % VICTIM_REPO), ("DELETE", "/v2/%s/manifests/a1" % VICTIM_REPO),
                                 ("POST", "/admin/prefetch"), ("GET", "/token?service=pier-robustness&scope=repository:%s:pull" % GOOD_REPO)])
    headers = [("Authorization", value)]
    if rng.random() < 0.2:
        headers.append(("Authorization", rng.choice(auth_values(rng))[1]))
        label += " + a second Authorization"
    body = ctx.manifest if method == "PUT" else b""
    if body:
        headers.append(("Content-Type", OCI_MANIFEST))
    return Case("auth", label, build(method, target, headers, body), head=method == "HEAD", check=no_passwd)


def with_auth(data):
    """The request with the harness's credentials added after the request line (--auth), unless it has its own."""
    value = auth_header()
    line_end = data.find(b"\r\n")
    if not value or line_end < 0 or b"\r\nauthorization:" in data[:data.find(b"\r\n\r\n") + 2].lower():
        return data
    return data[:line_end + 2] + b"Authorization: " + value.encode() + b"\r\n" + data[line_end + 2:]

# -------------------------------------------------------------------------------------------------------------------
# Good requests.

def good_case(rng, ctx):
    kind = rng.randrange(11)
    if kind == 0:
        return Case("good", "GET /v2/", build("GET", "/v2/"), good={200})
    if kind == 1:
        def check(o):
            return None if o.body == ctx.manifest else "manifest bytes differ"
        return Case("good", "GET manifest by tag", build("GET", "/v2/%s/manifests/v1" % GOOD_REPO, [("Accept", OCI_MANIFEST)]),
                    good={200}, check=check)
    if kind == 2:
        return Case("good", "HEAD manifest by digest", build("HEAD", "/v2/%s/manifests/%s" % (GOOD_REPO, ctx.manifest_digest),
                                                             [("Accept", OCI_MANIFEST)]),
                    good={200}, head=True)
    if kind == 3:
        def check(o):
            return None if o.body[:65536] == ctx.blob[:65536] else "blob bytes differ"
        return Case("good", "GET blob", build("GET", "/v2/%s/blobs/%s" % (GOOD_REPO, ctx.blob_digest)), good={200}, check=check)
    if kind == 4:
        def check(o):
            return None if o.body == ctx.blob[10:20] else "range bytes differ: %r" % o.body[:20]
        return Case("good", "GET blob Range bytes=10-19", build("GET", "/v2/%s/blobs/%s" % (GOOD_REPO, ctx.blob_digest),
                                                                 [("Range", "bytes=10-19")]), good={206}, check=check)
    if kind == 5:
        return Case("good", "GET tags/list", build("GET", "/v2/%s/tags/list" % GOOD_REPO), good={200})
    if kind == 6:
        return Case("good", "GET _catalog?n=5", build("GET", "/v2/_catalog?n=5"), good={200})
    if kind == 7:
        data = rand_bytes(rng, rng.randint(0, 4096))
        return Case("good", "POST ?digest= monolithic push",
                    build("POST", "/v2/good/push/blobs/uploads/?digest=%s" % sha256(data), [], data), good={201, 202})
    if kind == 8:
        data = rand_bytes(rng, rng.randint(1, 4096))
        path = ctx.new_upload("good/push")
        return Case("good", "PATCH chunk on a new upload",
                    build("PATCH", path, [("Content-Type", "application/octet-stream"),
                                          ("Content-Range", "0-%d" % (len(data) - 1))], data), good={202})
    if kind == 9:
        return Case("good", "PUT manifest new tag", build("PUT", "/v2/%s/manifests/g%d" % (GOOD_REPO, rng.randrange(1000)),
                                                          [("Content-Type", OCI_MANIFEST)], ctx.manifest_variant(rng)), good={201})
    return Case("good", "GET unknown manifest (404)", build("GET", "/v2/%s/manifests/nope" % GOOD_REPO), good={404})


GENERATORS = [
    (good_case, 30), (name_case, 9), (legal_odd_name_case, 1), (digest_case, 9), (range_case, 6), (content_range_case, 6),
    (content_length_case, 6), (chunked_case, 6), (manifest_case, 6), (header_case, 4), (traversal_case, 6),
    (query_case, 5), (method_case, 3), (garbage_case, 3), (fuzz_case, 12), (auth_case, 4), (upgrade_case, 2),
]


def classify(case, o):
    """(class, failure message or None). Classes: ok, accepted-invalid, 5xx, hang, no-response, crash, bad-good."""
    if o.kind == "refused":
        return "refused", "connection refused (server down?)"
    if o.kind == "timeout":
        return "hang", "no answer within %.0fs (connection still open)" % o.elapsed
    if o.kind in ("closed", "reset", "garbage"):
        if case.close_ok:
            return "ok-closed", None
        return "no-response", "connection %s without a status line%s" % (o.kind, "" if o.sent_all else " (request not fully sent)")
    s = o.status
    cl = o.header("content-length")
    if not case.head and s not in (204, 304) and cl and cl.isdigit() and len(o.body) < min(int(cl), 65536):
        return "bad-framing", "answer's body shorter than its Content-Length (%d of %s bytes) before the connection closed" % (
            len(o.body), cl)
    if case.good is not None:
        if s not in case.good:
            if s >= 500:
                return "5xx", "good request answered %d" % s
            return "bad-good", "good request answered %d, expected %s" % (s, sorted(case.good))
        msg = case.check(o) if case.check else None
        return ("bad-good", msg) if msg else ("ok", None)
    if s >= 500 and s not in case.allow5xx:
        return "5xx", "client error answered %d" % s
    msg = case.check(o) if case.check else None
    if msg:
        return "bad-good", msg
    if 200 <= s < 300 and case.must_reject and s not in case.ok2xx:
        return "accepted-invalid", "invalid input accepted with %d" % s
    return "ok", None


FAIL_CLASSES = ("5xx", "hang", "no-response", "bad-framing", "crash", "bad-good")


def run(args):
    host, port = parse_url(args.url)
    server = None
    if args.server_cmd:
        root = args.root or default_root("robust-hostile-")
        server = Server(args.server_cmd, args.url, root, args.log or (root.rstrip("/") + ".log"))
        server.start()
        log("hostile: started server PID %d, root %s, log %s" % (server.pid, root, server.log_path))
    ctx = Context(args.url)
    rng0 = random.Random(args.seed if args.seed is not None else int(time.time()))
    gens = [g for g, w in GENERATORS for _ in range(w)]
    table = defaultdict(Counter)          # cat -> class -> count
    status_table = defaultdict(Counter)   # cat -> status -> count
    failures = {}                         # (name, class, detail-key) -> [count, example request, outcome]
    accepted = {}
    lock = threading.Lock()
    inflight = {}
    crashes = []
    t_start = time.time()
    deadline = t_start + args.max_seconds
    stopped = threading.Event()
    counter = [0]
    rss_peak = [server.rss_kib() if server else None]

    def record(case, cls, msg, o):
        with lock:
            table[case.cat][cls] += 1
            status_table[case.cat][o.status if o.kind == "response" else o.kind] += 1
            if cls in FAIL_CLASSES or cls == "accepted-invalid":
                key = (case.cat, case.name, cls, o.status)
                d = failures if cls != "accepted-invalid" else accepted
                if key not in d:
                    d[key] = [0, case.data, o.describe(), msg]
                d[key][0] += 1

    def handle_crash(case_names):
        with lock:
            if server is None or server.alive():
                return
            if len(crashes) >= args.max_crashes:
                stopped.set()
                return
            status = server.exit_status()
            tail = server.log_tail(15)
            crashes.append({"at_request": counter[0], "exit": status, "inflight": case_names, "log_tail": tail})
            log("SERVER DIED (%s) around request %d; in flight: %s" % (status, counter[0], "; ".join(n for n, _ in case_names)[:500]))
            if len(crashes) >= args.max_crashes:
                log("%d crashes: stopping the run (raise --max-crashes, or --skip the culprit)" % len(crashes))
                stopped.set()
            try:
                server.start()
                log("server restarted, PID %d" % server.pid)
            except RuntimeError as e:
                log("restart failed: %s" % e)
                stopped.set()

    def work(i):
        if stopped.is_set() or time.time() > deadline:
            return
        rng = random.Random(rng0.random() * 1e18 + i)
        try:
            for _ in range(50):
                gen = rng.choice(gens)
                case = gen(rng, ctx)
                if not any(x in case.name for x in args.skip or ()):
                    break
        except (TransportError, OSError) as e:
            # Could not even prepare (a session POST failed): the server is in trouble.
            if server is not None and not server.alive():
                handle_crash([(gen.__name__ + " (setup)", b"")])
            with lock:
                table["setup"]["setup-failed"] += 1
            return
        if case.cat != "auth":
            case.data = with_auth(case.data)
        tid = threading.get_ident()
        with lock:
            inflight[tid] = (case.name, case.data)
            counter[0] += 1
            generation = server.starts if server is not None else 0
        o = rawhttp.exchange(host, port, case.data, half_close=case.half_close, timeout=case.timeout or args.timeout,
                             head_request=case.head, read_to_close=case.read_to_close)
        with lock:
            inflight.pop(tid, None)
        cls, msg = classify(case, o)
        if server is not None and cls in ("no-response", "hang", "bad-framing") and (
                not healthy(server, host, port) or server.starts != generation):
            cls = "refused"  # the server was dying (a crash elsewhere, or this request): not this request's own answer
        if cls == "refused" or (server is not None and (not server.alive() or server.starts != generation)):
            with lock:
                names = [v for v in inflight.values()] + [(case.name, case.data)]
            if server is not None:
                handle_crash(names)
                cls, msg = "crash", "server died while this request was in flight (%s)" % (server.exit_status() or "restarted")
            else:
                cls = "crash"
        record(case, cls, msg, o)
        if i % 2000 == 0:
            log("hostile: %d/%d requests, %.0fs" % (i, args.count, time.time() - t_start))

    def sample_rss():
        while not sampling_done.wait(0.5):
            r = server.rss_kib() if server else None
            if r and (rss_peak[0] is None or r > rss_peak[0]):
                rss_peak[0] = r

    sampling_done = threading.Event()
    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(work, range(args.count)))
    elapsed = time.time() - t_start
    sampling_done.set()
    sampler.join()
    # Is it still serving?
    final = rawhttp.exchange(host, port, with_auth(build("GET", "/v2/")), timeout=10)
    culprits = isolate(args, server, crashes, host, port) if crashes and server else []
    if server:
        server.stop()
    leaks = credential_leaks(server) if server else []
    result = {"requests": counter[0], "credential_leaks": leaks, "stopped_early": stopped.is_set(), "skipped_cases": args.skip or [], "elapsed_s": round(elapsed, 1), "table": {k: dict(v) for k, v in table.items()},
              "statuses": {k: {str(s): n for s, n in v.items()} for k, v in status_table.items()},
              "failures": [{"category": k[0], "case": k[1], "class": k[2], "status": k[3], "count": v[0],
                            "request": show(v[1]), "response": v[2], "why": v[3]} for k, v in sorted(failures.items(), key=lambda x: -x[1][0])],
              "accepted_invalid": [{"category": k[0], "case": k[1], "status": k[3], "count": v[0], "request": show(v[1]),
                                    "response": v[2]} for k, v in sorted(accepted.items(), key=lambda x: -x[1][0])],
              "crashes": [{k: (v if k != "inflight" else [n for n, _ in v]) for k, v in c.items()} for c in crashes],
              "crash_culprits": culprits,
              "serving_at_end": final.kind == "response" and final.status == 200,
              "rss_peak_kib": rss_peak[0], "max_rss_mib": args.max_rss_mib,
              "rss_over_limit": bool(rss_peak[0] and rss_peak[0] > args.max_rss_mib * 1024)}
    report(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
    nfail = sum(v[0] for v in failures.values()) + len(crashes)
    return 1 if nfail or not result["serving_at_end"] or result["rss_over_limit"] or leaks else 0


def credential_leaks(server):
    """Secrets the server's log must never contain: the --auth password and its Authorization value."""
    value = auth_header()
    if not value:
        return []
    secrets = [value.split(" ", 1)[1], AUTH_PASSWORD()]
    try:
        with open(server.log_path, "rb") as f:
            text = f.read()
    except OSError:
        return []
    return ["server log contains %s" % ("the password" if s == secrets[1] else "the Authorization value")
            for s in secrets if s.encode() in text]


def AUTH_PASSWORD():
    from common import AUTH
    return AUTH["credentials"].split(":", 1)[1]


def healthy(server, host, port, within=15.0):
    """False if the server dies within `within` seconds; True as soon as it answers GET /v2/."""
    end = time.time() + within
    while time.time() < end:
        if not server.alive():
            return False
        o = rawhttp.exchange(host, port, with_auth(build("GET", "/v2/")), timeout=1.0)
        if o.kind == "response" and o.status == 200:
            return True
        time.sleep(0.2)
    return server.alive()


def isolate(args, server, crashes, host, port):
    """Replay each request that was in flight when the server died, alone, to find the one that kills it."""
    seen = {}
    for c in crashes:
        for name, data in c["inflight"]:
            if data and name not in seen:
                seen[name] = data
    culprits = []
    log("isolating %d suspect requests one by one" % len(seen))
    for name, data in seen.items():
        if not server.alive():
            server.start()
        o = rawhttp.exchange(host, port, data, half_close=True, timeout=10)
        time.sleep(0.3)
        if not server.alive():
            culprits.append({"case": name, "request": show(data), "exit": server.exit_status(),
                             "log_tail": server.log_tail(8)})
            log("CULPRIT: %s -> server %s" % (name, server.exit_status()))
    if not server.alive():
        server.start()
    return culprits


def show(data, limit=400):
    """A readable, bounded rendering of request bytes."""
    if len(data) <= limit:
        return repr(data)[2:-1]
    return repr(data[:limit])[2:-1] + "...(%d bytes in all)" % len(data)


def report(r):
    print("\n== hostile: %d requests in %.0fs; server serving at the end: %s; peak RSS %s KiB (limit %s MiB%s)%s%s" % (
        r["requests"], r["elapsed_s"], r["serving_at_end"], r["rss_peak_kib"], r["max_rss_mib"],
        ": EXCEEDED" if r["rss_over_limit"] else "",
        "; STOPPED EARLY after %d crashes" % len(r["crashes"]) if r["stopped_early"] else "",
        "; skipped cases: %s" % r["skipped_cases"] if r["skipped_cases"] else ""))
    classes = ["ok", "ok-closed", "accepted-invalid", "5xx", "hang", "no-response", "bad-framing", "bad-good", "crash", "refused"]
    print("%-18s %7s " % ("category", "total") + " ".join("%9s" % c[:9] for c in classes))
    tot = Counter()
    for cat in sorted(r["table"]):
        row = r["table"][cat]
        tot.update(row)
        print("%-18s %7d " % (cat, sum(row.values())) + " ".join("%9d" % row.get(c, 0) for c in classes))
    print("%-18s %7d " % ("ALL", sum(tot.values())) + " ".join("%9d" % tot.get(c, 0) for c in classes))
    print("\nstatus codes by category:")
    for cat in sorted(r["statuses"]):
        print("  %-18s %s" % (cat, ", ".join("%s:%d" % kv for kv in sorted(r["statuses"][cat].items(), key=lambda x: str(x[0])))))
    for leak in r["credential_leaks"]:
        print("CREDENTIALS IN THE LOG: " + leak)
    if r["failures"]:
        print("\n-- failing requests (deduplicated: %d distinct):" % len(r["failures"]))
        for f in r["failures"]:
            print("[%s] x%d %s: %s\n    why: %s\n    response: %s\n    request: %s" % (
                f["class"], f["count"], f["category"], f["case"], f["why"], f["response"][:300], f["request"][:300]))
    if r["accepted_invalid"]:
        print("\n-- invalid input accepted with 2xx (not counted as failures; deduplicated: %d distinct):" % len(r["accepted_invalid"]))
        for f in r["accepted_invalid"]:
            print("  x%d %s: %s -> %s" % (f["count"], f["category"], f["case"], f["response"][:120]))
    if r["crashes"]:
        print("\n-- server crashes: %d (first 10 shown)" % len(r["crashes"]))
        for c in r["crashes"][:10]:
            print("  at request ~%d, %s; in flight: %s" % (c["at_request"], c["exit"], "; ".join(c["inflight"])[:600]))
            for line in c["log_tail"][-5:]:
                print("    log: " + line[:300])
        for c in r["crash_culprits"]:
            print("  CULPRIT (replayed alone, server died: %s): %s\n    request: %s" % (c["exit"], c["case"], c["request"][:400]))
