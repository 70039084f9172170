"""Shared pieces of the robustness harness: server processes, HTTP clients, blobs and manifests.

Standard library only.
"""

import hashlib
import http.client
import json
import os
import random
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def parse_url(url):
    u = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
    return u.hostname or "127.0.0.1", u.port or 80


# ---------------------------------------------------------------------------------------------------------------
# Server processes (started and stopped by PID only)

REFERENCE_CONFIG = """version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  secret: robustness-harness-fixed-secret-0123456789
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
"""


AUTH_CONFIG = """auth:
  htpasswd:
    realm: robustness
    path: {htpasswd}
"""

# "user:password" when the server under test requires HTTP Basic authentication (--auth); every Client sends it.
AUTH = {"credentials": None}


def set_auth(credentials):
    AUTH["credentials"] = credentials


def auth_header():
    """The Authorization header value for --auth, or None."""
    if not AUTH["credentials"]:
        return None
    import base64
    return "Basic " + base64.b64encode(AUTH["credentials"].encode()).decode()


def write_htpasswd(path, credentials):
    """A bcrypt htpasswd file for "user:password" (htpasswd -B, from apache2-utils: the stdlib has no bcrypt)."""
    user, password = credentials.split(":", 1)
    line = subprocess.run(["htpasswd", "-nbB", user, password], check=True, capture_output=True).stdout.decode().strip()
    with open(path, "w") as f:
        f.write(line + "\n")
    return path


def write_reference_config(path, root, addr, htpasswd=None):
    """A CNCF Distribution config with filesystem storage under `root` and a fixed HTTP secret, so that upload
    `_state` tokens stay valid across restarts (as in a real deployment). With `htpasswd`, Basic authentication
    against that file (Pier reads the same file)."""
    with open(path, "w") as f:
        f.write(REFERENCE_CONFIG.format(root=root, addr=addr))
        if htpasswd:
            f.write(AUTH_CONFIG.format(htpasswd=htpasswd))
    return path


class Server:
    """A registry process the harness starts itself.

    `cmd` may use the placeholders {root} (the data directory), {port}, {addr} (127.0.0.1:PORT) and {config}
    (a CNCF Distribution config.yml generated for that root and address, for the reference registry; Pier reads it
    too: `pier serve {config}`). With --auth (see `set_auth`) the config asks for Basic authentication against a
    generated htpasswd file, also given as {htpasswd}.
    """

    def __init__(self, cmd, url, root, log_path, config_dir=None):
        self.host, self.port = parse_url(url)
        self.root = root
        self.log_path = log_path
        self.config = os.path.join(config_dir or os.path.dirname(os.path.abspath(root.rstrip("/"))) or "/tmp",
                                   "robustness-%s-%d.yml" % (os.path.basename(root.rstrip("/")) or "root", self.port))
        self.htpasswd = self.config[:-4] + ".htpasswd" if AUTH["credentials"] else None
        values = {"root": root, "port": str(self.port), "addr": "%s:%d" % (self.host, self.port), "config": self.config,
                  "htpasswd": self.htpasswd or ""}
        self.argv = [a.format(**values) for a in shlex.split(cmd)]
        self.uses_config = "{config}" in cmd
        self.proc = None
        self.starts = 0

    def start(self, timeout=90):
        os.makedirs(self.root, exist_ok=True)
        if self.htpasswd:
            write_htpasswd(self.htpasswd, AUTH["credentials"])
        if self.uses_config:
            write_reference_config(self.config, self.root, "%s:%d" % (self.host, self.port), self.htpasswd)
        logf = open(self.log_path, "ab")
        logf.write(("\n==== start #%d %s: %s\n" % (self.starts + 1, time.strftime("%H:%M:%S"), " ".join(self.argv))).encode())
        logf.flush()
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        logf.close()
        self.starts += 1
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s during start; see %s" % (self.proc.returncode, self.log_path))
            try:
                r = request(self.host, self.port, "GET", "/v2/", timeout=2)
                if r.status in (200, 401):
                    return self.proc.pid
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("server did not answer GET /v2/ within %ds" % timeout)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self):
        if self.proc is None or self.proc.poll() is None:
            return None
        rc = self.proc.returncode
        return ("signal %s" % signal.Signals(-rc).name) if rc < 0 else ("exit %d" % rc)

    def kill(self):
        """SIGKILL by PID."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, grace=15):
        """SIGTERM by PID, then SIGKILL after `grace` seconds."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def rss_kib(self):
        return rss_kib(self.pid)

    def log_tail(self, lines=40, grep=None):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        if grep:
            text = [l for l in text if any(g in l for g in grep)]
        return text[-lines:]


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        return None
    return None


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, TypeError):
        return None


def raise_nofile(n=65536):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(n, hard) if hard != resource.RLIM_INFINITY else n
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# ---------------------------------------------------------------------------------------------------------------
# HTTP

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> value (last wins)
        self.body = body

    def h(self, name):
        return self.headers.get(name.lower())

    def error_codes(self):
        try:
            return [e.get("code") for e in json.loads(self.body.decode("utf-8"))["errors"]]
        except Exception:
            return None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:200])


def request(host, port, method, path, body=None, headers=None, timeout=30, conn=None):
    """One request on a fresh connection (or `conn`); raises OSError / http.client errors on transport failure."""
    own = conn is None
    authorization = auth_header()
    if authorization:
        headers = dict(headers or {})
        headers.setdefault("Authorization", authorization)
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        if own:
            conn.close()


class Client:
    """A keep-alive client for one thread. Transport failures raise `TransportError`."""

    def __init__(self, url, timeout=60):
        self.host, self.port = parse_url(url)
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def req(self, method, path, body=None, headers=None, retry_idempotent=True):
        for attempt in range(2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                return request(self.host, self.port, method, path, body, headers, conn=self.conn)
            except (OSError, http.client.HTTPException) as e:
                self.close()
                # A keep-alive connection the server had closed (idle, or after an answer that left the request
                # body unread): retry once on a new connection, as HTTP clients do. Reads are retried on any error.
                stale = reused and isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if attempt == 0 and retry_idempotent and not isinstance(e, ConnectionRefusedError) and (
                        stale or method in ("GET", "HEAD")):
                    continue
                raise TransportError("%s %s: %r" % (method, path[:80], e)) from e

    # -- registry operations -------------------------------------------------------------------------------------

    def path_of(self, location):
        """A Location header (absolute or relative) as a request path."""
        u = urllib.parse.urlsplit(location)
        return u.path + ("?" + u.query if u.query else "")

    def push_blob_monolithic(self, repo, data, digest=None):
        """POST ?digest= with the whole body (falls back to POST + PUT when the server does not do single-POST)."""
        digest = digest or sha256(data)
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, digest), data,
                     {"Content-Type": "application/octet-stream"})
        if r.status == 202:  # the server started a session instead
            return self.req("PUT", add_query(self.path_of(r.h("location")), "digest=" + digest), data,
                            {"Content-Type": "application/octet-stream"})
        return r

    def start_upload(self, repo):
        return self.req("POST", "/v2/%s/blobs/uploads/" % repo, b"")

    def patch(self, location, data, offset):
        return self.req("PATCH", self.path_of(location), data, {
            "Content-Type": "application/octet-stream",
            "Content-Range": "%d-%d" % (offset, offset + len(data) - 1)})

    def put_upload(self, location, digest, data=b""):
        return self.req("PUT", add_query(self.path_of(location), "digest=" + digest), data,
                        {"Content-Type": "application/octet-stream"})

    def put_manifest(self, repo, ref, body, media_type=OCI_MANIFEST):
        return self.req("PUT", "/v2/%s/manifests/%s" % (repo, ref), body, {"Content-Type": media_type})


class TransportError(Exception):
    pass


def add_query(path, q):
    return path + ("&" if "?" in path else "?") + q


def range_end(value):
    """The offset an upload is at, from a `Range: 0-N` header (None if absent or malformed)."""
    if not value:
        return None
    v = value.strip()
    if v.startswith("bytes="):
        v = v[6:]
    try:
        first, last = v.split("-", 1)
        return int(last) + 1
    except ValueError:
        return None


def make_manifest(config, layers, annotations=None, media_type=OCI_MANIFEST):
    """Manifest bytes for a config blob and layer blobs (bytes)."""
    m = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256(l), "size": len(l)} for l in layers],
    }
    if annotations:
        m["annotations"] = annotations
    return json.dumps(m, indent=1, sort_keys=True).encode()


def make_config(rng, tag=""):
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"n": str(rng.random()), "t": tag}},
                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def rand_bytes(rng, n):
    return rng.randbytes(n) if hasattr(rng, "randbytes") else os.urandom(n)


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def default_root(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")
